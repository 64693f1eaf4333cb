// Connections from the blind proxy to the real hosts. TLS to an intercepted host is verified against
// the system roots (node:tls rootCertificates) plus an optional extra CA (`[blind] upstream_ca`), with
// SNI and the hostname check set to the CONNECT host. `resolve` pins "host:port" to "addr:port" the way
// curl --resolve does, so a name can be served from a local address (tests, split-horizon setups).
// The trust store is built once per connector (one TLS context shared by every connection it opens).
// Loopback names are dialled at one address, never raced across families (loopback.ts): a secret bound
// to localhost must not reach whoever listens on [::1] when the service is on 127.0.0.1.

import { createSecureContext, rootCertificates } from "node:tls";
import { isIP } from "node:net";
import { Conn, connHandlers } from "./conn.ts";
import { loopbackDialHost, safeDialHost } from "./loopback.ts";
import type { Destination } from "./types.ts";
import type { Socket, SocketHandler, TLSOptions } from "bun";

export interface UpstreamOptions {
  /** Extra trusted CA certificate(s), PEM, beside the system roots. */
  extraCaPem?: string;
  /** "host:port" → "addr:port", e.g. { "api.example.test:443": "127.0.0.1:8443" }. */
  resolve?: Record<string, string>;
  /** Give up connecting (TCP + TLS) after this long; default 30 s. */
  connectTimeoutMs?: number;
}

/** Connecting failed; the message is one line fit for a 502 body. */
export class UpstreamError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UpstreamError";
  }
}

/** A connection being opened: `opened` settles once TCP is up (or failed), `ready` once it can carry bytes. */
export interface PendingConn {
  /** Resolves when the TCP connection is established; rejects with UpstreamError if it cannot be. */
  opened: Promise<void>;
  /** Resolves with the connection once usable (TLS verified, when asked for); rejects with UpstreamError. */
  ready: Promise<Conn>;
}

const HTTP11_ALPN = Buffer.from("\x08http/1.1");
const DEFAULT_CONNECT_TIMEOUT_MS = 30_000;
const ignore = () => {};

/**
 * The address to dial for `dest`: its `resolve` pin, else its own host and port — with "localhost"
 * (and *.localhost) as 127.0.0.1, whichever of the two names it.
 */
export function dialAddress(dest: Destination, resolve: Record<string, string> | undefined): { host: string; port: number } {
  const key = dest.host.includes(":") ? `[${dest.host}]:${dest.port}` : `${dest.host}:${dest.port}`;
  const pinned = resolve?.[key];
  if (!pinned) return { host: loopbackDialHost(dest.host), port: dest.port };
  const colon = pinned.lastIndexOf(":");
  const port = Number(pinned.slice(colon + 1));
  if (colon <= 0 || !Number.isInteger(port) || port < 1 || port > 65535) {
    throw new UpstreamError(`resolve pin for ${key} is not "addr:port": ${JSON.stringify(pinned)}`);
  }
  return { host: loopbackDialHost(pinned.slice(0, colon).replace(/^\[(.*)\]$/, "$1")), port };
}

/**
 * The trust part of the TLS options, built once. Without an extra CA, Bun's default store is exactly
 * rootCertificates and nothing needs building. With one, `ca` would replace the default store, so the
 * roots are listed beside it — and handing Bun that list on every connect re-parses ~150 PEMs each
 * time; one node:tls secure context (its native handle, which Bun.connect accepts as `secureContext`)
 * is parsed once and shared. Should a Bun version refuse the handle, the plain list is used instead.
 */
function trustOptions(extraCaPem: string | undefined): { shared?: Partial<TLSOptions>; fallback?: Partial<TLSOptions> } {
  if (!extraCaPem) return {};
  const ca = [...rootCertificates, extraCaPem];
  try {
    const context = (createSecureContext({ ca }) as { context?: unknown }).context;
    if (context) return { shared: { secureContext: context } as Partial<TLSOptions>, fallback: { ca } };
  } catch {
    // A CA PEM node:tls cannot parse: let Bun report it on connect, as before.
  }
  return { shared: { ca } };
}

export class UpstreamConnector {
  readonly #options: UpstreamOptions;
  #trust: Partial<TLSOptions> | undefined;
  #fallbackTrust: Partial<TLSOptions> | undefined;

