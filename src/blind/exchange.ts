// The HTTP/1.1 request/response loop of one client connection through the blind proxy: inside an
// intercepted CONNECT tunnel (TLS terminated, one fixed destination) or for absolute-form plain http
// requests. For each request: check it is headed where the tunnel says, ask the policy for a plan,
// refuse (403) or forward the rewritten head with correct framing, then stream the response back through
// the response rewriter as it arrives. Keep-alive on both legs. Requests ask for uncompressed responses
// (echo-safe.ts); one compressed anyway is decoded and masked (masked-relay.ts); after a 101 the
// server's bytes are still masked (WebSocket frames frame by frame), the client's copied as they are.

import { Conn } from "./conn.ts";
import { decodedResponseHead, decompressor, echoSafeRequestHead, responseCoding } from "./echo-safe.ts";
import { relayDecoded, relayUpgraded, upgradeMasker } from "./masked-relay.ts";
import { type PayloadEncoder, type RelayEnd, joinViews, readWholeBody, relayBody, rewritingEncoder } from "./body-relay.ts";
import {
  type BodyDecoder,
  type BodyFraming,
  type HeadEncoding,
  type HeadFacts,
  type Headers,
  HeadReader,
  HttpError,
  bodyDecoder,
  isHeaderName,
  keepsAlive,
  parseAuthority,
  parseRequestHead,
  parseResponseHead,
  requestFraming,
  responseFraming,
  scanHeaders,
  serializeRequestHead,
  serializeResponseHead,
  withoutHeaders,
  headerValue,
} from "./http1.ts";
import type { ProxyEvent, ProxyPolicy, ProxyStats, ResponseRewriter } from "./proxy.ts";
import type { BodyPlan, Destination, Refusal, RequestHead, RequestPlan, ResponseHead } from "./types.ts";
import { UpstreamError, type UpstreamConnector } from "./upstream.ts";

/** What a session needs from the proxy that owns it. */
export interface SessionContext {
  policy: ProxyPolicy;
  connector: UpstreamConnector;
  stats: ProxyStats;
  /** Does this request carry the proxy credential? (plain-http requests are checked one by one) */
  authorized(headers: Headers): boolean;
  /** Registers a connection so stop() can close it. */
  track(conn: Conn): void;
}

export interface ParsedRequest {
  head: RequestHead;
  encoding: HeadEncoding;
  /** The head as received, forwarded as is when nothing in it changes. */
  bytes: Uint8Array;
}

/** The upstream closed a reused keep-alive connection before answering: safe to retry a bodiless request. */
class NoResponse extends UpstreamError {}

/** Never forwarded: they are for the proxy. */
const PROXY_ONLY_HEADERS = ["proxy-authorization", "proxy-connection"];
const FRAMING_HEADERS = ["content-length", "transfer-encoding"];
const FRAMING_AND_EXPECT = ["content-length", "transfer-encoding", "expect"];
const CONTINUE_100 = Buffer.from("HTTP/1.1 100 Continue\r\n\r\n");
const NO_BODY_PLAN: BodyPlan = { kind: "none" };
/** Methods safe to send again when a dropped keep-alive connection swallowed the first attempt (RFC 9110 §9.2.2). */
const IDEMPOTENT: ReadonlySet<string> = new Set(["GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"]);

const REASONS: Record<number, string> = {
  400: "Bad Request",
  403: "Forbidden",
  407: "Proxy Authentication Required",
  413: "Content Too Large",
  431: "Request Header Fields Too Large",
  500: "Internal Server Error",
  502: "Bad Gateway",
  505: "HTTP Version Not Supported",
};

/** A complete short text/plain response that closes the connection. */
export function plainResponse(status: number, text: string, extraHeaders = ""): Buffer {
  const body = Buffer.from(text.endsWith("\n") ? text : `${text}\n`);
  return Buffer.concat([
    Buffer.from(
      `HTTP/1.1 ${status} ${REASONS[status] ?? "Error"}\r\n${extraHeaders}Content-Type: text/plain; charset=utf-8\r\n` +
        `Content-Length: ${body.length}\r\nConnection: close\r\n\r\n`,
    ),
    body,
  ]);
}

