// The encodings a real value takes where it is spliced: a URL component, a JSON string, XML text, a form
// field. Echo protection uses the same functions to recognise the value coming back in those forms.

/** RFC 3986 strict percent-encoding over UTF-8: everything but A-Z a-z 0-9 - . _ ~ becomes %XX. This is
 * also exactly SigV4's URI encoding. Never throws (a lone surrogate becomes U+FFFD). */
export function percentEncode(value: string): string {
  let out = "";
  for (const byte of new TextEncoder().encode(value)) {
    const c = String.fromCharCode(byte);
    out += /[A-Za-z0-9\-._~]/.test(c) ? c : `%${byte.toString(16).toUpperCase().padStart(2, "0")}`;
  }
  return out;
}

/** Percent-decodes what decodes; a malformed escape or invalid UTF-8 leaves the text as it was. */
export function percentDecode(text: string): string {
  if (!text.includes("%")) return text;
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

/** The inside of a JSON string holding `value` (no quotes). */
export function jsonEscape(value: string): string {
  return JSON.stringify(value).slice(1, -1);
}

export function xmlEscape(value: string): string {
  return value.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** Whether `value` can sit in an HTTP header value without breaking the message framing. */
export function isHeaderSafe(value: string): boolean {
  return !/[\r\n\0]/.test(value);
}
