// The encoded forms in which a real value can come back in a response, for echo masking: what common
// APIs, serializers and templates turn a string into. Each form says whether it matches in any case
// (hex digits, %xx and &#x…; escapes, a value echoed upper-cased) and which alphabet its mask must use
// so that the masked text still decodes (a base64 decoder must not choke on the mask).
//
//   raw        the value (UTF-8), any case
//   runs       each run of at least MIN_RUN_LENGTH characters of the value that no escaping changes
//              (letters, digits, - . _ ~), any case: what survives an escaping not listed here
//   json       JSON string escapes: JSON.stringify's, with non-ASCII as \uXXXX (Python, PHP), with
//              < > & ' as \u00XX (Go), with / as \/ (PHP), and every character as \uXXXX; each of
//              those escaped once more (JSON inside a JSON string, as request echoes do)
//   percent    RFC 3986 strict, encodeURIComponent, encodeURI, Python quote() (keeps /), each also with
//              + for space; every byte as %XX; encoded twice (a URL carried in another URL's query)
//   html       & < > " ' as named, decimal or hex references (the spellings of Python, Go, PHP,
//              Java), non-ASCII as numeric references, and every character as &#N; / &#xN;
//   hex        of the UTF-8 bytes, any case
//   base64     standard and URL alphabets, at each of the 3 byte alignments a value can have inside a
//              larger blob: only the characters that depend on the value's bits alone (the stable
//              inner substring) are matched, so the bytes around it do not matter
// Forms of at most MIN_DERIVED_LENGTH characters other than the raw value are left out: a short
// encoded string would also match unrelated data (and corrupt a download).

export type MaskAlphabet = "token" | "hex" | "base64" | "base64url";

export interface EchoForm {
  text: string;
  caseless: boolean;
  alphabet: MaskAlphabet;
}

/** Encoded forms shorter than this are not matched (the raw value always is). */
export const MIN_DERIVED_LENGTH = 8;

/** Runs of the value shorter than this are not matched on their own (a passphrase's words would be). */
export const MIN_RUN_LENGTH = 16;

const utf8 = new TextEncoder();

/** Every distinct form of `value`, the raw value first. */
export function echoForms(value: string): EchoForm[] {
  const forms: EchoForm[] = [];
  const seen = new Set<string>();
  const add = (text: string, caseless: boolean, alphabet: MaskAlphabet = "token", derived = true) => {
    if (text.length === 0 || (derived && text.length < MIN_DERIVED_LENGTH)) return;
    const key = `${caseless ? "i" : "s"}${caseless ? text.toLowerCase() : text}`;
    if (seen.has(key) || (!caseless && seen.has(`i${text.toLowerCase()}`))) return;
    seen.add(key);
    forms.push({ text, caseless, alphabet });
  };
  add(value, true, "token", false);
  for (const run of value.split(/[^A-Za-z0-9._~-]+/)) if (run.length >= MIN_RUN_LENGTH) add(run, true);
  for (const text of jsonForms(value)) {
    add(text, true);
    add(JSON.stringify(text).slice(1, -1), true);
  }
  for (const text of percentForms(value)) add(text, true);
  for (const text of htmlForms(value)) add(text, true);
  const bytes = utf8.encode(value);
  add(Buffer.from(bytes).toString("hex"), true, "hex");
  for (const text of base64Inner(bytes, "base64")) add(text, false, "base64");
  for (const text of base64Inner(bytes, "base64url")) add(text, false, "base64url");
  return forms;
}

// --- JSON -------------------------------------------------------------------------------------------

const u4 = (code: number) => `\\u${code.toString(16).padStart(4, "0")}`;

function jsonVariant(value: string, opts: { ascii: boolean; html: boolean; slash: boolean }): string {
  let out = "";
  for (const ch of JSON.stringify(value).slice(1, -1)) {
    const code = ch.charCodeAt(0);
    if (opts.html && (ch === "<" || ch === ">" || ch === "&" || ch === "'")) out += u4(code);
    else if (opts.slash && ch === "/") out += "\\/";
    else if (opts.ascii && code > 0x7e) for (let i = 0; i < ch.length; i++) out += u4(ch.charCodeAt(i));
    else out += ch;
  }
  return out;
}

export function jsonForms(value: string): string[] {
  const out: string[] = [];
  for (const ascii of [false, true]) for (const html of [false, true]) for (const slash of [false, true]) out.push(jsonVariant(value, { ascii, html, slash }));
  let all = "";
  for (let i = 0; i < value.length; i++) all += u4(value.charCodeAt(i));
  out.push(all);
  return out;
}