/** Reads one message head from `conn`; null when the peer closed cleanly before starting one. */
export async function readHead(conn: Conn, reader: HeadReader, truncatedStatus: number): Promise<Buffer | null> {
  for (;;) {
    const chunk = await conn.read();
    if (!chunk) {
      if (reader.pending) throw new HttpError(truncatedStatus, "connection closed in the middle of a message head");
      return null;
    }
    const found = reader.push(chunk);
    if (found) {
      conn.unread(found.rest);
      return found.head;
    }
  }
}

/** Replaces a head's framing headers (and, optionally, Expect) with `framing`. */
function reframed(headers: Headers, framing: Headers, dropExpect = false): Headers {
  return [...withoutHeaders(headers, dropExpect ? FRAMING_AND_EXPECT : FRAMING_HEADERS), ...framing];
}

/** Does `out` say exactly what `original` said? (A rewriter that changed nothing: forward the bytes received.) */
function sameResponseHead(out: ResponseHead, original: ResponseHead): boolean {
  if (out === original) return true;
  if (out.status !== original.status || out.reason !== original.reason || out.version !== original.version) return false;
  const a = out.headers;
  const b = original.headers;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    if (a[i]![0] !== b[i]![0] || a[i]![1] !== b[i]![1]) return false;
  }
  return true;
}

function isRefusal(value: unknown): value is Refusal {
  return typeof value === "object" && value !== null && (value as Refusal).refused === true;
}

// ---------------------------------------------------------------------------------------------------
// The session

interface Routed {
  dest: Destination;
  /** The request target in origin form, for the upstream. */
  target: string;
}

interface ResponseOutcome {
  /** 101 Switching Protocols: the connections now carry another protocol. */
  upgraded: boolean;
  /** After a 101: how the server's bytes are masked on their way to the client (null: copied as is). */
  upgradeMasker?: ReturnType<typeof upgradeMasker> | null;
  /** The upstream connection may carry another request. */
  upstreamReusable: boolean;
  /** The client connection may carry another request. */
  clientReusable: boolean;
}

class Refused extends Error {
  constructor(readonly refusal: Refusal) {
    super(refusal.reason);
  }
}

export class HttpSession {
  readonly #ctx: SessionContext;
  readonly #client: Conn;
  /** The CONNECT destination when this is an intercepted tunnel; null for absolute-form plain http. */
  readonly #tunnel: Destination | null;
  #upstream: Conn | null = null;
  /** Where #upstream goes (compared field by field, no key string per request). */
  #upstreamDest: Destination | null = null;
  /** The tunnel's upstream connection while it is still being opened (TLS handshake in progress). */
  #pendingUpstream: Promise<Conn> | null = null;
  /** Requests sent on the current upstream connection (a reused one may have been closed meanwhile). */
  #upstreamUses = 0;
  /** The host of the request being served, for events. */
  #host: string;
  #clientHeads = new HeadReader();
  #upstreamHeads = new HeadReader();
  /** Part of a response already went to the client: an error now can only cut the connection. */
  #responseStarted = false;

  /**
   * `upstream` is the tunnel's connection to its destination — open, or still opening (a connection
   * that fails to open is answered 502 at the first request) — or null for absolute-form plain http.
   */
  constructor(ctx: SessionContext, client: Conn, tunnel: Destination | null, upstream: Conn | Promise<Conn> | null) {
    this.#ctx = ctx;
    this.#client = client;
    this.#tunnel = tunnel;
    this.#host = tunnel?.host ?? "";
    if (tunnel && upstream instanceof Conn) {
      this.#upstream = upstream;
      this.#upstreamDest = tunnel;
    } else if (tunnel && upstream instanceof Promise) {
      this.#pendingUpstream = upstream;
    }
  }

  /** Serves requests until either side is done; `first` is a request already read by the proxy. */
  async run(first: ParsedRequest | null = null): Promise<void> {
    let next = first;
    try {
      for (;;) {
        const request = next ?? (await this.#readRequest());
        next = null;
        if (!request) break;
        this.#responseStarted = false;
        const outcome = await this.#exchange(request);
        if (outcome !== "keep-alive") break;
      }
      this.#client.end();
      this.#dropUpstream();
    } catch (error) {
      this.#fail(error);
    }
  }

  async #readRequest(): Promise<ParsedRequest | null> {
    const bytes = await readHead(this.#client, this.#clientHeads, 400);
    return bytes ? { ...parseRequestHead(bytes), bytes } : null;
  }

  #emit(event: ProxyEvent): void {
    try {
      this.#ctx.policy.onEvent?.(event);
    } catch {
      // An event sink must not break the connection.
    }
  }

