// What the MCP layer keeps for the life of a server process, per McpHost: the stand-in tokens and the
// upstream connections (Upstreams, below), and the limits. Everything request-scoped lives elsewhere.

import { readFileSync } from "node:fs";
import type { Conn } from "../blind/conn.ts";
import { UpstreamConnector } from "../blind/upstream.ts";
import type { Destination } from "../blind/types.ts";
import type { McpHost } from "./host.ts";
import { McpTokens } from "./tokens.ts";
import { DEFAULT_MAX_RESPONSE_BYTES } from "./tools.ts";

declare const KZ_BUILD_VERSION: string | undefined;

export interface McpOptions {
  /** Response bodies returned by `fetch` are cut at this many bytes. Default 256 KiB. */
  maxResponseBytes?: number;
  /** A `fetch` gives up connecting after this long, and again waiting for the response. Default 30 s. */
  fetchTimeoutMs?: number;
  /** Largest MCP message accepted (HTTP body or stdio line). Default 4 MiB. */
  maxMessageBytes?: number;
  /** serverInfo.version in `initialize`. Default: the build's version. */
  serverVersion?: string;
}

export type Limits = Required<McpOptions>;

export function limitsOf(options: McpOptions = {}): Limits {
  return {
    maxResponseBytes: options.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES,
    fetchTimeoutMs: options.fetchTimeoutMs ?? 30_000,
    maxMessageBytes: options.maxMessageBytes ?? 4 * 1024 * 1024,
    serverVersion: options.serverVersion ?? (typeof KZ_BUILD_VERSION === "string" ? KZ_BUILD_VERSION : "dev"),
  };
}

/** The limits for `host`: explicit options first, then the bundle's fetch settings, then the defaults. */
export function limitsFor(host: McpHost, options: McpOptions = {}): Limits {
  const settings = host.fetchSettings();
  return limitsOf({
    ...(settings.maxResponseBytes !== undefined ? { maxResponseBytes: settings.maxResponseBytes } : {}),
    ...(settings.timeoutMs !== undefined ? { fetchTimeoutMs: settings.timeoutMs } : {}),
    ...options,
  });
}

const MAX_PINS = 256;
const MAX_IDLE_PER_PIN = 16;
/** Idle upstream connections are closed after this long: shorter than common server keep-alive timeouts. */
const IDLE_MS = 5_000;

/** The bundle's fetch settings cannot be used (an unreadable upstream CA); the message names the file. */
export class FetchSettingsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "FetchSettingsError";
  }
}

/** A connection handed out by Upstreams; give it back with release() once its response is read. */
export interface Lease {
  conn: Conn;
  /** It carried an earlier request (a server may have closed it meanwhile). */
  reused: boolean;
  /** Returns the connection to the pool when `reusable` (a complete keep-alive response), else closes it. */
  release(reusable: boolean): void;
}

interface Idle {
  conn: Conn;
  timer: ReturnType<typeof setTimeout>;
}

/**
 * Connections to upstreams, by pin: one blind-mode UpstreamConnector per "host:port → address:port" (plus
 * the CA), so the address the SSRF guard approved is the one dialled, and idle keep-alive connections for
 * each pin, so an agent calling the same API repeatedly pays for TLS once. A pooled connection is only
 * ever reused for the same pin; one the server has closed (or sent anything on) is dropped, not reused.
 */
export class Upstreams {
  readonly #connectors = new Map<string, UpstreamConnector>();
  readonly #idle = new Map<string, Idle[]>();
  readonly #caPems = new Map<string, string>();

  async open(dest: Destination, address: string, port: number, caPath: string | undefined, timeoutMs: number, fresh = false): Promise<Lease> {
    const from = dest.host.includes(":") ? `[${dest.host}]:${dest.port}` : `${dest.host}:${dest.port}`;
    const to = address.includes(":") ? `[${address}]:${port}` : `${address}:${port}`;
    const key = `${caPath ?? ""}\n${dest.tls}\n${from}\n${to}`;
    if (!fresh) {
      const idle = this.#idle.get(key);
      while (idle && idle.length > 0) {
        const { conn, timer } = idle.pop()!;
        clearTimeout(timer);
        if (conn.eof || conn.closed || conn.take() !== null) conn.destroy();
        else return this.#lease(key, conn, true);
      }
    }
    let connector = this.#connectors.get(key);
    if (!connector) {
      if (this.#connectors.size >= MAX_PINS) this.#connectors.delete(this.#connectors.keys().next().value!);
      connector = new UpstreamConnector({ extraCaPem: caPath ? this.#ca(caPath) : undefined, resolve: { [from]: to }, connectTimeoutMs: timeoutMs });
      this.#connectors.set(key, connector);
    }
    return this.#lease(key, await connector.connect(dest, dest.tls), false);
  }

  #lease(key: string, conn: Conn, reused: boolean): Lease {
    let released = false;
    return {
      conn,
      reused,
      release: (reusable) => {
        if (released) return;
        released = true;
        const idle = this.#idle.get(key) ?? [];
        if (!reusable || conn.eof || conn.closed || idle.length >= MAX_IDLE_PER_PIN) return conn.destroy();
        const timer = setTimeout(() => {
          const list = this.#idle.get(key);
          const at = list?.findIndex((entry) => entry.conn === conn) ?? -1;
          if (at >= 0) list!.splice(at, 1);
          if (list?.length === 0) this.#idle.delete(key);
          conn.destroy();
        }, IDLE_MS);
        timer.unref();
        idle.push({ conn, timer });
        this.#idle.set(key, idle);
      },
    };
  }

  /** Closes every idle connection (server shutdown). */
  closeIdle(): void {
    for (const list of this.#idle.values()) {
      for (const { conn, timer } of list) {
        clearTimeout(timer);
        conn.destroy();
      }
    }
    this.#idle.clear();
  }

  #ca(path: string): string {
    let pem = this.#caPems.get(path);
    if (pem === undefined) {
      try {
        pem = readFileSync(path, "utf8");
      } catch (error) {
        throw new FetchSettingsError(`cannot read the bundle's fetch.upstream_ca ${path} (${(error as NodeJS.ErrnoException).code ?? "error"})`);
      }
      if (!pem.includes("-----BEGIN CERTIFICATE-----")) throw new FetchSettingsError(`the bundle's fetch.upstream_ca ${path} holds no PEM certificate`);
      this.#caPems.set(path, pem);
    }
    return pem;
  }
}

export interface McpState {
  tokens: McpTokens;
  upstreams: Upstreams;
}

const states = new WeakMap<McpHost, McpState>();

export function stateOf(host: McpHost): McpState {
  let state = states.get(host);
  if (!state) states.set(host, (state = { tokens: new McpTokens(), upstreams: new Upstreams() }));
  return state;
}