// --- percent-encoding -------------------------------------------------------------------------------

function percentWith(value: string, keep: RegExp): string {
  let out = "";
  for (const byte of utf8.encode(value)) {
    const c = String.fromCharCode(byte);
    out += byte < 0x80 && keep.test(c) ? c : `%${byte.toString(16).toUpperCase().padStart(2, "0")}`;
  }
  return out;
}

export function percentForms(value: string): string[] {
  const variants = [
    percentWith(value, /[A-Za-z0-9\-._~]/), // RFC 3986 unreserved only
    percentWith(value, /[A-Za-z0-9\-._~/]/), // Python quote(), safe="/"
    percentWith(value, /[A-Za-z0-9\-_.!~*'()]/), // encodeURIComponent
    percentWith(value, /[A-Za-z0-9\-_.!~*'();,/?:@&=+$#]/), // encodeURI
  ];
  const out = [...variants];
  for (const v of variants) if (v.includes("%20")) out.push(v.replaceAll("%20", "+")); // form encoding
  out.push(percentWith(value, /(?!)/)); // every byte
  for (const v of variants.slice(0, 3)) out.push(v.replaceAll("%", "%25")); // a URL inside a URL's query
  return out;
}

// --- HTML character references ------------------------------------------------------------------------

const NAMED: Record<string, string> = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };

type Style = (ch: string) => string;
const dec: Style = (ch) => `&#${ch.codePointAt(0)};`;
const hex: Style = (ch) => `&#x${ch.codePointAt(0)!.toString(16)};`;
const named = (apostrophe: string, quote = "&quot;"): Style => (ch) => (ch === "'" ? apostrophe : ch === '"' ? quote : NAMED[ch]!);

function htmlVariant(value: string, specials: string, style: Style, nonAscii: Style | null): string {
  let out = "";
  for (const ch of value) {
    if (specials.includes(ch)) out += style(ch);
    else if (nonAscii && ch.codePointAt(0)! > 0x7e) out += nonAscii(ch);
    else out += ch;
  }
  return out;
}

export function htmlForms(value: string): string[] {
  const styles: Style[] = [named("&#39;"), named("&#x27;"), named("&apos;"), named("&#039;"), named("&#39;", "&#34;"), dec, hex];
  const out: string[] = [];
  for (const specials of [`&<>"'`, `&<>"`, "&<>"]) {
    for (const style of styles) for (const nonAscii of [null, dec, hex]) out.push(htmlVariant(value, specials, style, nonAscii));
  }
  let allDec = "";
  let allHex = "";
  for (const ch of value) {
    allDec += dec(ch);
    allHex += hex(ch);
  }
  out.push(allDec, allHex);
  return out;
}

// --- base64 -----------------------------------------------------------------------------------------

/**
 * For each alignment a (the value starting a bytes into a 3-byte group), the base64 characters that
 * depend on the value's bits alone: character i covers bits [6i, 6i+6) of the blob, the value covers
 * [8a, 8(a+n)), so the stable run is i from ceil(8a/6) while 6i+6 <= 8(a+n).
 */
export function base64Inner(bytes: Uint8Array, alphabet: "base64" | "base64url"): string[] {
  const out: string[] = [];
  for (let a = 0; a < 3; a++) {
    const blob = Buffer.alloc(a + bytes.length);
    blob.set(bytes, a);
    const text = blob.toString(alphabet).replace(/=+$/, "");
    const from = Math.ceil((8 * a) / 6);
    const to = Math.floor((8 * (a + bytes.length)) / 6);
    if (to > from) out.push(text.slice(from, to));
  }
  return out;
}

// --- masks ------------------------------------------------------------------------------------------

/** `text` cut to `length`, or padded with `pad`. */
export function fitTo(text: string, length: number, pad: string): string {
  return text.length >= length ? text.slice(0, length) : text + pad.repeat(length - text.length);
}

/**
 * The same-length mask for a match of a form in `alphabet`, derived from the secret's token: the token
 * itself (cut or padded with "_"), its hex, or its letters and digits (for base64).
 */
export function maskIn(alphabet: MaskAlphabet, token: string, length: number): string {
  switch (alphabet) {
    case "token":
      return fitTo(token, length, "_");
    case "hex":
      return fitTo(Buffer.from(token, "utf8").toString("hex"), length, "0");
    case "base64":
    case "base64url":
      // Letters and digits only: valid in both alphabets (a run without + / - _ is a form of both).
      return fitTo(token.replace(/[^A-Za-z0-9]/g, "0"), length, "A");
  }
}
