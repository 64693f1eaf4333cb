// A small but real ProxyPolicy for the proxy transport tests, standing in for the rewrite engine: one
// secret whose token is swapped for its (fake) value in headers, the URL and textual bodies when the
// request goes to a bound host over TLS (or plain http to loopback), refused on any other intercepted
// host, and masked (same length) when a response echoes the value back.

import type { ProxyEvent, ProxyPolicy, ResponseRewriter } from "../../src/blind/proxy.ts";
import type { BodyPlan, Destination, RequestHead, StreamRewriter } from "../../src/blind/types.ts";
import { Needles } from "../../src/resolve/needles.ts";
import { SplicingStream } from "../../src/resolve/splicing-stream.ts";

export const SECRET = "TEST_API_KEY";
export const TOKEN = "KZ_TOK_fixture7Qm2xV9kLp3sT0a";
export const REAL = "fake-real-value-0001";
/** What an echoed real value becomes on its way back: same length, so Content-Length stays valid. */
export const ECHO_MASK = "kz-echo-masked-00001";

/** Replaces `needle` everywhere in a byte stream (kz's own splicer, so a needle split across chunks counts). */
export function replacingRewriter(needle: string, replacement: string): StreamRewriter {
  const put = Buffer.from(replacement);
  return new SplicingStream(new Needles([needle]), () => put);
}

function replaceAllBytes(body: Uint8Array, needle: string, replacement: string): Buffer {
  const rewriter = replacingRewriter(needle, replacement);
  return Buffer.concat([rewriter.push(body), rewriter.end()]);
}

const LOOPBACK = /^(127\.\d+\.\d+\.\d+|::1|localhost)$/;
const TEXTUAL = /^(text\/|application\/(json|x-www-form-urlencoded)\b)/i;

export interface FixturePolicy extends ProxyPolicy {
  events: ProxyEvent[];
  /** Every (destination, head) planRequest was asked about. */
  planned: { dest: Destination; head: RequestHead }[];
}

export function fixturePolicy(options: { bound: string[]; intercepted: string[] }): FixturePolicy {
  const events: ProxyEvent[] = [];
  const planned: { dest: Destination; head: RequestHead }[] = [];
  const bound = (dest: Destination) => options.bound.includes(dest.host) && (dest.tls || LOOPBACK.test(dest.host));
  const refusal = (dest: Destination) => ({ refused: true as const, secret: SECRET, reason: `${SECRET} is not bound to ${dest.host}` });

  return {
    events,
    planned,
    intercepts: (dest) => options.intercepted.includes(dest.host),
    planRequest(dest, head) {
      planned.push({ dest, head });
      const carries = head.target.includes(TOKEN) || head.headers.some(([, value]) => value.includes(TOKEN));
      const swap = bound(dest);
      // Refused only where the proxy inspects; elsewhere (plain http to a remote host) it stays inert.
      if (carries && !swap && options.intercepted.includes(dest.host)) return refusal(dest);
      const swapped = (text: string) => (swap ? text.replaceAll(TOKEN, REAL) : text);
      const rewritten: RequestHead = {
        ...head,
        target: swapped(head.target),
        headers: head.headers.map(([name, value]) => [name, swapped(value)]),
      };
      const type = head.headers.find(([name]) => name.toLowerCase() === "content-type")?.[1] ?? "";
      const chunked = head.headers.some(([name]) => name.toLowerCase() === "transfer-encoding");
      let body: BodyPlan;
      if (!TEXTUAL.test(type)) body = { kind: "passthrough" };
      else if (!swap && options.intercepted.includes(dest.host)) {
        body = { kind: "buffer", limit: 32 << 20, rewrite: (b) => (Buffer.from(b).includes(TOKEN) ? refusal(dest) : b) };
      } else if (!swap) body = { kind: "passthrough" };
      else if (chunked) body = { kind: "stream", rewriter: replacingRewriter(TOKEN, REAL) };
      else body = { kind: "buffer", limit: 32 << 20, rewrite: (b) => replaceAllBytes(b, TOKEN, REAL) };
      return { head: rewritten, body, swapped: carries && swap ? [SECRET] : [] };
    },
    responseRewriter(dest): ResponseRewriter | null {
      if (!bound(dest)) return null;
      return {
        head: (head) => ({ ...head, headers: head.headers.map(([name, value]) => [name, value.replaceAll(REAL, ECHO_MASK)]) }),
        body: replacingRewriter(REAL, ECHO_MASK),
      };
    },
    onEvent: (event) => events.push(event),
  };
}
