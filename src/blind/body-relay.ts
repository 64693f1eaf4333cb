// Moving one HTTP/1.1 message body between the blind proxy's two connections as it arrives: copied as
// framed, or decoded and passed through a rewriter (a swap on the way up, echo masking on the way down)
// and re-chunked; or, for a body that must be rewritten whole, read into memory up to a limit.

import type { Conn } from "./conn.ts";
import { type BodyDecoder, HttpError, LAST_CHUNK, encodeChunk } from "./http1.ts";
import type { StreamRewriter } from "./types.ts";

const EMPTY = new Uint8Array(0);
/** Output held back while more input is already waiting is flushed once it reaches this size. */
const FLUSH_AT = 64 * 1024;

/**
 * Joins byte views into one for a single write. Views that lie next to each other in the same buffer
 * (a head and the body bytes that followed it in one read) are joined without copying.
 */
export function joinViews(parts: Uint8Array[]): Uint8Array {
  if (parts.length === 1) return parts[0]!;
  const first = parts[0]!;
  let end = first.byteOffset + first.length;
  let adjacent = true;
  for (let i = 1; i < parts.length && adjacent; i++) {
    const part = parts[i]!;
    adjacent = part.buffer === first.buffer && part.byteOffset === end;
    end += part.length;
  }
  return adjacent ? new Uint8Array(first.buffer, first.byteOffset, end - first.byteOffset) : Buffer.concat(parts);
}

/** Turns decoded payload into the bytes to send: a rewriter, and re-chunking where the framing is chunked. */
export interface PayloadEncoder {
  piece(payload: Buffer): Uint8Array;
  finish(): Uint8Array;
}

export function rewritingEncoder(rewriter: StreamRewriter, chunked: boolean): PayloadEncoder {
  if (!chunked) return { piece: (payload) => rewriter.push(payload), finish: () => rewriter.end() };
  return {
    piece(payload) {
      const out = rewriter.push(payload);
      return out.length > 0 ? encodeChunk(out) : EMPTY;
    },
    finish() {
      const tail = rewriter.end();
      return tail.length > 0 ? Buffer.concat([encodeChunk(tail), LAST_CHUNK]) : LAST_CHUNK;
    },
  };
}

export type RelayEnd = "done" | "truncated" | "closed";

/**
 * Streams one message body from `src` to `dst` as it arrives, `prefix` (the head) going out with the
 * first bytes. Without an encoder the framed bytes are copied as they are (chunk sizes and trailers
 * included); with one, the decoded payload goes through it. Output is written whenever no more input is
 * already waiting, so nothing sits in the proxy while the sender pauses (SSE), and backpressure from
 * `dst` stops reading from `src`.
 */
export async function relayBody(
  src: Conn,
  dst: Conn,
  decoder: BodyDecoder,
  prefix: Uint8Array | null,
  encoder: PayloadEncoder | null,
): Promise<RelayEnd> {
  let pending: Uint8Array[] = prefix ? [prefix] : [];
  let pendingBytes = 0;
  const hold = (bytes: Uint8Array) => {
    if (bytes.length === 0) return;
    pending.push(bytes);
    pendingBytes += bytes.length;
  };
  /** Writes what is held, as one write; false once `dst` can take nothing more. */
  const flush = (): boolean => {
    if (pending.length === 0) return !dst.closed;
    const ok = dst.write(joinViews(pending));
    pending = [];
    pendingBytes = 0;
    return ok;
  };
  const onPayload = encoder ? (payload: Buffer) => hold(encoder.piece(payload)) : () => {};

  while (!decoder.done) {
    let chunk = src.take();
    if (!chunk) {
      if (!flush()) return "closed";
      if (dst.backpressured) await dst.drained();
      chunk = await src.read();
      if (!chunk) {
        if (decoder.endOfInput()) break;
        flush();
        return "truncated";
      }
    }
    const used = decoder.feed(chunk, onPayload);
    if (!encoder && used > 0) hold(used === chunk.length ? chunk : chunk.subarray(0, used));
    if (used < chunk.length) src.unread(chunk.subarray(used));
    if (pendingBytes >= FLUSH_AT) {
      if (!flush()) return "closed";
      if (dst.backpressured) await dst.drained();
    }
  }
  if (encoder) hold(encoder.finish());
  if (!flush()) return "closed";
  if (dst.backpressured) await dst.drained();
  return dst.closed ? "closed" : "done";
}

/** Reads a whole body into memory (a "buffer" plan), refusing more than `limit` bytes. */
export async function readWholeBody(src: Conn, decoder: BodyDecoder, limit: number): Promise<Buffer> {
  const parts: Buffer[] = [];
  let total = 0;
  const onPayload = (payload: Buffer) => {
    total += payload.length;
    if (total > limit) throw new HttpError(413, `request body larger than the ${limit}-byte rewrite limit`);
    parts.push(payload);
  };
  while (!decoder.done) {
    const chunk = await src.read();
    if (!chunk) {
      if (decoder.endOfInput()) break;
      throw new HttpError(400, "request body ended early");
    }
    const used = decoder.feed(chunk, onPayload);
    if (used < chunk.length) src.unread(chunk.subarray(used));
  }
  return Buffer.concat(parts, total);
}
