// The `op` CLI backend of the 1password provider: one `op read --no-newline <ref>` child per secret
// (children run concurrently), with kz's environment passed through so OP_SERVICE_ACCOUNT_TOKEN or a
// signed-in session works. op's failures become one-line reasons; its stdout never appears in them.

import { isAbsolute, resolve } from "node:path";
import type { OnePasswordBackend, OpRef } from "./onepassword.ts";
import { ProviderError } from "./types.ts";

export interface CliOptions {
  /** `op_path` setting: a command name looked up on PATH, or a path (relative to the config dir). */
  opPath?: string;
  account?: string;
  env: Record<string, string | undefined>;
  configDir: string;
}

const NOT_ON_PATH = "the 1Password CLI `op` is not on PATH — install it or set [providers.1password] connect_host";
const NOT_SIGNED_IN = "the 1Password CLI is not signed in — run `op signin` or set OP_SERVICE_ACCOUNT_TOKEN";

/** op prefixes its errors with `[ERROR] 2024/01/01 12:00:00 `. */
const ERROR_LINE = /^\[ERROR\]\s+(?:\d{4}\/\d{2}\/\d{2} \d{2}:\d{2}:\d{2}\s+)?(.*)$/;
const SIGNED_OUT =
  /not currently signed in|account is not signed in|no accounts configured|session expired|sign ?in again|authorization prompt dismissed|invalid session/i;
const MAX_REASON = 300;

export function createCliBackend(options: CliOptions): OnePasswordBackend {
  let executable: string | undefined;
  return {
    async read(ref, signal) {
      executable ??= findExecutable(options);
      const stdout = await runOpRead([executable, ...opReadArgs(ref, options.account)], options.env, signal);
      return stdout.replace(/\r?\n$/, "");
    },
  };
}

export function opReadArgs(ref: OpRef, account: string | undefined): string[] {
  return ["read", "--no-newline", ...(account !== undefined ? ["--account", account] : []), ref.text];
}

function findExecutable({ opPath, env, configDir }: CliOptions): string {
  if (opPath === undefined) return Bun.which("op", { PATH: env.PATH ?? "" }) ?? fail(NOT_ON_PATH);
  if (!opPath.includes("/")) {
    return Bun.which(opPath, { PATH: env.PATH ?? "" }) ?? fail(`op_path "${opPath}" is not on PATH — fix [providers.1password] op_path`);
  }
  const path = isAbsolute(opPath) ? opPath : resolve(configDir, opPath);
  return Bun.which(path) ?? fail(`op_path ${path} does not exist or is not executable — fix [providers.1password] op_path`);
}

function fail(reason: string): never {
  throw new ProviderError(reason);
}

async function runOpRead(argv: string[], env: CliOptions["env"], signal: AbortSignal): Promise<string> {
  signal.throwIfAborted();
  let child: Bun.Subprocess<"ignore", "pipe", "pipe">;
  try {
    child = Bun.spawn(argv, { env: definedOnly(env), stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  } catch (e) {
    throw new ProviderError(`cannot start ${argv[0]}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  const kill = () => child.kill();
  signal.addEventListener("abort", kill, { once: true });
  try {
    const [stdout, stderr, exitCode] = await Promise.all([
      new Response(child.stdout).text(),
      new Response(child.stderr).text(),
      child.exited,
    ]);
    signal.throwIfAborted();
    if (exitCode !== 0) throw new ProviderError(describeOpFailure(stderr, exitCode, child.signalCode));
    return stdout;
  } finally {
    signal.removeEventListener("abort", kill);
  }
}

function definedOnly(env: CliOptions["env"]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(env)) if (value !== undefined) out[name] = value;
  return out;
}

/** One line saying why `op read` failed, from its stderr (never its stdout). */
export function describeOpFailure(stderr: string, exitCode: number, signalCode: string | number | null = null): string {
  const lines = stderr.split(/\r?\n/).map((l) => l.trim()).filter((l) => l !== "");
  const opError = lines.map((l) => ERROR_LINE.exec(l)?.[1]).find((m) => m !== undefined);
  const said = opError ?? lines[0];
  if (said !== undefined && SIGNED_OUT.test(said)) return NOT_SIGNED_IN;
  if (opError !== undefined) return `1Password CLI: ${clip(opError)}`;
  const how = signalCode ? `was killed by ${signalCode}` : `exited with status ${exitCode}`;
  return `op read ${how}${said !== undefined ? `: ${clip(said)}` : ""}`;
}

function clip(text: string): string {
  return text.length > MAX_REASON ? `${text.slice(0, MAX_REASON)}…` : text;
}
