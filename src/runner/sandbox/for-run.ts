// The sandbox `kz run` asks for: on by default with --blind (`[blind] sandbox`, `--no-sandbox` for one
// run), on request for a plain run (`--sandbox`); `network` from `--network` or `[blind] network`. Pure
// decision (`sandboxChoice`) plus the call that prepares it for the run's command.

import type { KzConfig } from "../../config/types.ts";
import { parseLoopbackAddress } from "../../config/schema.ts";
import { UsageError } from "../../errors.ts";
import { isTerminal } from "../../stdio.ts";
import { explainFailure, prepareSandbox, SandboxError, type NetworkMode, type PreparedSandbox } from "./prepare.ts";

export interface RunFlags {
  blind: boolean;
  sandbox: boolean;
  noSandbox: boolean;
  network?: string;
}

export interface SandboxChoice {
  enabled: boolean;
  network: NetworkMode;
  /** One warning line when a blind run goes without the sandbox. */
  warning?: string;
}

export function sandboxChoice(config: KzConfig, flags: RunFlags): SandboxChoice {
  if (flags.sandbox && flags.noSandbox) throw new UsageError("--sandbox and --no-sandbox contradict each other");
  if (flags.network !== undefined && flags.network !== "open" && flags.network !== "proxy") {
    throw new UsageError(`--network must be "open" or "proxy", not ${JSON.stringify(flags.network)}`);
  }
  const network = (flags.network ?? config.blind.network) as NetworkMode;
  const enabled = flags.noSandbox ? false : flags.sandbox || (flags.blind && config.blind.sandbox);
  if (!enabled && flags.network === "proxy") throw new UsageError("--network proxy needs the sandbox (drop --no-sandbox)");
  let warning: string | undefined;
  if (flags.blind && !enabled) {
    const why = flags.noSandbox ? "--no-sandbox" : `[blind] sandbox = false in ${config.path}`;
    warning = `blind: running WITHOUT the sandbox (${why}): the command can read kz's store and the backends' credential files`;
  }
  return { enabled, network: enabled ? network : "open", warning };
}

export interface RunSandbox extends PreparedSandbox {
  /** The command was detached from kz's terminal (own session). */
  detached: boolean;
  notStarted: () => Error;
}

export function sandboxForRun(
  config: KzConfig,
  choice: SandboxChoice,
  command: string[],
  opts: { masking: boolean; proxyPort?: number; auditPath?: string; onTcp?: (destination: string) => void },
): RunSandbox {
  // kz gives the command a pty of its own when it masks on a terminal; otherwise a command sharing the
  // user's terminal is put in its own session, so it cannot push keystrokes into the user's shell.
  const ownPty = opts.masking && isTerminal(0) && isTerminal(1);
  const detached = !ownPty && (isTerminal(0) || isTerminal(1) || isTerminal(2));
  const allowTcp = config.blind.allowTcp.map((entry) => parseLoopbackAddress(entry)!);
  const prepared = prepareSandbox(
    {
      config,
      env: process.env,
      cwd: process.cwd(),
      auditPath: opts.auditPath,
      network: choice.network,
      proxyPort: opts.proxyPort,
      allowTcp,
      newSession: detached,
      onTcp: opts.onTcp,
    },
    command,
  );
  return { ...prepared, detached, notStarted: () => new SandboxError(prepared.whyNotStarted?.() ?? explainFailure(process.env)) };
}
