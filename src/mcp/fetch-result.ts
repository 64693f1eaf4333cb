// What `fetch` hands back to the agent, built from the raw upstream response: the status, an allow-list of
// response headers (never cookies or credentials), and the body — decompressed when the server compressed
// it anyway, every real value masked by blind mode's echo rewriter, cut at the size limit, as text or
// base64. The body is collected a little past the limit (the longest masked form) and masked before it is
// cut, so a value straddling the cut is still recognised and no prefix of it survives.

import { isUtf8 } from "node:buffer";
import { brotliDecompressSync, gunzipSync, inflateSync } from "node:zlib";
import type { EchoRewriter } from "../blind/rewrite/echo.ts";
import type { ResponseHead } from "../blind/types.ts";
import type { RawResponse } from "./roundtrip.ts";

/** Response headers an agent may see (lower-case). Everything else — Set-Cookie above all — is dropped. */
export const SAFE_RESPONSE_HEADERS = new Set([
  "content-type",
  "content-length",
  "content-language",
  "content-disposition",
  "content-range",
  "location",
  "etag",
  "last-modified",
  "cache-control",
  "expires",
  "age",
  "date",
  "vary",
  "allow",
  "accept-ranges",
  "retry-after",
  "link",
  "x-request-id",
  "request-id",
  "x-github-request-id",
  "ratelimit",
  "ratelimit-policy",
  "ratelimit-limit",
  "ratelimit-remaining",
  "ratelimit-reset",
  "x-ratelimit-limit",
  "x-ratelimit-remaining",
  "x-ratelimit-reset",
  "x-ratelimit-used",
]);

export interface FetchResult {
  status: number;
  headers: Record<string, string>;
  body: string;
  body_encoding: "text" | "base64";
  truncated: boolean;
  note?: string;
  [key: string]: unknown;
}

/** Safe headers, each value masked; repeated ones joined with ", ". */
export function safeHeaders(head: ResponseHead, mask: (value: string) => string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of head.headers) {
    const lower = name.toLowerCase();
    if (!SAFE_RESPONSE_HEADERS.has(lower)) continue;
    const masked = mask(value);
    out[lower] = out[lower] === undefined ? masked : `${out[lower]}, ${masked}`;
  }
  return out;
}

function headerOf(head: ResponseHead, lower: string): string | undefined {
  return head.headers.find(([name]) => name.toLowerCase() === lower)?.[1];
}

/**
 * The codings to undo, as one Content-Encoding-like value: a transfer coding other than chunked
 * (`Transfer-Encoding: gzip, chunked`, which the caller's own HTTP stack would undo) counts like a content
 * coding, so the body is decoded and masked — or omitted when there is more than one coding in all.
 */
export function codingOf(head: ResponseHead): string | undefined {
  const transfer = (headerOf(head, "transfer-encoding") ?? "")
    .split(",")
    .map((c) => c.trim().toLowerCase())
    .filter((c) => c !== "" && c !== "chunked" && c !== "identity");
  const content = headerOf(head, "content-encoding");
  if (transfer.length === 0) return content;
  const all = content && content.trim().toLowerCase() !== "identity" ? [...transfer, content.trim()] : transfer;
  return all.join(", ");
}

/** The body without its Content-Encoding, at most `limit` bytes; a reason string when it cannot be decoded. */
export function decodeContent(body: Buffer, encoding: string | undefined, limit: number): Buffer | string {
  const coding = (encoding ?? "").trim().toLowerCase();
  if (coding === "" || coding === "identity") return body;
  // finishFlush lets a body cut at the collection limit decode as far as it goes.
  const options = { maxOutputLength: limit, finishFlush: 2 /* Z_SYNC_FLUSH */ };
  try {
    if (coding === "gzip" || coding === "x-gzip") return gunzipSync(body, options);
    if (coding === "deflate") return inflateSync(body, options);
    if (coding === "br") return brotliDecompressSync(body, { maxOutputLength: limit });
  } catch (error) {
    if (error instanceof RangeError) return `it decompresses to more than ${limit} bytes`;
    return `its ${coding} encoding is corrupt`;
  }
  return `it is compressed with ${coding}, which kz does not decode`;
}

const TEXT_TYPES = /^(text\/|application\/([\w.+-]*\+)?(json|xml|javascript|x-www-form-urlencoded|graphql|yaml|x-ndjson)\b)/i;

/** Builds the tool's result. `margin` is how far past `limit` the raw body was collected (see header). */
export function buildFetchResult(raw: Pick<RawResponse, "head" | "body" | "cut">, echo: EchoRewriter, limit: number, margin: number): FetchResult {
  const headers = safeHeaders(raw.head, echo.header);
  const base = { status: raw.head.status, headers };
  const decoded = decodeContent(raw.body, codingOf(raw.head), limit + margin);
  if (typeof decoded === "string") {
    return { ...base, body: "", body_encoding: "text", truncated: false, note: `body omitted: ${decoded}` };
  }
  const pushed = echo.body.push(decoded);
  const tail = echo.body.end();
  const masked = tail.length > 0 ? Buffer.concat([pushed, tail]) : Buffer.from(pushed);
  const truncated = raw.cut || masked.length > limit;
  const kept = masked.length > limit ? masked.subarray(0, limit) : masked;
  const type = headerOf(raw.head, "content-type") ?? "";
  const textual = TEXT_TYPES.test(type.trim()) || isUtf8(kept) || (truncated && isUtf8(trimPartialUtf8(kept)));
  const result: FetchResult = {
    ...base,
    body: textual ? kept.toString("utf8") : kept.toString("base64"),
    body_encoding: textual ? "text" : "base64",
    truncated,
  };
  const notes: string[] = [];
  if (truncated) notes.push(`body truncated to the first ${limit} bytes`);
  const masks = echo.masked();
  if (masks.length > 0) notes.push(`the response contained the value of ${masks.join(", ")}; it was replaced by the token`);
  if (raw.head.status >= 300 && raw.head.status < 400 && headers.location) notes.push("redirect not followed: see headers.location");
  if (notes.length > 0) result.note = notes.join("; ");
  return result;
}

/** `bytes` without an incomplete UTF-8 sequence at its very end (a cut can split a character). */
function trimPartialUtf8(bytes: Buffer): Buffer {
  for (let back = 1; back <= 3 && back <= bytes.length; back++) {
    const b = bytes[bytes.length - back]!;
    if ((b & 0xc0) !== 0x80) return (b & 0x80) === 0 ? bytes : bytes.subarray(0, bytes.length - back);
  }
  return bytes;
}
