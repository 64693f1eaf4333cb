// `kz server start`: loads the bundle, builds the shared parts (minter, revocations, audit log, metrics),
// and serves the API with Bun.serve on the listen address (TLS when given a certificate). Reloads on
// SIGHUP and on changes to the bundle; stops cleanly on SIGINT/SIGTERM. Logs go to stderr, one line each.

import { readFileSync } from "node:fs";
import { loadOrCreateAuditKey } from "../audit/key.ts";
import { AuditLog } from "../audit/log.ts";
import { ConfigError, KzError, UsageError } from "../errors.ts";
import { loadBundle } from "../config/bundle.ts";
import { createMinter, type TokenMinter } from "../identity/mint.ts";
import { loadOrCreateStateKey } from "../state/seal.ts";
import { openState, redactUrl } from "../state/open.ts";
import type { ServerState } from "../state/types.ts";
import { writeStderr } from "../stdio.ts";
import { AccessService } from "./access.ts";
import { ServerLeases } from "./leases.ts";
import { createApp } from "./app.ts";
import { BundleHolder } from "./bundle-holder.ts";
import { Metrics } from "./metrics.ts";
import { isLoopbackName } from "../config/loopback.ts";

export interface ServeOptions {
  bundlePath: string;
  listen: { host: string; port: number };
  tls?: { certFile: string; keyFile: string };
  /** Serve non-loopback addresses without TLS (tokens and values would cross the network in clear). */
  allowPlaintext: boolean;
  mcp: boolean;
  /** The URL clients reach this server at (issuer of minted tokens, MCP resource). Default: from listen. */
  publicUrl?: string;
  version: string;
}

export interface RunningServer {
  url: string;
  stop(): Promise<void>;
}

export function log(line: string): void {
  writeStderr(`kz server: ${line}\n`);
}

/** "host:port", ":port" or "port" → parts. */
export function parseListen(text: string): { host: string; port: number } {
  const match = /^(?:\[([^\]]+)\]|([^:]*))?:?(\d+)$/.exec(text.trim());
  const port = match ? Number(match[3]) : NaN;
  if (!match || !Number.isInteger(port) || port < 0 || port > 65535) {
    throw new UsageError(`--listen ${JSON.stringify(text)}: expected HOST:PORT, e.g. 127.0.0.1:8080`);
  }
  return { host: match[1] ?? (match[2] || "127.0.0.1"), port };
}

function readPem(path: string, flag: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch (error) {
    throw new ConfigError(`${flag} ${path}: cannot read (${(error as NodeJS.ErrnoException).code ?? "error"})`);
  }
}

export interface ServerCore {
  holder: BundleHolder;
  access: AccessService;
  audit: AuditLog;
  minter: TokenMinter;
  /** Minted-token revocations: the server state (shared by every replica on one Redis or SQLite file). */
  revocations: ServerState;
  /** Shares, captured secrets, revocations and leases (SQLite beside the bundle, or Redis). */
  state: ServerState;
  /** The 32-byte key that seals captured secrets at rest (src/state/seal.ts); replicas share its file. */
  stateKey: Buffer;
  /** Stops the sweep timers and closes the state. */
  closeState(): Promise<void>;
  /** Dynamic-secret leases held per token (src/server/leases.ts). */
  leases: ServerLeases;
}

/** How often expired shares, tombstones, captured secrets and revocations are swept out (SQLite). */
const SWEEP_INTERVAL_MS = 60_000;

