// What keeps responses from intercepted hosts maskable. Echo masking rewrites bytes at equal length, which
// works on the bytes as sent — not inside a gzip stream or a permessage-deflate WebSocket frame. So:
//   - requests go upstream with `Accept-Encoding: identity` (the client's list replaced), without
//     `Sec-WebSocket-Extensions` (no compressed frames), without a `TE` asking for compressed
//     transfer codings, and without an `Upgrade` to anything but WebSocket (h2c's HPACK would hide
//     values in Huffman-coded headers). Measured choice: asking for identity costs
//     nothing on the proxy's CPU, keeps the unbuffered byte-level streaming path, and most servers honour
//     it; decompressing everything would add zlib to every response. A head that a SigV4 signature
//     covers Accept-Encoding in is left alone (changing it would break the signature);
//   - a response compressed anyway (a server that ignores Accept-Encoding, a stored .gz object) is
//     decompressed by the proxy and passed on decoded (Content-Encoding and Content-Length removed,
//     re-framed as chunked) — gzip, x-gzip, deflate (zlib or raw) and br; any other coding, and any
//     transfer coding but chunked, is refused with a 502, never passed through unmasked.

import { type Transform } from "node:stream";
import { createBrotliDecompress, createInflateRaw, createUnzip } from "node:zlib";
import { isHeaderName } from "./http1.ts";
import type { RequestHead, ResponseHead } from "./types.ts";

type Headers = [name: string, value: string][];

/** Does a SigV4 signature on this request cover Accept-Encoding? (then the header must stay as sent) */
function signsAcceptEncoding(head: RequestHead): boolean {
  const auth = head.headers.find(([name]) => isHeaderName(name, "authorization"))?.[1] ?? "";
  const signed = /^AWS4-HMAC-SHA256\b.*SignedHeaders=([^,\s]*)/i.exec(auth)?.[1] ?? "";
  const query = /[?&]X-Amz-SignedHeaders=([^&]*)/i.exec(head.target)?.[1] ?? "";
  return /(^|;|%3B)accept-encoding($|;|%3B)/i.test(signed) || /(^|;|%3B)accept-encoding($|;|%3B|&)/i.test(query);
}

/**
 * `head` as it should go to an intercepted host: asking for an uncompressed response and no WebSocket
 * extensions. The same object when nothing needs changing (so an unchanged head is forwarded as received).
 */
export function echoSafeRequestHead(head: RequestHead): RequestHead {
  let changed = false;
  const keepEncoding = signsAcceptEncoding(head);
  const headers: Headers = [];
  for (const field of head.headers) {
    const [name, value] = field;
    if (name.length === 15 && !keepEncoding && isHeaderName(name, "accept-encoding")) {
      if (value.trim().toLowerCase() !== "identity") {
        headers.push([name, "identity"]);
        changed = true;
        continue;
      }
    } else if (name.length === 24 && isHeaderName(name, "sec-websocket-extensions")) {
      changed = true;
      continue;
    } else if (name.length === 2 && isHeaderName(name, "te") && value.trim().toLowerCase() !== "trailers") {
      changed = true; // a request for compressed transfer codings
      continue;
    } else if (name.length === 7 && isHeaderName(name, "upgrade") && !/^\s*websocket\s*$/i.test(value)) {
      changed = true; // h2c and the like: HPACK's Huffman coding would hide a value from masking
      continue;
    }
    headers.push(field);
  }
  return changed ? { ...head, headers } : head;
}

export type Coding = { kind: "identity" } | { kind: "decode"; coding: string } | { kind: "unsupported"; coding: string };

const DECODABLE = new Set(["gzip", "x-gzip", "deflate", "br"]);

/**
 * The response's content coding, as far as masking is concerned. A transfer coding other than chunked
 * (`Transfer-Encoding: gzip, chunked`) is a compression the client undoes itself: unsupported.
 */
export function responseCoding(head: ResponseHead): Coding {
  const codings: string[] = [];
  for (const [name, value] of head.headers) {
    const transfer = isHeaderName(name, "transfer-encoding");
    if (!transfer && !isHeaderName(name, "content-encoding")) continue;
    for (const part of value.split(",")) {
      const coding = part.trim().toLowerCase();
      if (!coding || coding === "identity" || (transfer && coding === "chunked")) continue;
      if (transfer) return { kind: "unsupported", coding: `transfer coding ${coding}` };
      codings.push(coding);
    }
  }
  if (codings.length === 0) return { kind: "identity" };
  if (codings.length === 1 && DECODABLE.has(codings[0]!)) return { kind: "decode", coding: codings[0]! };
  return { kind: "unsupported", coding: codings.join(", ") };
}

/**
 * A streaming decoder for `coding`. For "deflate" the first byte says which of the two forms servers
 * send: a zlib stream (RFC 9110's meaning) or raw deflate (what some servers send instead).
 */
export function decompressor(coding: string, firstByte: number): Transform {
  if (coding === "br") return createBrotliDecompress();
  if (coding === "deflate" && (firstByte & 0x0f) !== 8) return createInflateRaw();
  return createUnzip(); // gzip or zlib, told apart by their headers
}

/** The head of a response passed on decoded: no Content-Encoding or length; chunked when `chunked`. */
export function decodedResponseHead(head: ResponseHead, chunked: boolean): ResponseHead {
  const dropped = ["content-encoding", "content-length", "transfer-encoding"];
  const headers: Headers = head.headers.filter(([name]) => !dropped.some((lower) => isHeaderName(name, lower)));
  if (chunked) headers.push(["Transfer-Encoding", "chunked"]);
  else headers.push(["Connection", "close"]);
  return { ...head, headers };
}
