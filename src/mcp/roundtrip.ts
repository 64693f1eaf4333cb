// One HTTP/1.1 request and its response over a connection from blind mode's UpstreamConnector, with
// blind mode's wire helpers (src/blind/http1.ts): write the head and body, skip interim 1xx responses,
// read the final head, then collect the body through its framing up to a byte limit — stopping early once
// the limit is passed, so a huge or endless body costs nothing more. Says whether the connection can
// carry another request (a complete keep-alive response), and tells a connection that closed without
// answering at all (NoResponse: on a reused keep-alive connection, safe to retry an idempotent request).

import type { Conn } from "../blind/conn.ts";
import type { Destination } from "../blind/types.ts";
import { readHead } from "../blind/exchange.ts";
import { HeadReader, bodyDecoder, keepsAlive, parseResponseHead, responseFraming, scanHeaders } from "../blind/http1.ts";
import type { ResponseHead } from "../blind/types.ts";
import type { Upstreams } from "./state.ts";

export interface RawResponse {
  head: ResponseHead;
  /** At most `collectBytes` bytes of the (framing-decoded) body. */
  body: Buffer;
  /** More body followed what was collected. */
  cut: boolean;
  /** The connection is at a message boundary and the server keeps it open. */
  reusable: boolean;
}

/** Sends one request (`head` already serialized) and reads its response. The caller closes or reuses the connection. */
export async function roundTrip(conn: Conn, head: Uint8Array, body: Uint8Array | null, method: string, collectBytes: number): Promise<RawResponse> {
  conn.write(body && body.length > 0 ? Buffer.concat([head, body]) : head);
  const heads = new HeadReader();
  let response: ResponseHead;
  for (;;) {
    const bytes = await readHead(conn, heads, 502);
    if (!bytes) throw new NoResponse("the server closed the connection without responding");
    response = parseResponseHead(bytes).head;
    if (response.status >= 200 || response.status === 101) break; // 100 Continue, 103 Early Hints: wait for the real one
  }
  if (response.status === 101) throw new RoundTripError("the server switched protocols (101); fetch speaks plain HTTP only");

  const facts = scanHeaders(response.headers);
  const framing = responseFraming(facts, response.status, method);
  const decoder = bodyDecoder(framing, 502);
  const parts: Buffer[] = [];
  let collected = 0;
  let cut = false;
  const onPayload = (payload: Buffer) => {
    const room = collectBytes - collected;
    if (payload.length > room) cut = true;
    const kept = payload.length > room ? payload.subarray(0, room) : payload;
    if (kept.length > 0) {
      parts.push(Buffer.from(kept)); // copied: the connection may reuse its read buffer
      collected += kept.length;
    }
  };
  while (!decoder.done && !cut) {
    const chunk = await conn.read();
    if (!chunk) {
      if (decoder.endOfInput()) break;
      throw new RoundTripError("the server closed the connection in the middle of the response body");
    }
    decoder.feed(chunk, onPayload);
  }
  const reusable = !cut && decoder.done && framing.kind !== "until-close" && keepsAlive(response.version, facts);
  return { head: response, body: Buffer.concat(parts, collected), cut, reusable };
}

/** Where a request goes: the destination, and the checked address and port it is pinned to. */
export interface Pin {
  dest: Destination;
  address: string;
  port: number;
  caPath: string | undefined;
}

/** Methods safe to send twice (RFC 9110 §9.2.2). */
const IDEMPOTENT: ReadonlySet<string> = new Set(["GET", "HEAD", "OPTIONS", "PUT", "DELETE"]);

/**
 * One request through the connection pool: a kept-alive connection when there is one, given back if the
 * response leaves it reusable. A request that got no answer at all on a reused connection (the server had
 * just closed it) is sent once more on a new one when its method is idempotent. TimedOut after
 * `timeoutMs` of waiting for the response.
 */
export async function pooledRoundTrip(
  upstreams: Upstreams,
  pin: Pin,
  request: { head: Uint8Array; body: Uint8Array | null; method: string },
  collectBytes: number,
  timeoutMs: number,
  fresh = false,
): Promise<RawResponse> {
  const lease = await upstreams.open(pin.dest, pin.address, pin.port, pin.caPath, timeoutMs, fresh);
  try {
    const raw = await withTimeout(roundTrip(lease.conn, request.head, request.body, request.method, collectBytes), timeoutMs, () => lease.conn.destroy());
    lease.release(raw.reusable);
    return raw;
  } catch (error) {
    lease.release(false);
    if (error instanceof NoResponse && lease.reused && IDEMPOTENT.has(request.method)) {
      return pooledRoundTrip(upstreams, pin, request, collectBytes, timeoutMs, true);
    }
    throw error;
  }
}

/** The response did not come within the fetch timeout. */
export class TimedOut extends Error {
  constructor(readonly ms: number) {
    super(`no answer within ${ms} ms`);
    this.name = "TimedOut";
  }
}

/** `work`, or TimedOut after `ms` (calling `onTimeout` first, which should make `work` settle). */
async function withTimeout<T>(work: Promise<T>, ms: number, onTimeout: () => void): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  let timedOut = false;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      timedOut = true;
      onTimeout();
      reject(new TimedOut(ms));
    }, ms);
  });
  try {
    return await Promise.race([work, deadline]);
  } catch (error) {
    throw timedOut ? new TimedOut(ms) : error;
  } finally {
    clearTimeout(timer);
  }
}

/** The upstream did something a response cannot be built from; the message is one line for the caller. */
export class RoundTripError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "RoundTripError";
  }
}

/** The connection closed before a single byte of response: the request may never have been read. */
export class NoResponse extends RoundTripError {}
