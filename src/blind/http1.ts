// HTTP/1.1 wire format for the blind proxy: finding and parsing message heads (located with indexOf on
// bytes; only the head is ever decoded to a string), serializing them back, deciding how a body is
// framed (RFC 9112 §6), and incremental body decoders — Content-Length, chunked, until-close — that
// consume bytes as they arrive and never turn a body into a string.
//
// Head text encoding: a head is decoded as UTF-8 when its bytes are valid UTF-8 (always, for ASCII
// heads) and as latin1 otherwise, and written back the same way. So a rewriter may put any JS string in
// a header value of an ordinary head and it goes out as UTF-8; only a head that arrived with invalid
// UTF-8 bytes round-trips byte-for-byte through latin1.

import { isIPv6 } from "node:net";
import type { RequestHead, ResponseHead } from "./types.ts";

export type Headers = [name: string, value: string][];
export type HeadEncoding = "utf8" | "latin1";

/** The most bytes a request or response head may take. */
export const MAX_HEAD_BYTES = 64 * 1024;

/** A malformed message: the proxy answers `status` (400 to a client, 502 for an upstream) and closes. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = "HttpError";
  }
}

// ---------------------------------------------------------------------------------------------------
// Finding a head in a byte stream

const HEAD_END = Buffer.from("\r\n\r\n");
const NOTHING = Buffer.alloc(0);

/**
 * Accumulates bytes until a complete head ("…\r\n\r\n") is present. The common case — a head that
 * arrives within one chunk — costs one indexOf and no copy (and no new view when nothing follows it).
 */
export class HeadReader {
  #parts: Buffer[] = [];
  #length = 0;
  /** The last (up to) 3 bytes held: a head end may straddle them and the next chunk. */
  #tail: Buffer = NOTHING;