  /** Audit what a rewritten body did: swaps, and tokens left inert where they may not go. */
  #reportBody(dest: Destination, planned: RequestPlan): void {
    const body = planned.body;
    const audit = body.kind === "buffer" || body.kind === "stream" ? body.audit?.() : undefined;
    if (!audit) return;
    if (audit.swapped.length > 0) this.#emit({ kind: "swap", host: dest.host, secrets: audit.swapped });
    if (audit.inert.length > 0) {
      this.#emit({ kind: "refusal", host: dest.host, secrets: audit.inert, reason: "token in a streamed body left unswapped: not bound to this host, or its swap leaves out \"body\"" });
    }
  }

  /** One request and its response. */
  async #exchange(request: ParsedRequest): Promise<"keep-alive" | "close"> {
    const { head } = request;
    this.#ctx.stats.requests++;
    if (!this.#tunnel && !this.#ctx.authorized(head.headers)) {
      this.#answer(407, "kz proxy: missing or wrong proxy credential", 'Proxy-Authenticate: Basic realm="kz"\r\n');
      return "close";
    }
    const facts = scanHeaders(head.headers);
    const { dest, target } = this.#route(head, facts);
    const framing = requestFraming(facts);
    const forwarded: RequestHead = {
      method: head.method,
      target,
      version: head.version,
      headers: facts.proxyFields ? withoutHeaders(head.headers, PROXY_ONLY_HEADERS) : head.headers,
    };
    const plannedAsIs = this.#ctx.policy.planRequest(dest, forwarded);
    if (isRefusal(plannedAsIs)) throw new Refused(plannedAsIs);
    const safeHead = echoSafeRequestHead(plannedAsIs.head);
    const planned = safeHead === plannedAsIs.head ? plannedAsIs : { ...plannedAsIs, head: safeHead };
    if (planned.swapped.length > 0) this.#emit({ kind: "swap", host: dest.host, secrets: planned.swapped });
    const decoder = bodyDecoder(framing, 400);
    const { headBytes, wholeBody, encoder } = await this.#outgoing(request, facts, framing, decoder, forwarded, planned);

    let upstream = this.#reusableUpstream(dest) ?? (await this.#connectUpstream(dest));
    const reused = this.#upstreamUses++ > 0;
    let requestError: unknown;
    let sending: Promise<void> = Promise.resolve();
    const send = (to: Conn) => {
      if (wholeBody) to.write(wholeBody.length > 0 ? joinViews([headBytes, wholeBody]) : headBytes);
      else if (framing.kind === "none") to.write(headBytes);
      else {
        // Sent concurrently with reading the response (Expect: 100-continue, early answers). A request
        // that cannot be completed must not leave the upstream waiting for the rest.
        sending = relayBody(this.#client, to, decoder, headBytes, encoder).then(
          (end) => {
            if (end !== "truncated") return;
            requestError = new HttpError(400, "request body ended early");
            to.destroy();
          },
          (error) => {
            requestError = error;
            to.destroy();
          },
        );
      }
    };
    send(upstream);

    let outcome: ResponseOutcome;
    try {
      outcome = await this.#relayResponse(dest, head.method, upstream, planned);
    } catch (error) {
      const retryable = error instanceof NoResponse && reused && framing.kind === "none" && IDEMPOTENT.has(head.method);
      if (!retryable) throw requestError ?? error;
      // The keep-alive connection had been closed by the server just before we used it: once more, fresh.
      this.#dropUpstream();
      upstream = await this.#connectUpstream(dest);
      this.#upstreamUses++;
      send(upstream);
      outcome = await this.#relayResponse(dest, head.method, upstream, planned);
    }

    if (outcome.upgraded) {
      await sending;
      this.#upstream = null; // the relay owns it now
      await relayUpgraded(this.#client, upstream, outcome.upgradeMasker ?? null);
      return "close";
    }
    // The response is complete. If the request body is not (the server answered early), the two sides
    // are out of step: close rather than guess.
    if (!decoder.done) return "close";
    await sending;
    if (requestError) throw requestError;
    this.#reportBody(dest, planned);
    if (!outcome.upstreamReusable) this.#dropUpstream();
    return outcome.clientReusable && keepsAlive(head.version, facts) ? "keep-alive" : "close";
  }

  /**
   * The request as it goes upstream: the planned head with framing that matches how the body will be
   * sent — rewritten whole (Content-Length recomputed), rewritten as it streams (re-chunked), or copied
   * as framed — and, for a whole body, the body itself. An unchanged head goes out as the bytes received.
   */
  async #outgoing(
    request: ParsedRequest,
    facts: HeadFacts,
    framing: BodyFraming,
    decoder: BodyDecoder,
    forwarded: RequestHead,
    planned: RequestPlan,
  ): Promise<{ headBytes: Uint8Array; wholeBody: Uint8Array | null; encoder: PayloadEncoder | null }> {
    const plan = framing.kind === "none" ? NO_BODY_PLAN : planned.body;
    const serialize = (headers: Headers) => serializeRequestHead({ ...planned.head, headers }, request.encoding);
    switch (plan.kind) {
      case "buffer": {
        if (framing.kind === "length" && framing.length > plan.limit) {
          throw new HttpError(413, `request body larger than the ${plan.limit}-byte rewrite limit`);
        }
        // The body must be complete before the head can give its length: answer Expect ourselves.
        if (facts.expectContinue) this.#client.write(CONTINUE_100);
        const rewritten = plan.rewrite(await readWholeBody(this.#client, decoder, plan.limit));
        if (isRefusal(rewritten)) throw new Refused(rewritten);
        if (plan.finishHead) {
          // The head depends on the final body (SigV4 re-signing); it comes with its length set.
          const finished = plan.finishHead(rewritten);
          if (isRefusal(finished)) throw new Refused(finished);
          return { headBytes: serializeRequestHead(finished, request.encoding), wholeBody: rewritten, encoder: null };
        }
        const headers = reframed(planned.head.headers, [["Content-Length", String(rewritten.length)]], true);
        return { headBytes: serialize(headers), wholeBody: rewritten, encoder: null };
      }
      case "stream": {
        const codings = facts.transferCodings.join(", ") || "chunked";
        const headers = reframed(planned.head.headers, [["Transfer-Encoding", codings]]);
        return { headBytes: serialize(headers), wholeBody: null, encoder: rewritingEncoder(plan.rewriter, true) };
      }
      default: {
        const unchanged = planned.head === forwarded && forwarded.target === request.head.target && !facts.proxyFields;
        if (unchanged) return { headBytes: request.bytes, wholeBody: null, encoder: null };
        // The body is copied as framed, so the head keeps the framing fields it arrived with.
        const original = request.head.headers.filter(([name]) => FRAMING_HEADERS.some((lower) => isHeaderName(name, lower)));
        return { headBytes: serialize(reframed(planned.head.headers, original)), wholeBody: null, encoder: null };
      }
    }
  }

  /** The destination and origin-form target of a request; refuses one headed elsewhere than its tunnel. */
  #route(head: RequestHead, facts: HeadFacts): Routed {
    let dest: Destination;
    let target = head.target;
    if (this.#tunnel) {
      dest = this.#tunnel;
      this.#host = dest.host;
      if (!target.startsWith("/") && target !== "*") {
        const absolute = /^https:\/\/([^/?#]*)(.*)$/i.exec(target);
        const authority = absolute && parseAuthority(absolute[1]!, 443);
        if (!authority) throw new HttpError(400, "malformed request target");
        if (authority.host !== dest.host || authority.port !== dest.port) {
          throw new Refused({ refused: true, secret: "", reason: `request target ${absolute![1]} does not match the CONNECT target ${dest.host}:${dest.port}` });
        }
        target = absolute![2] || "/";
        if (!target.startsWith("/")) target = `/${target}`;
      }
    } else {
      const absolute = /^http:\/\/([^/?#]*)(.*)$/i.exec(target);
      if (!absolute) {
        throw new HttpError(400, /^https:/i.test(target) ? "https URLs go through CONNECT" : "expected an absolute http:// URL or CONNECT");
      }
      const authority = parseAuthority(absolute[1]!, 80);
      if (!authority) throw new HttpError(400, "malformed host in request URL");
      dest = { host: authority.host, port: authority.port, tls: false };
      this.#host = dest.host;
      target = absolute[2] || "/";
      if (!target.startsWith("/")) target = `/${target}`;
    }
    this.#checkHostHeader(head.version, facts.hosts, dest);
    return { dest, target };
  }

  #checkHostHeader(version: string, hosts: readonly string[], dest: Destination): void {
    if (hosts.length > 1) throw new HttpError(400, "more than one Host header");
    if (hosts.length === 0) {
      if (version === "HTTP/1.1") throw new HttpError(400, "missing Host header");
      return;
    }
    const value = hosts[0]!;
    if (value === dest.host) return; // the usual case: a name on its default port, already normalized
    const authority = parseAuthority(value, dest.tls ? 443 : 80);
    if (!authority || authority.host !== dest.host || authority.port !== dest.port) {
      const where = this.#tunnel ? "the CONNECT target" : "the request URL";
      throw new Refused({ refused: true, secret: "", reason: `Host header ${JSON.stringify(value.slice(0, 100))} does not match ${where} ${dest.host}:${dest.port}` });
    }
  }

  /** The open upstream connection to `dest`, if there is one. */
  #reusableUpstream(dest: Destination): Conn | null {
    const current = this.#upstream;
    const to = this.#upstreamDest;
    if (!current || current.eof || !to) return null;
    return to.host === dest.host && to.port === dest.port && to.tls === dest.tls ? current : null;
  }

  async #connectUpstream(dest: Destination): Promise<Conn> {
    // The first request of a tunnel takes the connection opened while the client did its TLS handshake
    // (the proxy tracks that one); any later one is opened here.
    const pending = this.#pendingUpstream;
    this.#pendingUpstream = null;
    this.#dropUpstream();
    const conn = await (pending ?? this.#ctx.connector.connect(dest, dest.tls));
    if (!pending) this.#ctx.track(conn);
    this.#upstream = conn;
    this.#upstreamDest = dest;
    return conn;
  }

  /** Ends the upstream connection (one still opening is closed once open) and forgets it. */
  #dropUpstream(): void {
    this.#upstream?.end();
    this.#pendingUpstream?.then((conn) => conn.end(), () => {});
    this.#upstream = null;
    this.#pendingUpstream = null;
    this.#upstreamDest = null;
    this.#upstreamUses = 0;
    this.#upstreamHeads = new HeadReader();
  }

  /** Relays the final response (and any 1xx before it) for a request with `method`. */
  async #relayResponse(dest: Destination, method: string, upstream: Conn, planned: RequestPlan): Promise<ResponseOutcome> {
    let answered = false;
    /** Interim heads (1xx) are masked too; each gets its own rewriter. */
    const maskedHeadBytes = (head: ResponseHead, encoding: HeadEncoding, bytes: Uint8Array): Uint8Array => {
      const rewriter = this.#ctx.policy.responseRewriter(dest, planned);
      const out = rewriter ? rewriter.head(head) : head;
      return sameResponseHead(out, head) ? bytes : serializeResponseHead(out, encoding);
    };
    for (;;) {
      const bytes = await readHead(upstream, this.#upstreamHeads, 502);
      if (!bytes) {
        if (answered) throw new UpstreamError(`${dest.host} closed the connection after an interim response`);
        throw new NoResponse(`${dest.host} closed the connection without responding`);
      }
      answered = true;
      const { head, encoding } = parseResponseHead(bytes);
      const facts = scanHeaders(head.headers);
      if (head.status === 101) {
        this.#responseStarted = true;
        const rewriter = this.#ctx.policy.responseRewriter(dest, planned);
        const out = rewriter ? rewriter.head(head) : head;
        this.#client.write(sameResponseHead(out, head) ? bytes : serializeResponseHead(out, encoding));
        const websocket = /^\s*websocket\s*$/i.test(headerValue(head.headers, "upgrade") ?? "");
        const masker = rewriter ? upgradeMasker(websocket, rewriter.body, () => this.#ctx.policy.responseRewriter(dest, planned)!.body) : null;
        return { upgraded: true, upgradeMasker: masker, upstreamReusable: false, clientReusable: false };
      }
      if (head.status < 200) {
        this.#client.write(maskedHeadBytes(head, encoding, bytes));
        continue;
      }
      const framing: BodyFraming = responseFraming(facts, head.status, method);
      const rewriter = this.#ctx.policy.responseRewriter(dest, planned);
      if (rewriter && framing.kind !== "none") {
        const coding = responseCoding(head);
        if (coding.kind === "unsupported") {
          throw new UpstreamError(`${dest.host} sent a response compressed with ${coding.coding}, which kz cannot decode to mask`);
        }
        if (coding.kind === "decode") return this.#relayDecoded(dest, upstream, head, encoding, framing, rewriter, coding.coding, planned);
      }
      const outHead = rewriter ? rewriter.head(head) : head;
      const encoder = rewriter && framing.kind !== "none" ? rewritingEncoder(rewriter.body, framing.kind === "chunked") : null;
      this.#responseStarted = true;
      const headBytes = sameResponseHead(outHead, head) ? bytes : serializeResponseHead(outHead, encoding);
      const end = await relayBody(upstream, this.#client, bodyDecoder(framing, 502), headBytes, encoder);
      if (end !== "done") return this.#cutShort(upstream, end);
      // A body delimited by the server closing is passed on the same way: the client connection ends too.
      const delimitedByClose = framing.kind === "until-close";
      return {
        upgraded: false,
        upstreamReusable: !delimitedByClose && keepsAlive(head.version, facts),
        clientReusable: !delimitedByClose,
      };
    }
  }

  /**
   * Cut mid-body by the server: pass the cut on as it was (what arrived, then FIN). Or the client left.
   * Either way nothing sensible can follow on either leg.
   */
  #cutShort(upstream: Conn, end: Exclude<RelayEnd, "done">): ResponseOutcome {
    upstream.destroy();
    if (end === "truncated") this.#client.end();
    else this.#client.destroy();
    return { upgraded: false, upstreamReusable: false, clientReusable: false };
  }

  /**
   * A compressed response from an intercepted host: passed on decoded and masked, chunked to an HTTP/1.1
   * client (else delimited by closing the connection).
   */
  async #relayDecoded(
    dest: Destination,
    upstream: Conn,
    head: ResponseHead,
    encoding: HeadEncoding,
    framing: BodyFraming,
    rewriter: ResponseRewriter,
    coding: string,
    planned: RequestPlan,
  ): Promise<ResponseOutcome> {
    const chunked = planned.head.version === "HTTP/1.1";
    const outHead = rewriter.head(decodedResponseHead(head, chunked));
    this.#responseStarted = true;
    const end = await relayDecoded(
      upstream,
      this.#client,
      bodyDecoder(framing, 502),
      serializeResponseHead(outHead, encoding),
      (first) => decompressor(coding, first),
      rewriter.body,
      chunked,
    );
    if (end !== "done") return this.#cutShort(upstream, end);
    const delimitedByClose = framing.kind === "until-close";
    return {
      upgraded: false,
      upstreamReusable: !delimitedByClose && keepsAlive(head.version, scanHeaders(head.headers)),
      clientReusable: chunked,
    };
  }

  /** A short text/plain answer, then close. */
  #answer(status: number, text: string, extraHeaders = ""): void {
    this.#client.write(plainResponse(status, text, extraHeaders));
    this.#client.shutDown();
  }

  #fail(error: unknown): void {
    const host = this.#host;
    this.#upstream?.destroy();
    this.#pendingUpstream?.then((conn) => conn.destroy(), () => {});
    this.#upstream = null;
    this.#pendingUpstream = null;
    if (this.#responseStarted) {
      this.#client.destroy();
      if (!(error instanceof HttpError || error instanceof UpstreamError)) {
        this.#emit({ kind: "error", host, reason: String((error as Error)?.message ?? error) });
      }
      return;
    }
    if (error instanceof Refused) {
      const { secret, reason } = error.refusal;
      this.#emit({ kind: "refusal", host, secrets: secret ? [secret] : [], reason });
      const text = secret ? `kz: refused to send secret ${secret} to ${host}: ${reason}` : `kz: refused: ${reason}`;
      this.#answer(403, text);
    } else if (error instanceof HttpError) {
      if (error.status >= 500) this.#emit({ kind: "error", host, reason: error.message });
      this.#answer(error.status, `kz proxy: ${error.message}`);
    } else if (error instanceof UpstreamError) {
      this.#emit({ kind: "error", host, reason: error.message });
      this.#answer(502, `kz proxy: ${error.message}`);
    } else {
      this.#emit({ kind: "error", host, reason: `internal error: ${String((error as Error)?.message ?? error)}` });
      this.#answer(500, "kz proxy: internal error");
    }
  }
}
