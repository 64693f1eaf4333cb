// `kz __sandbox-init`: the first process inside the sandbox (PID 1 of its PID namespace). bubblewrap does
// not forward signals, so kz sends them here over a control pipe (fd 3, one signal name a line) and this
// process passes them on to the command; it starts the `network = "proxy"` relays before the command,
// reports "ready" on fd 4 so kz can tell a sandbox that never came up from a command that failed, reaps,
// and exits with the command's status. It holds no secret: its environment is the command's.
//
//   kz __sandbox-init [--mount-plan FILE] [--relay HOST:PORT=SOCKET]… -- COMMAND [ARGS…]

import { createReadStream, writeSync } from "node:fs";
import { ExitCode, KzError } from "../../errors.ts";
import { isTerminal, writeStderr } from "../../stdio.ts";
import { exitStatusOf } from "../exit-status.ts";
import { spawnError } from "../spawn-error.ts";
import { listenTcpToUnix, type Listening } from "./relay.ts";

export const CONTROL_FD = 3;
export const FORWARDED_SIGNALS = ["SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2"] as const;
const TERMINAL_SIGNALS = new Set<string>(["SIGINT", "SIGQUIT"]);

export interface InitArgs {
  relays: { hostname: string; port: number; socket: string }[];
  /** The "namespaces" mechanism's mount plan (mounts.ts), applied before anything else. */
  mountPlan?: string;
  command: string[];
}

/** Parses the init's own argv (kz writes it; a malformed one is a bug, not user input). */
export function parseInitArgs(argv: string[]): InitArgs {
  const relays: InitArgs["relays"] = [];
  let mountPlan: string | undefined;
  let i = 0;
  for (; i < argv.length && argv[i] !== "--"; i++) {
    if (argv[i] === "--mount-plan") {
      mountPlan = argv[++i];
      continue;
    }
    if (argv[i] !== "--relay") throw new KzError(`sandbox init: unexpected argument ${JSON.stringify(argv[i])}`);
    const spec = argv[++i] ?? "";
    const match = /^(\[[^\]]+\]|[^:]+):(\d+)=(.+)$/.exec(spec);
    if (!match) throw new KzError(`sandbox init: bad relay ${JSON.stringify(spec)}`);
    relays.push({ hostname: match[1]!.replace(/^\[|\]$/g, ""), port: Number(match[2]), socket: match[3]! });
  }
  const command = argv.slice(i + 1);
  if (command.length === 0) throw new KzError("sandbox init: no command");
  return { relays, mountPlan, command };
}

/** Runs the command; resolves to the exit status to leave with. */
export async function sandboxInit(argv: string[]): Promise<number> {
  let listening: Listening[] = [];
  try {
    const args = parseInitArgs(argv);
    // Mounts, loopback, then the command without capabilities; a failure ends the init here (exit 5).
    if (args.mountPlan) args.command = (require("./mounts.ts") as typeof import("./mounts.ts")).enterMountPlan(args.mountPlan, args.command);
    listening = args.relays.map((r) => listenTcpToUnix(r.hostname, r.port, r.socket));
    const [file, ...rest] = args.command;
    const resolved = Bun.which(file!, { PATH: process.env.PATH ?? "" }) ?? file!;
    let child: Bun.Subprocess | undefined;
    // Handlers first: the command then starts with these signals at their defaults, not ignored as
    // they are in bwrap (a Python started with SIGINT ignored would never raise KeyboardInterrupt).
    const sharesTerminal = isTerminal(0);
    for (const signal of FORWARDED_SIGNALS) {
      // Terminal-made ^C and ^\ reached the command from the terminal already.
      process.on(signal, () => {
        if (!(sharesTerminal && TERMINAL_SIGNALS.has(signal))) child?.kill(signal);
      });
    }
    writeSync(CONTROL_FD, "ready\n");
    try {
      child = Bun.spawn([resolved, ...rest], { stdio: ["inherit", "inherit", "inherit"], env: process.env as Record<string, string> });
    } catch (error) {
      throw spawnError(file!, error);
    }
    followControl((signal) => child?.kill(signal));
    await child.exited;
    return exitStatusOf(child.exitCode, child.signalCode);
  } catch (error) {
    writeStderr(`kz: error: ${error instanceof KzError ? error.message : (error as Error).message}\n`);
    return error instanceof KzError ? error.exitCode : ExitCode.failure;
  } finally {
    for (const l of listening) l.stop();
  }
}

/** Signal names from kz, a line each; unknown names are ignored. */
function followControl(deliver: (signal: NodeJS.Signals) => void): void {
  let pending = "";
  const stream = createReadStream("", { fd: CONTROL_FD, encoding: "utf8" });
  stream.on("data", (chunk) => {
    pending += chunk;
    let newline: number;
    while ((newline = pending.indexOf("\n")) >= 0) {
      const name = pending.slice(0, newline);
      pending = pending.slice(newline + 1);
      if ((FORWARDED_SIGNALS as readonly string[]).includes(name)) deliver(name as NodeJS.Signals);
    }
  });
  stream.on("error", () => {});
}