  /** Adds `chunk`; returns the head's bytes and whatever followed them, or null if incomplete. */
  push(chunk: Buffer): { head: Buffer; rest: Buffer } | null {
    if (this.#parts.length === 0) {
      const end = chunk.indexOf(HEAD_END);
      if (end !== -1) return this.#split(chunk, end);
      this.#keep(chunk);
      return null;
    }
    // Search only the new bytes (and the 3 before them), so a head arriving in many small pieces
    // costs linear time, not quadratic.
    const window = Buffer.concat([this.#tail, chunk]);
    const found = window.indexOf(HEAD_END);
    const windowStart = this.#length - this.#tail.length;
    this.#keep(chunk);
    if (found === -1) return null;
    const all = Buffer.concat(this.#parts, this.#length);
    this.#parts = [];
    this.#length = 0;
    this.#tail = NOTHING;
    return this.#split(all, windowStart + found);
  }

  /** True when bytes of an unfinished head are held (EOF now means a truncated head). */
  get pending(): boolean {
    return this.#length > 0;
  }

  #split(buf: Buffer, end: number): { head: Buffer; rest: Buffer } {
    const headEnd = end + 4;
    if (headEnd > MAX_HEAD_BYTES) throw new HttpError(431, "message head too large");
    if (headEnd === buf.length) return { head: buf, rest: NOTHING };
    return { head: buf.subarray(0, headEnd), rest: buf.subarray(headEnd) };
  }

  #keep(chunk: Buffer): void {
    this.#parts.push(chunk);
    this.#length += chunk.length;
    if (this.#length > MAX_HEAD_BYTES) throw new HttpError(431, "message head too large");
    const joined = Buffer.concat([this.#tail, chunk]);
    this.#tail = joined.subarray(Math.max(0, joined.length - 3));
  }
}

// ---------------------------------------------------------------------------------------------------
// Parsing and serializing heads

const utf8Strict = new TextDecoder("utf-8", { fatal: true });
const NON_ASCII = /[\x80-\xff]/;
/**
 * A control character other than HTAB, or a CR or LF that is not part of a CRLF line end: allowed
 * nowhere in a head (RFC 9110 §5.5; a bare CR or LF is where parsers disagree, and smuggling begins).
 */
const STRAY_CONTROL = /[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]|\r(?!\n)|(?<!\r)\n/;
const HTTP_VERSION = /^HTTP\/1\.[01]$/;

/** RFC 9110 tchar, as a lookup table. */
const TOKEN_CHAR = new Uint8Array(128);
for (const c of "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz") TOKEN_CHAR[c.charCodeAt(0)] = 1;

export function isToken(text: string): boolean {
  return text.length > 0 && isTokenRange(text, 0, text.length);
}

/** Is text[from, to) made of tchars only? */
function isTokenRange(text: string, from: number, to: number): boolean {
  for (let i = from; i < to; i++) {
    const c = text.charCodeAt(i);
    if (c > 127 || TOKEN_CHAR[c] === 0) return false;
  }
  return true;
}

const isOws = (c: number) => c === 0x20 || c === 0x09;

function decodeHead(bytes: Buffer): { text: string; encoding: HeadEncoding } {
  const latin1 = bytes.toString("latin1");
  if (!NON_ASCII.test(latin1)) return { text: latin1, encoding: "utf8" };
  try {
    return { text: utf8Strict.decode(bytes), encoding: "utf8" };
  } catch {
    return { text: latin1, encoding: "latin1" };
  }
}

/**
 * Splits a decoded head (ending in CRLF CRLF) into its start line and header fields, walking the text
 * once with indexOf (no intermediate array of lines). Obs-fold continuation lines, whitespace before
 * the colon, empty names and stray control characters are all refused.
 */
function splitHead(text: string, status: number): { startLine: string; headers: Headers } {
  const end = text.length - 4; // where the blank line starts
  if (end < 0 || !text.endsWith("\r\n\r\n")) throw new HttpError(status, "malformed message head");
  const startEnd = text.indexOf("\r\n");
  const stray = STRAY_CONTROL.exec(text);
  if (stray) throw new HttpError(status, stray.index < startEnd ? "malformed start line" : "malformed header line");
  const headers: Headers = [];
  for (let pos = startEnd + 2; pos < end; ) {
    const lineEnd = text.indexOf("\r\n", pos);
    const colon = text.indexOf(":", pos);
    if (colon <= pos || colon > lineEnd) throw new HttpError(status, "malformed header line");
    if (!isTokenRange(text, pos, colon)) throw new HttpError(status, "malformed header name");
    // The value without its surrounding optional whitespace (SP / HTAB), cut out in one slice.
    let from = colon + 1;
    let to = lineEnd;
    while (from < to && isOws(text.charCodeAt(from))) from++;
    while (to > from && isOws(text.charCodeAt(to - 1))) to--;
    headers.push([text.slice(pos, colon), text.slice(from, to)]);
    pos = lineEnd + 2;
  }
  return { startLine: text.slice(0, startEnd), headers };
}

export function parseRequestHead(bytes: Buffer): { head: RequestHead; encoding: HeadEncoding } {
  const { text, encoding } = decodeHead(bytes);
  const { startLine, headers } = splitHead(text, 400);
  const parts = startLine.split(" ");
  if (parts.length !== 3) throw new HttpError(400, "malformed request line");
  const [method, target, version] = parts as [string, string, string];
  if (!isToken(method)) throw new HttpError(400, "malformed request method");
  if (target.length === 0 || /[\s\x00-\x1f\x7f]/.test(target)) throw new HttpError(400, "malformed request target");
  if (!HTTP_VERSION.test(version)) throw new HttpError(505, `unsupported protocol version ${JSON.stringify(version.slice(0, 16))}`);
  return { head: { method, target, version, headers }, encoding };
}

export function parseResponseHead(bytes: Buffer): { head: ResponseHead; encoding: HeadEncoding } {
  const { text, encoding } = decodeHead(bytes);
  const { startLine, headers } = splitHead(text, 502);
  const firstSpace = startLine.indexOf(" ");
  const version = startLine.slice(0, firstSpace);
  const statusText = startLine.slice(firstSpace + 1, firstSpace + 4);
  const reason = startLine.slice(firstSpace + 5);
  if (firstSpace === -1 || !HTTP_VERSION.test(version) || !/^[1-9]\d\d$/.test(statusText)) {
    throw new HttpError(502, "malformed upstream status line");
  }
  if (startLine.length > firstSpace + 4 && startLine[firstSpace + 4] !== " ") throw new HttpError(502, "malformed upstream status line");
  return { head: { version, status: Number(statusText), reason, headers }, encoding };
}

function headerBlock(headers: Headers): string {
  let text = "";
  for (const [name, value] of headers) text += `${name}: ${value}\r\n`;
  return text + "\r\n";
}

const utf8 = new TextEncoder();
const encode = (text: string, encoding: HeadEncoding): Uint8Array =>
  encoding === "utf8" ? utf8.encode(text) : Buffer.from(text, "latin1");

export function serializeRequestHead(head: RequestHead, encoding: HeadEncoding = "utf8"): Uint8Array {
  return encode(`${head.method} ${head.target} ${head.version}\r\n${headerBlock(head.headers)}`, encoding);
}

export function serializeResponseHead(head: ResponseHead, encoding: HeadEncoding = "utf8"): Uint8Array {
  return encode(`${head.version} ${head.status} ${head.reason}\r\n${headerBlock(head.headers)}`, encoding);
}

// ---------------------------------------------------------------------------------------------------
// Header fields (names compared case-insensitively without allocating; lists never mutated in place)

/** Is `name` the field name `lower` (given in lower case), in any case? */
export function isHeaderName(name: string, lower: string): boolean {
  if (name.length !== lower.length) return false;
  for (let i = 0; i < name.length; i++) {
    let c = name.charCodeAt(i);
    if (c >= 65 && c <= 90) c += 32;
    if (c !== lower.charCodeAt(i)) return false;
  }
  return true;
}

export function headerValue(headers: Headers, lowerName: string): string | undefined {
  for (const [name, value] of headers) if (isHeaderName(name, lowerName)) return value;
  return undefined;
}

/** A copy of `headers` without the fields named in `lowerNames`. */
export function withoutHeaders(headers: Headers, lowerNames: readonly string[]): Headers {
  return headers.filter(([name]) => !lowerNames.some((lower) => isHeaderName(name, lower)));
}

/** What the proxy needs to know about a head's fields, gathered in one pass over them. */
export interface HeadFacts {
  /** Content-Length values, comma lists split. */
  contentLength: readonly string[];
  /** Transfer-Encoding codings, lower-cased, in order. */
  transferCodings: readonly string[];
  /** Connection options, lower-cased. */
  connection: readonly string[];
  /** Host field values (a request must have exactly one). */
  hosts: readonly string[];
  expectContinue: boolean;
  /** Proxy-Authorization or Proxy-Connection is present (never forwarded). */
  proxyFields: boolean;
}

/** Shared by every HeadFacts list that stays empty (most do): never written to. */
const NO_ITEMS: string[] = Object.freeze([]) as unknown as string[];

/** `into` plus the items of the comma-separated `value` (a new array the first time one is added). */
function pushList(into: readonly string[], value: string, lowerCase: boolean): readonly string[] {
  let list = into as string[];
  for (const part of value.split(",")) {
    const item = part.trim();
    if (!item) continue;
    if (list === NO_ITEMS) list = [];
    list.push(lowerCase ? item.toLowerCase() : item);
  }
  return list;
}

export function scanHeaders(headers: Headers): HeadFacts {
  const facts: HeadFacts = {
    contentLength: NO_ITEMS,
    transferCodings: NO_ITEMS,
    connection: NO_ITEMS,
    hosts: NO_ITEMS,
    expectContinue: false,
    proxyFields: false,
  };
  for (const [name, value] of headers) {
    switch (name.length) {
      case 4:
        if (isHeaderName(name, "host")) facts.hosts = facts.hosts === NO_ITEMS ? [value] : [...facts.hosts, value];
        break;
      case 6:
        if (isHeaderName(name, "expect") && value.toLowerCase() === "100-continue") facts.expectContinue = true;
        break;
      case 10:
        if (isHeaderName(name, "connection")) facts.connection = pushList(facts.connection, value, true);
        break;
      case 14:
        if (isHeaderName(name, "content-length")) facts.contentLength = pushList(facts.contentLength, value, false);
        break;
      case 16:
        if (isHeaderName(name, "proxy-connection")) facts.proxyFields = true;
        break;
      case 17:
        if (isHeaderName(name, "transfer-encoding")) facts.transferCodings = pushList(facts.transferCodings, value, true);
        break;
      case 19:
        if (isHeaderName(name, "proxy-authorization")) facts.proxyFields = true;
        break;
    }
  }
  return facts;
}

/** Whether the connection stays open after this message (RFC 9112 §9.3). */
export function keepsAlive(version: string, facts: HeadFacts): boolean {
  if (facts.connection.includes("close")) return false;
  return version === "HTTP/1.1" || facts.connection.includes("keep-alive");
}

// ---------------------------------------------------------------------------------------------------
// Body framing (RFC 9112 §6.3)

export type BodyFraming =
  | { kind: "none" }
  | { kind: "length"; length: number }
  | { kind: "chunked" }
  | { kind: "until-close" };

const NO_BODY: BodyFraming = { kind: "none" };
const CHUNKED: BodyFraming = { kind: "chunked" };
const UNTIL_CLOSE: BodyFraming = { kind: "until-close" };

function contentLength(values: readonly string[], status: number): number | undefined {
  if (values.length === 0) return undefined;
  const first = values[0]!;
  if (!/^\d{1,15}$/.test(first) || values.some((v) => v !== first)) throw new HttpError(status, "invalid Content-Length");
  return Number(first);
}

export function requestFraming(facts: HeadFacts): BodyFraming {
  const codings = facts.transferCodings;
  if (codings.length > 0) {
    // Both framings at once is the classic request-smuggling shape; refuse rather than pick one.
    if (facts.contentLength.length > 0) throw new HttpError(400, "both Transfer-Encoding and Content-Length");
    if (codings[codings.length - 1] !== "chunked" || codings.indexOf("chunked") !== codings.length - 1) {
      throw new HttpError(400, "unsupported Transfer-Encoding");
    }
    return CHUNKED;
  }
  const length = contentLength(facts.contentLength, 400);
  return length ? { kind: "length", length } : NO_BODY;
}

export function responseFraming(facts: HeadFacts, status: number, requestMethod: string): BodyFraming {
  if (requestMethod === "HEAD" || status < 200 || status === 204 || status === 304) return NO_BODY;
  const codings = facts.transferCodings;
  if (codings.length > 0) return codings[codings.length - 1] === "chunked" ? CHUNKED : UNTIL_CLOSE;
  const length = contentLength(facts.contentLength, 502);
  if (length === undefined) return UNTIL_CLOSE;
  return length ? { kind: "length", length } : NO_BODY;
}

// ---------------------------------------------------------------------------------------------------
// Incremental body decoders

export interface BodyDecoder {
  /**
   * Consumes bytes of the body from `chunk`, handing each piece of payload to `onPayload` (subarrays of
   * `chunk`, no copies). Returns how many bytes belonged to this body; fewer than chunk.length only once
   * the body is complete (the rest is the next message).
   */
  feed(chunk: Buffer, onPayload: (payload: Buffer) => void): number;
  /** The body is complete. */
  readonly done: boolean;
  /** The peer closed the connection: true if that completes the body (until-close framing). */
  endOfInput(): boolean;
}

class EmptyBody implements BodyDecoder {
  readonly done = true;
  feed(): number {
    return 0;
  }
  endOfInput(): boolean {
    return true;
  }
}

const EMPTY_BODY = new EmptyBody();

class LengthBody implements BodyDecoder {
  #remaining: number;
  constructor(length: number) {
    this.#remaining = length;
  }
  get done(): boolean {
    return this.#remaining === 0;
  }
  feed(chunk: Buffer, onPayload: (payload: Buffer) => void): number {
    const take = Math.min(this.#remaining, chunk.length);
    if (take > 0) onPayload(take === chunk.length ? chunk : chunk.subarray(0, take));
    this.#remaining -= take;
    return take;
  }
  endOfInput(): boolean {
    return this.#remaining === 0;
  }
}

class UntilCloseBody implements BodyDecoder {
  #done = false;
  get done(): boolean {
    return this.#done;
  }
  feed(chunk: Buffer, onPayload: (payload: Buffer) => void): number {
    if (chunk.length > 0) onPayload(chunk);
    return chunk.length;
  }
  endOfInput(): boolean {
    this.#done = true;
    return true;
  }
}

const CR = 13;
const LF = 10;
const MAX_CHUNK_SIZE_DIGITS = 13; // 2^52: far beyond any real chunk, still an exact JS number
const MAX_CHUNK_LINE_EXTRA = 4096; // chunk extensions
const MAX_TRAILER_BYTES = 64 * 1024;

const HEX_VALUE = new Int8Array(256).fill(-1);
for (let i = 0; i < 10; i++) HEX_VALUE[48 + i] = i;
for (let i = 0; i < 6; i++) {
  HEX_VALUE[65 + i] = 10 + i;
  HEX_VALUE[97 + i] = 10 + i;
}

const enum Chunked {
  Size,
  Extension,
  SizeLf,
  Data,
  DataCr,
  DataLf,
  TrailerStart,
  TrailerLine,
  TrailerLf,
  FinalLf,
  Done,
}

/**
 * Chunked transfer coding decoder (RFC 9112 §7.1). Strict: CRLF line ends only, hex sizes only,
 * bounded extensions and trailers — a proxy that parses more loosely than the server behind it is how
 * request smuggling happens. Trailers are consumed and not reported.
 */
class ChunkedBody implements BodyDecoder {
  #state = Chunked.Size;
  #size = 0;
  #digits = 0;
  #remaining = 0;
  #lineBytes = 0;
  #trailerBytes = 0;
  readonly #errorStatus: number;

  constructor(errorStatus: number) {
    this.#errorStatus = errorStatus;
  }

  get done(): boolean {
    return this.#state === Chunked.Done;
  }

  endOfInput(): boolean {
    return this.done;
  }

  #fail(what: string): never {
    throw new HttpError(this.#errorStatus, `malformed chunked body: ${what}`);
  }

  feed(chunk: Buffer, onPayload: (payload: Buffer) => void): number {
    let i = 0;
    const n = chunk.length;
    while (i < n) {
      switch (this.#state) {
        case Chunked.Size: {
          const c = chunk[i]!;
          const hex = HEX_VALUE[c]!;
          if (hex >= 0) {
            if (++this.#digits > MAX_CHUNK_SIZE_DIGITS) this.#fail("chunk size too large");
            this.#size = this.#size * 16 + hex;
          } else if (this.#digits === 0) {
            this.#fail("missing chunk size");
          } else if (c === CR) {
            this.#state = Chunked.SizeLf;
          } else if (c === 0x3b /* ; */ || c === 0x20 || c === 0x09) {
            this.#state = Chunked.Extension;
            this.#lineBytes = 0;
          } else {
            this.#fail("invalid chunk size");
          }
          i++;
          break;
        }
        case Chunked.Extension: {
          const c = chunk[i]!;
          if (c === CR) this.#state = Chunked.SizeLf;
          else if (c === LF || ++this.#lineBytes > MAX_CHUNK_LINE_EXTRA) this.#fail("invalid chunk extension");
          i++;
          break;
        }
        case Chunked.SizeLf: {
          if (chunk[i] !== LF) this.#fail("expected LF after chunk size");
          i++;
          this.#remaining = this.#size;
          this.#state = this.#size === 0 ? Chunked.TrailerStart : Chunked.Data;
          this.#size = 0;
          this.#digits = 0;
          break;
        }
        case Chunked.Data: {
          const take = Math.min(this.#remaining, n - i);
          onPayload(i === 0 && take === n ? chunk : chunk.subarray(i, i + take));
          i += take;
          this.#remaining -= take;
          if (this.#remaining === 0) this.#state = Chunked.DataCr;
          break;
        }
        case Chunked.DataCr:
          if (chunk[i] !== CR) this.#fail("expected CRLF after chunk data");
          this.#state = Chunked.DataLf;
          i++;
          break;
        case Chunked.DataLf:
          if (chunk[i] !== LF) this.#fail("expected CRLF after chunk data");
          this.#state = Chunked.Size;
          i++;
          break;
        case Chunked.TrailerStart:
          this.#state = chunk[i] === CR ? Chunked.FinalLf : Chunked.TrailerLine;
          if (this.#state === Chunked.TrailerLine) continue; // re-read this byte as part of the line
          i++;
          break;
        case Chunked.TrailerLine: {
          const c = chunk[i]!;
          if (c === CR) this.#state = Chunked.TrailerLf;
          else if (c === LF || ++this.#trailerBytes > MAX_TRAILER_BYTES) this.#fail("invalid trailer");
          i++;
          break;
        }
        case Chunked.TrailerLf:
          if (chunk[i] !== LF) this.#fail("invalid trailer");
          this.#state = Chunked.TrailerStart;
          i++;
          break;
        case Chunked.FinalLf:
          if (chunk[i] !== LF) this.#fail("expected CRLF after last chunk");
          this.#state = Chunked.Done;
          return i + 1;
        case Chunked.Done:
          return i;
      }
    }
    return i;
  }
}

/** A decoder for a body framed as `framing`; `errorStatus` is what a malformed body maps to. */
export function bodyDecoder(framing: BodyFraming, errorStatus: number): BodyDecoder {
  switch (framing.kind) {
    case "none":
      return EMPTY_BODY; // stateless: one for all
    case "length":
      return new LengthBody(framing.length);
    case "chunked":
      return new ChunkedBody(errorStatus);
    case "until-close":
      return new UntilCloseBody();
  }
}

// ---------------------------------------------------------------------------------------------------
// Chunked encoding

export const LAST_CHUNK = Buffer.from("0\r\n\r\n");

/** One chunk — size line, payload, CRLF — in a single buffer (one socket write). */
export function encodeChunk(payload: Uint8Array): Buffer {
  const size = payload.length.toString(16);
  const out = Buffer.allocUnsafe(size.length + 2 + payload.length + 2);
  out.write(size, 0, "latin1");
  out[size.length] = CR;
  out[size.length + 1] = LF;
  out.set(payload, size.length + 2);
  out[out.length - 2] = CR;
  out[out.length - 1] = LF;
  return out;
}

// ---------------------------------------------------------------------------------------------------
// Authorities ("host:port" in CONNECT targets, absolute-form URLs and Host headers)

const HOSTNAME = /^[a-z0-9_-]+(\.[a-z0-9_-]+)*$/;

/**
 * Parses "host", "host:port", "[v6]" or "[v6]:port". Host names are lower-cased and lose a trailing dot;
 * IPv6 addresses lose their brackets. A missing port takes `defaultPort` (null: the port is required).
 * Anything else — user info, zone ids, non-ASCII names, stray characters — is null.
 */
export function parseAuthority(text: string, defaultPort: number | null): { host: string; port: number } | null {
  let host: string;
  let portText: string | undefined;
  if (text.startsWith("[")) {
    const close = text.indexOf("]");
    if (close === -1) return null;
    host = text.slice(1, close).toLowerCase();
    const rest = text.slice(close + 1);
    if (rest !== "" && !rest.startsWith(":")) return null;
    portText = rest === "" ? undefined : rest.slice(1);
    if (host.includes("%") || !isIPv6(host)) return null; // no zone ids: they name a local interface
  } else {
    const colon = text.indexOf(":");
    if (colon !== -1 && text.indexOf(":", colon + 1) !== -1) return null;
    host = (colon === -1 ? text : text.slice(0, colon)).toLowerCase();
    portText = colon === -1 ? undefined : text.slice(colon + 1);
    if (host.endsWith(".")) host = host.slice(0, -1);
    if (host.length === 0 || host.length > 253 || !HOSTNAME.test(host)) return null;
  }
  if (portText === undefined) return defaultPort === null ? null : { host, port: defaultPort };
  if (!/^\d{1,5}$/.test(portText)) return null;
  const port = Number(portText);
  return port >= 1 && port <= 65535 ? { host, port } : null;
}
