// Approval of blind-mode bindings (direnv's model): kz keeps, per project and --env, the bindings the user
// approved, in $XDG_CONFIG_HOME/keyzero/allowed/<sha256 of the config's absolute path>.json (0600 files in a
// 0700 folder that the sandbox hides from the command, so an agent cannot approve its own change). Before a
// blind run uses the bindings, requireApproval compares them with the approved set: when they differ — or
// none was ever approved — a terminal shows the difference and asks y/N; anything else refuses (exit 3),
// pointing at `kz allow --diff` and `kz allow`.

import { createHash } from "node:crypto";
import { chmodSync, closeSync, mkdirSync, openSync, readFileSync, readSync, renameSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { isAbsolute, join } from "node:path";
import { type BindingChange, type Bindings, type SecretBinding, bindingsOf, diffBindings, fingerprint, formatChange, secretBinding } from "../config/bindings.ts";
import { displayPath, parseTomlFile } from "../config/load.ts";
import { DocValidator } from "../config/schema.ts";
import { locateKey } from "../config/locate.ts";
import type { KzConfig } from "../config/types.ts";
import { ExitCode, KzError } from "../errors.ts";
import { isTerminal, writeStderr } from "../stdio.ts";

type Env = Record<string, string | undefined>;

interface ApprovedSet {
  fingerprint: string;
  bindings: Bindings;
  approved_at: string;
}

interface ApprovalFile {
  config: string;
  /** By --env name ("" for none). */
  envs: Record<string, ApprovedSet>;
}

export interface ApprovalState {
  config: KzConfig;
  /** The approval file (whether or not it exists yet). */
  file: string;
  current: Bindings;
  fingerprint: string;
  approved?: ApprovedSet;
  /** Set when the approval file exists but cannot be used (unreadable, malformed): treated as none. */
  problem?: string;
  changes: BindingChange[];
  upToDate: boolean;
}

export function approvalDir(env: Env = process.env): string {
  return join(env.XDG_CONFIG_HOME || join(env.HOME || homedir(), ".config"), "keyzero", "allowed");
}

export function approvalFile(configPath: string, env: Env = process.env): string {
  return join(approvalDir(env), `${createHash("sha256").update(configPath).digest("hex")}.json`);
}

/** The effective bindings of `config`, what was approved for it, and the difference. */
export function approvalState(config: KzConfig, env: Env = process.env): ApprovalState {
  const { bindings, origins } = bindingsOf(config, { upstreamCa: upstreamCa(config, env), settingOrigin: settingOrigin(config) });
  const base = config.files.length > 1 ? mainFileBindings(config) : undefined;
  const file = approvalFile(config.path, env);
  let approved: ApprovedSet | undefined;
  let problem: string | undefined;
  try {
    const stored = JSON.parse(readFileSync(file, "utf8")) as ApprovalFile;
    approved = stored.config === config.path ? stored.envs?.[config.env ?? ""] : undefined;
    if (approved && (typeof approved.fingerprint !== "string" || typeof approved.bindings?.secrets !== "object")) {
      [approved, problem] = [undefined, "malformed"];
    }
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code !== "ENOENT") problem = code ?? "malformed";
  }
  const print = fingerprint(bindings);
  const upToDate = approved !== undefined && approved.fingerprint === print && fingerprint(approved.bindings) === print;
  return { config, file, current: bindings, fingerprint: print, approved, problem, changes: upToDate ? [] : diffBindings(approved?.bindings, bindings, origins, base), upToDate };
}

/** Records the current bindings as approved (atomically; 0600 file in a 0700 folder). */
export function recordApproval(state: ApprovalState, env: Env = process.env): void {
  const dir = approvalDir(env);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  chmodSync(dir, 0o700);
  let stored: ApprovalFile = { config: state.config.path, envs: {} };
  try {
    const prior = JSON.parse(readFileSync(state.file, "utf8")) as ApprovalFile;
    if (prior.config === state.config.path && typeof prior.envs === "object" && prior.envs) stored = prior;
  } catch {
    // none yet, or unusable: start afresh
  }
  stored.envs[state.config.env ?? ""] = { fingerprint: state.fingerprint, bindings: state.current, approved_at: new Date().toISOString() };
  const tmp = `${state.file}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(stored, null, 2)}\n`, { mode: 0o600 });
  renameSync(tmp, state.file);
}

