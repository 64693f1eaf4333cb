// The two response paths of an intercepted connection that are not a plain HTTP body (exchange.ts has
// that one): a body the server compressed although asked not to, decoded and masked as it streams; and
// the bytes after a 101, masked on their way to the client — WebSocket frames frame by frame
// (ws-mask.ts), any other upgraded protocol as a plain byte stream. The client-to-server direction of
// an upgrade is copied as is (tokens in it stay inert: nothing is swapped after the 101).

import { once } from "node:events";
import type { Transform } from "node:stream";
import type { Conn } from "./conn.ts";
import { type BodyDecoder, LAST_CHUNK, encodeChunk } from "./http1.ts";
import type { StreamRewriter } from "./types.ts";
import { WsServerMasker } from "./ws-mask.ts";
import type { RelayEnd } from "./body-relay.ts";


/**
 * Streams a compressed body from `src` through `makeDecoder` (made at the first payload byte, which
 * tells deflate's two forms apart) and `rewriter` to `dst`, `prefix` (the head) first; chunked
 * re-framing when `chunked`, else the body runs until the connection closes. A corrupt stream throws.
 */
export async function relayDecoded(
  src: Conn,
  dst: Conn,
  decoder: BodyDecoder,
  prefix: Uint8Array,
  makeDecoder: (firstByte: number) => Transform,
  rewriter: StreamRewriter,
  chunked: boolean,
): Promise<RelayEnd> {
  dst.write(prefix);
  let inflater: Transform | null = null;
  let truncated = false;
  const frame = (bytes: Uint8Array) => (chunked ? encodeChunk(bytes) : bytes);

  const pump = async (into: Transform): Promise<void> => {
    for await (const out of into as AsyncIterable<Buffer>) {
      const masked = rewriter.push(out);
      if (masked.length > 0 && !dst.write(frame(masked))) throw new Error("client gone");
      if (dst.backpressured) await dst.drained();
    }
  };
  let pumping: Promise<void> = Promise.resolve();

  while (!decoder.done) {
    const chunk = await src.read();
    if (!chunk) {
      if (!decoder.endOfInput()) truncated = true;
      break;
    }
    const pieces: Buffer[] = [];
    const used = decoder.feed(chunk, (payload) => void pieces.push(Buffer.from(payload)));
    if (used < chunk.length) src.unread(chunk.subarray(used));
    for (const piece of pieces) {
      if (!inflater) {
        inflater = makeDecoder(piece[0]!);
        pumping = pump(inflater);
        pumping.catch(() => {}); // awaited below
      }
      if (!inflater.write(piece)) await Promise.race([once(inflater, "drain"), pumping]);
    }
  }
  if (inflater) {
    inflater.end();
    await pumping;
  }
  if (dst.closed) return "closed";
  if (truncated) return "truncated";
  const tail = rewriter.end();
  if (tail.length > 0) dst.write(frame(tail));
  if (chunked) dst.write(LAST_CHUNK);
  if (dst.backpressured) await dst.drained();
  return dst.closed ? "closed" : "done";
}

/** A transformer of the bytes from the server after a 101. */
export interface UpgradeMasker {
  push(chunk: Uint8Array): Uint8Array;
  end(): Uint8Array;
}

/** WebSocket frames masked frame by frame; anything else masked as a byte stream. */
export function upgradeMasker(websocket: boolean, data: StreamRewriter, control: () => StreamRewriter): UpgradeMasker {
  return websocket ? new WsServerMasker(data, control()) : data;
}

/** Relays an upgraded connection: client → server as is, server → client through `masker` (null: as is). */
export async function relayUpgraded(client: Conn, upstream: Conn, masker: UpgradeMasker | null): Promise<void> {
  const toServer = copy(client, upstream);
  if (!masker) {
    await Promise.all([toServer, copy(upstream, client)]);
    return;
  }
  const toClient = (async () => {
    try {
      for (;;) {
        const chunk = await upstream.read();
        if (!chunk) break;
        const out = masker.push(chunk);
        if (out.length > 0 && !client.write(out)) {
          upstream.destroy();
          return;
        }
        if (client.backpressured) await client.drained();
      }
      const tail = masker.end();
      if (tail.length > 0) client.write(tail);
      client.end();
    } catch {
      // A frame kz cannot mask (ws-mask.ts): cut both sides rather than pass it on.
      client.destroy();
      upstream.destroy();
    }
  })();
  await Promise.all([toServer, toClient]);
}

async function copy(src: Conn, dst: Conn): Promise<void> {
  for (;;) {
    const chunk = await src.read();
    if (!chunk) break;
    if (!dst.write(chunk)) {
      src.destroy();
      return;
    }
    if (dst.backpressured) await dst.drained();
  }
  dst.end();
}
