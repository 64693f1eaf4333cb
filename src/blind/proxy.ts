// Blind mode's loopback proxy: the transport between the child and the real hosts. It listens on
// 127.0.0.1 (random port) behind a per-run credential, and for each client connection either
//  - CONNECT to a host the policy intercepts: terminates TLS with a leaf from the run's CA (SNI must be
//    the CONNECT host), then serves HTTP/1.1 requests through the rewrite engine (exchange.ts). The
//    CONNECT is answered once the upstream's TCP connection is up; its TLS handshake then runs at the
//    same time as the client's with us, and the first request waits for it;
//  - CONNECT to any other host: an untouched TCP tunnel (the child's TLS goes end to end);
//  - absolute-form plain http (`GET http://host/…`): the same request handling over plain TCP.
// What to swap, refuse or rewrite is the policy's business (the rewrite engine); this module moves bytes.
//
// Built on Bun's native sockets (Bun.listen / Bun.connect); an accepted socket is switched to TLS in
// place with socket.upgradeTLS(), which Bun supports for server-side sockets.

import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import type { Socket, TCPSocketListener } from "bun";
import type { CertificateAuthority } from "./ca.ts";
import { Conn, connHandlers, relay } from "./conn.ts";
import { HttpSession, type ParsedRequest, plainResponse, readHead, type SessionContext } from "./exchange.ts";
import { type Headers, HeadReader, HttpError, headerValue, parseAuthority, parseRequestHead } from "./http1.ts";
import type { Destination, Refusal, RequestHead, RequestPlan, ResponseHead, StreamRewriter } from "./types.ts";
import { UpstreamConnector, UpstreamError, type UpstreamOptions } from "./upstream.ts";

export interface ProxyEvent {
  kind: "swap" | "refusal" | "tunnel" | "error" | "tcp";
  host: string;
  /** Secret names (swapped, or refused); never values. */
  secrets?: string[];
  reason?: string;
}

/** Rewrites one response on its way to the child (echo protection; same-length replacements). */
export interface ResponseRewriter {
  head(head: ResponseHead): ResponseHead;
  body: StreamRewriter;
}

/** What the proxy asks the rewrite engine. */
export interface ProxyPolicy {
  /** Terminate TLS to this host and inspect its requests? (a secret is bound to it, or inspect = "all") */
  intercepts(dest: Destination): boolean;
  planRequest(dest: Destination, head: RequestHead): RequestPlan | Refusal;
  /** A fresh rewriter for one response from `dest` to the request `plan`, or null to pass it through untouched. */
  responseRewriter(dest: Destination, plan: RequestPlan): ResponseRewriter | null;
  onEvent?(event: ProxyEvent): void;
}

export interface ProxyOptions {
  policy: ProxyPolicy;
  ca: CertificateAuthority;
  upstream?: UpstreamOptions;
  /** The proxy password; random by default (tests may fix it). */
  credential?: string;
}

export interface ProxyStats {
  /** Client connections accepted. */
  connections: number;
  /** CONNECT requests accepted (credential checked). */
  connects: number;
  /** CONNECTs whose TLS the proxy terminated. */
  intercepted: number;
  /** CONNECTs relayed as untouched tunnels. */
  tunnels: number;
  /** HTTP requests handled (inside intercepted tunnels and plain http). */
  requests: number;
}

export interface BlindProxy {
  /** `http://kz:<credential>@127.0.0.1:<port>`: what the child's proxy variables hold. */
  readonly url: string;
  readonly port: number;
  readonly stats: ProxyStats;
  /** Closes the listener and every connection. */
  stop(): void;
}

const PROXY_USER = "kz";
const CONNECT_ESTABLISHED = Buffer.from("HTTP/1.1 200 Connection Established\r\n\r\n");
const HTTP11_ALPN = Buffer.from("\x08http/1.1");
const HANDSHAKE_FAILED = "TLS handshake with the client failed (does it trust kz's CA?)";

export function startProxy(options: ProxyOptions): BlindProxy {
  return new LoopbackProxy(options);
}

