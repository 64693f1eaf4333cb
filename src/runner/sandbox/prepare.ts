// "Wrap this command in a sandbox": picks the platform's mechanism (Linux: bubblewrap; macOS:
// sandbox-exec), turns the policy into its arguments, starts the `network = "proxy"` relays, and gives
// back the argv to spawn plus stop(), which closes the relays and removes the run's private folder and
// any placeholder it had to create. When no mechanism works it throws one line saying what to install
// or to pass --no-sandbox — a run is never silently unsandboxed.

import { chmodSync, closeSync, existsSync, mkdirSync, mkdtempSync, openSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import type { KzConfig } from "../../config/types.ts";
import { ExitCode, KzError } from "../../errors.ts";
import { bwrapArgs, probeBubblewrap } from "./bubblewrap.ts";
import { findTrustedTool } from "./trusted-tool.ts";
import { DirectControl, directShim, FORWARDED, InitControl, type SandboxControl } from "./control.ts";
import { chooseLinuxMechanism } from "./mechanism.ts";
import { findNamespacesTools, mountPlan, namespacesArgs, namespacesFailure, probeNamespaces } from "./namespaces.ts";
import { kzPrivateDirs, sandboxPolicy, type SandboxPolicy } from "./policy.ts";
import { listenUnixToTcp, type Listening } from "./relay.ts";
import { seatbeltProfile } from "./seatbelt.ts";

type Env = Record<string, string | undefined>;

export type NetworkMode = "open" | "proxy";

export interface TcpAllowance {
  host: string;
  port: number;
}

export interface SandboxRequest {
  config: KzConfig;
  env: Env;
  cwd: string;
  auditPath?: string;
  network: NetworkMode;
  /** The blind proxy's loopback port, reachable from inside in `proxy` mode. */
  proxyPort?: number;
  allowTcp: TcpAllowance[];
  /** kz gives the command no pty of its own and shares the user's terminal: detach it (no TIOCSTI). */
  newSession: boolean;
  /** Called for each relayed `allow_tcp` connection (for the audit log). */
  onTcp?: (destination: string) => void;
  platform?: NodeJS.Platform;
}

export interface PreparedSandbox {
  mechanism: "bubblewrap" | "namespaces" | "sandbox-exec";
  /** The argv to spawn in place of the command. */
  command: string[];
  /** How kz signals the command and learns it started (Linux; macOS's sandbox-exec execs it directly). */
  control?: SandboxControl;
  policy: SandboxPolicy;
  stop(): void;
  /** The one-line reason when the command was not started, where the mechanism knows it better. */
  whyNotStarted?: () => string;
}

export class SandboxError extends KzError {
  constructor(message: string) {
    super(message, ExitCode.sandbox);
  }
}

/** How to start kz itself inside the sandbox (the compiled binary, or bun + main.ts from source). */
function kzCommand(): string[] {
  return Bun.main.startsWith("/$bunfs/") || Bun.main === process.execPath ? [process.execPath] : [process.execPath, Bun.main];
}

/** bwrap ignores the signals kz forwards itself, so a terminal's ^C cannot kill it before the command. */
function ignoringSignals(argv: string[]): string[] {
  return ["/usr/bin/env", `--ignore-signal=${FORWARDED}`, ...argv];
}

/**
 * kz's private folders and the audit log must exist before the run: absent, the command could create
 * (and plant) them, and only an existing path can be mounted read-only.
 */
function ensurePrivatePaths(env: Env, auditPath: string | undefined): void {
  for (const dir of kzPrivateDirs(env)) mkdirSync(dir, { recursive: true, mode: 0o700 });
  if (auditPath) {
    mkdirSync(dirname(auditPath), { recursive: true, mode: 0o700 });
    closeSync(openSync(auditPath, "a", 0o600));
  }
}

function privateFolder(): string {
  const dir = mkdtempSync(join(tmpdir(), "kz-sandbox-"));
  chmodSync(dir, 0o700);
  return dir;
}

/** An empty file nobody may read: bound over hidden files and over paths that must not be created. */
function makePlaceholder(dir: string): string {
  const path = join(dir, "hidden");
  closeSync(openSync(path, "w", 0o000));
  chmodSync(path, 0o000);
  return path;
}

function loopbackListenHost(host: string): string {
  return host === "localhost" ? "127.0.0.1" : host.replace(/^\[|\]$/g, "");
}

export function prepareSandbox(request: SandboxRequest, command: string[]): PreparedSandbox {
  const platform = request.platform ?? process.platform;
  if (platform === "darwin") return prepareSeatbelt(request, command);
  if (platform !== "linux") {
    throw new SandboxError(`the sandbox is not available on ${platform}; run with --no-sandbox to go without it (the command can then read kz's store)`);
  }
  // bubblewrap, else kz's own namespaces (util-linux unshare), else a refusal (mechanism.ts).
  const mechanism = chooseLinuxMechanism(request.env);
  if ("refusal" in mechanism) throw new SandboxError(mechanism.refusal);
  ensurePrivatePaths(request.env, request.auditPath);
  const policy = sandboxPolicy({ config: request.config, env: request.env, auditPath: request.auditPath, cwd: request.cwd });
  const dir = privateFolder();
  const created = policy.noCreate.filter((p) => !existsSync(p));
  const listening: Listening[] = [];
  const stop = () => {
    for (const l of listening) l.stop();
    listening.length = 0;
    removePlaceholders(created);
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const placeholder = makePlaceholder(dir);
    const relayArgs: string[] = [];
    if (request.network === "proxy") {
      if (request.proxyPort) {
        const socket = join(dir, "proxy.sock");
        listening.push(listenUnixToTcp(socket, "127.0.0.1", request.proxyPort));
        relayArgs.push("--relay", `127.0.0.1:${request.proxyPort}=${socket}`);
      }
      request.allowTcp.forEach((allowed, i) => {
        const socket = join(dir, `tcp-${i}.sock`);
        const host = loopbackListenHost(allowed.host);
        const destination = `${allowed.host}:${allowed.port}`;
        listening.push(listenUnixToTcp(socket, host, allowed.port, () => request.onTcp?.(destination)));
        relayArgs.push("--relay", `${host.includes(":") ? `[${host}]` : host}:${allowed.port}=${socket}`);
      });
    }
    if (mechanism.name === "namespaces") {
      const restartAs = relayArgs.length > 0 ? kzCommand() : undefined; // the relays run without capabilities
      const opts = { tools: mechanism.tools, policy, placeholder, isolateNetwork: request.network === "proxy", newSession: request.newSession, restartAs };
      const planPath = join(dir, "mount-plan.json");
      writeFileSync(planPath, JSON.stringify(mountPlan(opts)), { mode: 0o600 });
      const init = [...kzCommand(), "__sandbox-init", "--mount-plan", planPath, ...relayArgs, "--", ...command];
      const argv = ignoringSignals(namespacesArgs(opts, init));
      return { mechanism: "namespaces", command: argv, control: new InitControl(), policy, stop, whyNotStarted: () => namespacesFailure(planPath, opts.tools, opts.isolateNetwork) };
    }
    const bwrap = mechanism.bwrap;
    // Open network: no kz process inside (see control.ts); proxy mode: kz's init runs the relays.
    const viaInit = request.network === "proxy";
    const control = viaInit ? new InitControl() : new DirectControl();
    const inner = viaInit ? [...kzCommand(), "__sandbox-init", ...relayArgs, "--", ...command] : directShim(command);
    const args = bwrapArgs(
      { policy, placeholder, isolateNetwork: viaInit, newSession: request.newSession, cwd: request.cwd, infoFd: viaInit ? undefined : 3 },
      inner,
    );
    return { mechanism: "bubblewrap", command: ignoringSignals([bwrap, ...args]), control, policy, stop };
  } catch (error) {
    stop();
    throw error;
  }
}

/** Removes the empty placeholders bwrap created as mount points for absent paths. */
function removePlaceholders(paths: string[]): void {
  for (const path of paths) {
    try {
      if (statSync(path).size === 0) rmSync(path, { force: true });
    } catch {
      // already gone
    }
  }
}

/** Why the sandbox failed to come up, for the one-line error after a bwrap that never started the command. */
export function explainFailure(env: Env): string {
  const reason = probeBubblewrap(findTrustedTool("bwrap", env).path ?? null);
  if (!reason) return "the sandbox did not start the command (see bwrap's message above)";
  // Where bwrap is broken but kz's own namespaces work (namespaces.ts), say so: it is one variable away.
  const tools = findNamespacesTools(env);
  if (typeof tools !== "string" && !probeNamespaces(tools, false)) return `no sandbox: ${reason} — kz's own namespaces work here: set KZ_SANDBOX_MECHANISM=namespaces, or run with --no-sandbox`;
  return `no sandbox: ${reason} — on Ubuntu 24.04+ use the distribution's bubblewrap package (it carries the AppArmor profile user namespaces need), or run with --no-sandbox`;
}

function prepareSeatbelt(request: SandboxRequest, command: string[]): PreparedSandbox {
  const sandboxExec = "/usr/bin/sandbox-exec";
  if (!existsSync(sandboxExec)) throw new SandboxError("no sandbox: /usr/bin/sandbox-exec is missing; run with --no-sandbox to go without it");
  ensurePrivatePaths(request.env, request.auditPath);
  const policy = sandboxPolicy({ config: request.config, env: request.env, auditPath: request.auditPath, cwd: request.cwd });
  const profile = seatbeltProfile({ policy, network: request.network, proxyPort: request.proxyPort, allowTcp: request.allowTcp });
  return { mechanism: "sandbox-exec", command: [sandboxExec, "-p", profile, ...command], policy, stop: () => {} };
}