/** Where the bindings live, as the user reads it: ".keyzero.toml (env prod)". */
export function describeProject(config: KzConfig): string {
  return `${displayPath(config.path)}${config.env ? ` (env ${config.env})` : ""}`;
}

/** The heading and change lines shown before a prompt or by `kz allow`. */
export function formatApproval(state: ApprovalState): string {
  const where = describeProject(state.config);
  const heading = state.approved
    ? `the blind-mode bindings of ${where} changed since you approved them:`
    : `the blind-mode bindings of ${where} have not been approved${state.problem ? ` (the approval file is unusable: ${state.problem})` : " (first blind run here)"}:`;
  const lines = state.changes.flatMap(formatChange).map((l) => `  ${l}`);
  if (lines.length === 0) lines.push("  (no secrets and no settings)");
  return `${heading}\n${lines.join("\n")}\n`;
}

/**
 * Before a blind run: returns when the effective bindings are approved (asking on a terminal, and then
 * recording the yes); otherwise throws a KzError with exit 3 and nothing is started.
 */
export function requireApproval(config: KzConfig, env: Env = process.env): void {
  const state = approvalState(config, env);
  if (state.upToDate) return;
  const where = describeProject(state.config);
  if (!isTerminal(0) || !isTerminal(2)) {
    const why = state.approved ? "changed since they were approved" : "have not been approved";
    throw new KzError(
      `the blind-mode bindings of ${where} ${why}; nothing was started — review them with \`kz allow --diff${envFlag(config)}\`, then run \`kz allow${envFlag(config)}\``,
      ExitCode.config,
    );
  }
  writeStderr(`kz: ${formatApproval(state)}`);
  writeStderr("Approve these bindings and run? [y/N] ");
  const answer = readTerminalLine();
  if (!/^\s*y(es)?\s*$/i.test(answer)) throw new KzError(`bindings not approved; nothing was started`, ExitCode.config);
  recordApproval(state, env);
}

function envFlag(config: KzConfig): string {
  return config.env ? ` --env ${config.env}` : "";
}

/** One line typed on the controlling terminal (not whatever was piped to stdin). */
function readTerminalLine(): string {
  let fd: number;
  try {
    fd = openSync("/dev/tty", "r");
  } catch {
    return ""; // no controlling terminal: no answer, so no
  }
  const bytes: number[] = [];
  const one = Buffer.alloc(1);
  try {
    while (bytes.length < 256) {
      let n: number;
      try {
        n = readSync(fd, one, 0, 1, null);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === "EAGAIN") continue;
        break;
      }
      if (n === 0 || one[0] === 0x0a) break;
      bytes.push(one[0]!);
    }
  } finally {
    closeSync(fd);
  }
  return Buffer.from(bytes).toString("utf8");
}

/** The upstream CA blind mode would trust, by path and digest (the file could change under the same path). */
function upstreamCa(config: KzConfig, env: Env): { path: string; sha256: string } | undefined {
  const path = config.blind.upstreamCa ?? env.KZ_UPSTREAM_CA;
  if (!path) return undefined;
  const full = isAbsolute(path) ? path : join(config.dir, path);
  try {
    return { path: full, sha256: createHash("sha256").update(readFileSync(full)).digest("hex") };
  } catch {
    return { path: full, sha256: "unreadable" };
  }
}

/** The secrets as the main file alone defines them (its --env overlay included): what a local override overrides. */
function mainFileBindings(config: KzConfig): Record<string, SecretBinding> {
  const main = config.files[0]!;
  const { doc, text } = parseTomlFile(main, displayPath(main));
  const validated = new DocValidator({ file: displayPath(main), text }).document(doc);
  const specs = new Map([...validated.secrets, ...(config.env ? (validated.envs.get(config.env)?.secrets ?? []) : [])]);
  return Object.fromEntries([...specs].map(([name, spec]) => [name, secretBinding(spec)]));
}

/** Where a setting is written: the local override first (it wins), then the main file. */
function settingOrigin(config: KzConfig): (path: string[]) => string | undefined {
  const texts = [...config.files].reverse().map((file) => {
    try {
      return { file, text: readFileSync(file, "utf8") };
    } catch {
      return { file, text: "" };
    }
  });
  return (path) => {
    for (const { file, text } of texts) {
      const line = locateKey(text, path) ?? (path.length > 2 ? locateKey(text, path.slice(0, 2)) : undefined);
      if (line) return `${displayPath(file)}:${line}`;
    }
    return undefined;
  };
}