class LoopbackProxy implements BlindProxy {
  readonly url: string;
  readonly port: number;
  readonly stats: ProxyStats = { connections: 0, connects: 0, intercepted: 0, tunnels: 0, requests: 0 };
  readonly #policy: ProxyPolicy;
  readonly #ca: CertificateAuthority;
  readonly #expectedAuth: Buffer;
  readonly #listener: TCPSocketListener<Conn>;
  readonly #live = new Set<Conn>();
  readonly #session: SessionContext;

  constructor(options: ProxyOptions) {
    this.#policy = options.policy;
    this.#ca = options.ca;
    const credential = options.credential ?? randomBytes(24).toString("base64url");
    this.#expectedAuth = digest(`${PROXY_USER}:${credential}`);
    this.#session = {
      policy: this.#policy,
      connector: new UpstreamConnector(options.upstream),
      stats: this.stats,
      authorized: (headers) => this.#authorized(headers),
      track: (conn) => this.#track(conn),
    };
    this.#listener = Bun.listen<Conn>({
      hostname: "127.0.0.1",
      port: 0,
      allowHalfOpen: true,
      socket: {
        ...connHandlers,
        open: (socket: Socket<Conn>) => {
          const client = new Conn();
          socket.data = client;
          client.attach(socket);
          this.#track(client);
          this.stats.connections++;
          this.#serveClient(client).catch((error) => this.#internalError(client, error));
        },
      },
    });
    this.port = this.#listener.port;
    this.url = `http://${PROXY_USER}:${encodeURIComponent(credential)}@127.0.0.1:${this.port}`;
  }

  stop(): void {
    this.#listener.stop(true);
    for (const conn of this.#live) conn.destroy();
    this.#live.clear();
  }

  #track(conn: Conn): void {
    this.#live.add(conn);
    conn.onClose = () => this.#live.delete(conn);
  }

  #emit(event: ProxyEvent): void {
    try {
      this.#policy.onEvent?.(event);
    } catch {
      // An event sink must not break the connection.
    }
  }

  /** Constant-time check of `Proxy-Authorization: Basic base64(kz:<credential>)`. */
  #authorized(headers: Headers): boolean {
    const value = headerValue(headers, "proxy-authorization");
    const basic = value && /^basic[ \t]+([A-Za-z0-9+/=]+)$/i.exec(value);
    const presented = basic ? Buffer.from(basic[1]!, "base64").toString("latin1") : "";
    return timingSafeEqual(digest(presented), this.#expectedAuth) && !!basic;
  }

  /** The first request on a client connection decides what the connection is. */
  async #serveClient(client: Conn): Promise<void> {
    let first: ParsedRequest;
    try {
      const bytes = await readHead(client, new HeadReader(), 400);
      if (!bytes) return client.end();
      first = { ...parseRequestHead(bytes), bytes };
    } catch (error) {
      if (error instanceof HttpError) return answer(client, error.status, `kz proxy: ${error.message}`);
      throw error;
    }
    const head = first.head;
    if (!this.#authorized(head.headers)) {
      return answer(client, 407, "kz proxy: missing or wrong proxy credential", 'Proxy-Authenticate: Basic realm="kz"\r\n');
    }
    if (head.method === "CONNECT") return this.#connect(client, head);
    if (/^http:\/\//i.test(head.target)) return new HttpSession(this.#session, client, null, null).run(first);
    return answer(client, 400, "kz proxy: expected CONNECT or an absolute http:// URL");
  }

  async #connect(client: Conn, head: RequestHead): Promise<void> {
    this.stats.connects++;
    const authority = parseAuthority(head.target, null);
    if (!authority) return answer(client, 400, "kz proxy: CONNECT target must be host:port");
    const dest: Destination = { host: authority.host, port: authority.port, tls: true };
    const intercept = this.#policy.intercepts(dest);

    // Refused or unreachable hosts are answered 502 on the CONNECT itself; once TCP is up, the upstream
    // TLS handshake (intercepted hosts) runs while the client does its own with us.
    const pending = this.#session.connector.dial(dest, intercept);
    pending.ready.then((conn) => this.#track(conn), ignore);
    let upstream: Conn | null = null;
    try {
      await pending.opened;
      if (!intercept) upstream = await pending.ready;
    } catch (error) {
      if (!(error instanceof UpstreamError)) throw error;
      this.#emit({ kind: "error", host: dest.host, reason: error.message });
      return answer(client, 502, `kz proxy: ${error.message}`);
    }

    if (upstream) {
      this.stats.tunnels++;
      this.#emit({ kind: "tunnel", host: dest.host });
      client.write(CONNECT_ESTABLISHED);
      return relay(client, upstream);
    }

    // Bytes sent before our 200 cannot be fed into the TLS layer we are about to start.
    if (client.take()) {
      dropWhenReady(pending.ready);
      return answer(client, 400, "kz proxy: data sent before the CONNECT was answered");
    }
    this.stats.intercepted++;
    client.write(CONNECT_ESTABLISHED);
    let tlsClient: Conn | null = null;
    try {
      tlsClient = await this.#terminateTls(client, dest);
    } finally {
      if (!tlsClient) dropWhenReady(pending.ready);
    }
    if (!tlsClient) return;
    // The session waits for the upstream at its first request (and answers 502 there if it failed).
    await new HttpSession(this.#session, tlsClient, dest, pending.ready).run();
  }

  /**
   * Switches the client socket to TLS as `dest.host`; resolves with the TLS connection once the
   * handshake is done and the SNI agrees with the CONNECT target, else null (connection closed).
   */
  #terminateTls(client: Conn, dest: Destination): Promise<Conn | null> {
    const leaf = this.#ca.leafFor(dest.host);
    const secure = new Conn();
    client.ignoreInput = true; // the raw socket now carries ciphertext; the TLS socket reads it
    return new Promise((resolve) => {
      let settled = false;
      const settle = (conn: Conn | null) => {
        if (settled) return;
        settled = true;
        resolve(conn);
      };
      const [, tlsSocket] = client.socket!.upgradeTLS<Conn>({
        data: secure,
        tls: { cert: leaf.certPem, key: leaf.keyPem, ALPNProtocols: HTTP11_ALPN },
        socket: {
          ...connHandlers,
          // On a server socket `completed` is false when the handshake failed — typically the client
          // rejected our certificate (it does not trust the run's CA).
          handshake: (socket: Socket<Conn>, completed: boolean) => {
            if (!completed) {
              this.#emit({ kind: "error", host: dest.host, reason: HANDSHAKE_FAILED });
              socket.terminate();
              return settle(null);
            }
            const sni = normalizeSni(socket.getServername());
            if (sni === "" || sni === dest.host) return settle(secure);
            this.#emit({
              kind: "refusal",
              host: dest.host,
              reason: `TLS server name ${JSON.stringify(sni.slice(0, 100))} does not match the CONNECT target ${dest.host}`,
            });
            socket.terminate();
            settle(null);
          },
          close: (socket: Socket<Conn>) => {
            if (!settled) this.#emit({ kind: "error", host: dest.host, reason: HANDSHAKE_FAILED });
            settle(null);
            connHandlers.close(socket);
          },
        },
      });
      secure.attach(tlsSocket);
      this.#track(secure);
    });
  }

  #internalError(client: Conn, error: unknown): void {
    this.#emit({ kind: "error", host: "", reason: `internal error: ${String((error as Error)?.message ?? error)}` });
    if (!client.closed) answer(client, 500, "kz proxy: internal error");
  }
}

const ignore = () => {};

/** Closes a connection still being opened as soon as it is (nothing will use it). */
function dropWhenReady(ready: Promise<Conn>): void {
  ready.then((conn) => conn.destroy(), ignore);
}

function answer(client: Conn, status: number, text: string, extraHeaders = ""): void {
  client.write(plainResponse(status, text, extraHeaders));
  client.shutDown();
}

function digest(text: string): Buffer {
  return createHash("sha256").update(text, "latin1").digest();
}

function normalizeSni(name: string | undefined): string {
  const lower = (name ?? "").toLowerCase();
  return lower.endsWith(".") ? lower.slice(0, -1) : lower;
}