/** The parts every front door shares: the bundle (with reloads), minter, state, audit, access. */
export async function buildCore(bundlePath: string, publicUrl: string, metrics: Metrics): Promise<ServerCore> {
  // Minted tokens are for the same audience(s) the bundle's issuers name, signed with the bundle's
  // minting key when it names one (so replicas verify each other's tokens); state and its key are fixed
  // at start too (a reload does not move them).
  const initial = loadBundle(bundlePath);
  const audiences = [...new Set(initial.issuers.flatMap((i) => i.audience))];
  const minter = await createMinter({
    issuer: publicUrl,
    audience: audiences.length ? audiences : ["keyzero"],
    ...(initial.tokens.signingKeyFile ? { signingKeyFile: initial.tokens.signingKeyFile } : {}),
  });
  const stateKey = loadOrCreateStateKey(initial.state.keyFile);
  const state = await openState(initial.state, { log });
  const sweep = setInterval(() => {
    state.sweep().catch((error: Error) => log(`state sweep failed: ${String(error.message).split("\n")[0]}`));
  }, SWEEP_INTERVAL_MS);
  sweep.unref();
  const closeState = async () => {
    clearInterval(sweep);
    await state.close();
  };
  let holder: BundleHolder;
  try {
    holder = await BundleHolder.load(bundlePath, { minter, revocations: state }, metrics, log);
  } catch (error) {
    await closeState();
    throw error;
  }
  // The audit log and its chain key are fixed at start (a reload does not move them); the key file is
  // created on first start, and one that cannot be read stops the server here.
  const { path: auditPath, keyFile } = holder.current.set.bundle.audit;
  const audit = new AuditLog(auditPath, loadOrCreateAuditKey(keyFile));
  const access = new AccessService(() => holder.current, audit, metrics, log);
  // Dynamic-secret leases per token: recorded in the state, revoked with the token or at its exp.
  const leases = new ServerLeases(state, () => holder.current, audit, log);
  access.attachLeases(leases);
  const closeAll = async () => {
    leases.close();
    await closeState();
  };
  return { holder, access, audit, minter, revocations: state, state, stateKey, closeState: closeAll, leases };
}

export async function startServer(options: ServeOptions): Promise<RunningServer> {
  const { host, port } = options.listen;
  if (!options.tls && !isLoopbackName(host) && !options.allowPlaintext) {
    throw new UsageError(`--listen ${host}: a non-loopback address needs --tls-cert and --tls-key (or --allow-plaintext behind a TLS-terminating proxy)`);
  }
  const scheme = options.tls ? "https" : "http";
  const metrics = new Metrics();

  // Bind first: the minted tokens' issuer is this server's URL, which needs the port when it is 0.
  let handler: ((request: Request, client: string) => Response | Promise<Response>) | undefined;
  const tls = options.tls ? { cert: readPem(options.tls.certFile, "--tls-cert"), key: readPem(options.tls.keyFile, "--tls-key") } : undefined;
  let server: ReturnType<typeof Bun.serve>;
  try {
    server = listen();
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? "";
    const why = code === "EADDRINUSE" || /in use/i.test(String((error as Error).message)) ? "the address is in use (pick another --listen port)" : String((error as Error).message).split("\n")[0];
    throw new KzError(`cannot listen on ${host}:${port}: ${why}`);
  }
  function listen() {
    return Bun.serve({
      hostname: host,
      port,
      maxRequestBodySize: 4 * 1024 * 1024,
      ...(tls ? { tls } : {}),
      fetch(request, srv) {
        const client = srv.requestIP(request)?.address ?? "unknown";
        if (!handler) return new Response('{"error":{"code":"starting","message":"the server is starting"}}', { status: 503 });
        return handler(request, client);
      },
    });
  }

  const shownHost = host.includes(":") ? `[${host}]` : host;
  const url = `${scheme}://${shownHost}:${server.port}`;
  const publicUrl = (options.publicUrl ?? url).replace(/\/+$/, "");

  try {
    const core = await buildCore(options.bundlePath, publicUrl, metrics);
    const { holder, access, audit, minter, revocations } = core;
    const bundle = holder.current.set.bundle;
    let mcp: Parameters<typeof createApp>[0]["mcp"];
    if (options.mcp) {
      const { mountMcp } = await import("./mcp-mount.ts");
      mcp = mountMcp(access, () => holder.current, publicUrl, core);
    }
    const app = createApp({ access, state: () => holder.current, metrics, audit, minter, revocations, version: options.version, log, mcp, shares: { state: core.state, publicUrl }, leases: core.leases });
    handler = (request, client) => app.fetch(request, { client });

    holder.watch();
    const onHup = () => void holder.reload("SIGHUP");
    process.on("SIGHUP", onHup);
    log(
      `listening on ${url}${options.mcp ? ` (MCP at ${publicUrl}/mcp)` : ""} — bundle ${bundle.file}: ${bundle.secrets.length} secrets, ${bundle.policies.length} policies; audit → ${bundle.audit.path}; state → ${bundle.state.kind === "redis" ? redactUrl(bundle.state.url) : bundle.state.path}`,
    );
    return {
      url,
      async stop() {
        process.off("SIGHUP", onHup);
        holder.close();
        await server.stop();
        if (options.mcp) await (await import("../mcp/index.ts")).closeMcpConnections(access);
        audit.close();
        await core.closeState();
      },
    };
  } catch (error) {
    await server.stop(true);
    throw error;
  }
}