  constructor(options: UpstreamOptions = {}) {
    this.#options = options;
    const { shared, fallback } = trustOptions(options.extraCaPem);
    this.#trust = shared;
    this.#fallbackTrust = fallback;
  }

  /**
   * Opens a connection to `dest`. With `terminateTls` the connection speaks TLS (HTTP/1.1 via ALPN) and
   * resolves only after the certificate verified for dest.host; without it, plain TCP (an untouched
   * tunnel, or plain http).
   */
  connect(dest: Destination, terminateTls: boolean): Promise<Conn> {
    const pending = this.dial(dest, terminateTls);
    pending.opened.catch(ignore);
    return pending.ready;
  }

  /**
   * Like connect(), in two steps: `opened` once TCP is up (so a refused or unreachable host is known
   * early), `ready` once the TLS handshake verified too. The proxy answers a CONNECT after `opened` and
   * lets the two TLS handshakes (client side, upstream side) run at the same time.
   */
  dial(dest: Destination, terminateTls: boolean): PendingConn {
    const where = `${dest.host}:${dest.port}`;
    let address: { host: string; port: number };
    try {
      address = dialAddress(dest, this.#options.resolve);
    } catch (error) {
      const failed = Promise.reject(error);
      failed.catch(ignore);
      return { opened: failed, ready: failed };
    }
    const { host, port } = address;
    const conn = new Conn();
    let markOpened!: () => void;
    let failOpened!: (error: UpstreamError) => void;
    const opened = new Promise<void>((resolve, reject) => {
      markOpened = resolve;
      failOpened = reject;
    });
    const ready = new Promise<Conn>((resolve, reject) => {
      let settled = false;
      const fail = (reason: string) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        conn.destroy();
        const error = new UpstreamError(reason);
        failOpened(error);
        reject(error);
      };
      const succeed = () => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve(conn);
      };
      const timeoutMs = this.#options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
      const timer = setTimeout(() => fail(`timed out connecting to ${where} after ${timeoutMs} ms`), timeoutMs);

      const handlers: SocketHandler<Conn> = {
        ...connHandlers,
        open(socket: Socket<Conn>) {
          conn.attach(socket);
          markOpened();
          if (!terminateTls) succeed();
        },
        handshake(socket: Socket<Conn>, verified: boolean, error: Error | null) {
          if (verified) return succeed();
          const code = (error as { code?: string } | null)?.code ?? error?.message ?? "verification failed";
          fail(`TLS certificate of ${where} not trusted (${code})`);
          socket.terminate();
        },
        close(socket: Socket<Conn>) {
          fail(`${where} closed the connection during ${terminateTls ? "the TLS handshake" : "connect"}`);
          connHandlers.close(socket);
        },
        connectError(_socket: Socket<Conn>, error: Error) {
          const code = (error as { code?: string }).code ?? error.message;
          fail(`cannot connect to ${where}${host !== dest.host || port !== dest.port ? ` (pinned to ${host}:${port})` : ""}: ${code}`);
        },
      };
      const open = (hostname: string, trust: Partial<TLSOptions> | undefined) =>
        Bun.connect<Conn>({
          hostname,
          port,
          data: conn,
          allowHalfOpen: true,
          socket: handlers,
          tls: terminateTls ? { ...trust, serverName: dest.host, ALPNProtocols: HTTP11_ALPN, rejectUnauthorized: true } : undefined,
        });
      const start = (hostname: string) => {
        try {
          open(hostname, this.#trust).catch(ignore); // failures are reported through connectError above
        } catch (error) {
          if (!terminateTls || !this.#fallbackTrust || (error as { code?: string }).code !== "ERR_INVALID_ARG_TYPE") {
            return fail(`cannot connect to ${where}: ${(error as Error).message}`);
          }
          // This Bun does not take a shared secure context: use the certificate list from now on.
          this.#trust = this.#fallbackTrust;
          this.#fallbackTrust = undefined;
          try {
            open(hostname, this.#trust).catch(ignore);
          } catch (again) {
            fail(`cannot connect to ${where}: ${(again as Error).message}`);
          }
        }
      };
      // An IP literal (the common case: pins, loopback) is dialled at once; a name is looked up first, so
      // that one resolving to loopback is dialled at one address (loopback.ts).
      if (isIP(host) !== 0) start(host);
      else safeDialHost(host).then((hostname) => !settled && start(hostname), () => !settled && start(host));
    });
    opened.catch(ignore);
    return { opened, ready };
  }
}
