// Connections from the blind proxy to the real hosts. TLS to an intercepted host is verified against
// the system roots (node:tls rootCertificates) plus an optional extra CA (`[blind] upstream_ca`), with
// SNI and the hostname check set to the CONNECT host. `resolve` pins "host:port" to "addr:port" the way
// curl --resolve does, so a name can be served from a local address (tests, split-horizon setups).

import { rootCertificates } from "node:tls";
import { Conn, connHandlers } from "./conn.ts";
import type { Destination } from "./types.ts";
import type { Socket, SocketHandler } from "bun";

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

const HTTP11_ALPN = Buffer.from("\x08http/1.1");
const DEFAULT_CONNECT_TIMEOUT_MS = 30_000;

/** The address to dial for `dest`: its `resolve` pin, else its own host and port. */
export function dialAddress(dest: Destination, resolve: Record<string, string> | undefined): { host: string; port: number } {
  const key = dest.host.includes(":") ? `[${dest.host}]:${dest.port}` : `${dest.host}:${dest.port}`;
  const pinned = resolve?.[key];
  if (!pinned) return { host: dest.host, port: dest.port };
  const colon = pinned.lastIndexOf(":");
  const port = Number(pinned.slice(colon + 1));
  if (colon <= 0 || !Number.isInteger(port) || port < 1 || port > 65535) {
    throw new UpstreamError(`resolve pin for ${key} is not "addr:port": ${JSON.stringify(pinned)}`);
  }
  return { host: pinned.slice(0, colon).replace(/^\[(.*)\]$/, "$1"), port };
}

export class UpstreamConnector {
  readonly #options: UpstreamOptions;
  readonly #trusted: string[] | undefined;

  constructor(options: UpstreamOptions = {}) {
    this.#options = options;
    // Without an extra CA, Bun's default store is exactly rootCertificates; with one, `ca` replaces
    // the default store, so the roots are listed explicitly beside it.
    this.#trusted = options.extraCaPem ? [...rootCertificates, options.extraCaPem] : undefined;
  }

  /**
   * Opens a connection to `dest`. With `terminateTls` the connection speaks TLS (HTTP/1.1 via ALPN) and
   * resolves only after the certificate verified for dest.host; without it, plain TCP (an untouched
   * tunnel, or plain http).
   */
  connect(dest: Destination, terminateTls: boolean): Promise<Conn> {
    const { host, port } = dialAddress(dest, this.#options.resolve);
    const where = `${dest.host}:${dest.port}`;
    const conn = new Conn();
    return new Promise<Conn>((resolve, reject) => {
      let settled = false;
      const fail = (reason: string) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        conn.destroy();
        reject(new UpstreamError(reason));
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
      Bun.connect<Conn>({
        hostname: host,
        port,
        data: conn,
        allowHalfOpen: true,
        socket: handlers,
        tls: terminateTls
          ? { serverName: dest.host, ca: this.#trusted, ALPNProtocols: HTTP11_ALPN, rejectUnauthorized: true }
          : undefined,
      }).catch(() => {
        // Reported through connectError above.
      });
    });
  }
}
