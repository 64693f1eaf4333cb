// How kz talks to a command inside bubblewrap, which neither forwards signals nor says whether it got
// as far as starting the command. Two ways, over sockets kz hands the sandbox as fds 3 and up:
//   direct — `network = "open"`: bwrap writes its info (the outer PID of its PID-1 reaper) on fd 3, a
//            two-line shell shim writes "ready" on fd 4 and closes it before exec'ing the command; kz
//            signals the command itself, found as the reaper's child. No kz process inside: fastest.
//   init   — `network = "proxy"`: kz's own init (init.ts) is PID 1; fd 3 carries signal names to it and
//            "ready" back. It also runs the relays, which is why proxy mode needs it.
// Signals: bwrap is started with the forwarded signals ignored (a terminal's ^C must not kill it before
// the command sees it), and the command gets them back at their defaults (`env --default-signal`, or the
// init's own handlers, which exec resets).

import { closeSync, readdirSync, readFileSync, readSync, writeSync } from "node:fs";

export const FORWARDED = "INT,QUIT,TERM,HUP,USR1,USR2";

export interface SandboxControl {
  /** How many sockets to hand the sandbox, as fds 3, 4… */
  readonly fds: number;
  /** kz's ends of those sockets, once the sandbox is spawned. */
  attach(fds: number[]): void;
  /** Delivers a signal to the command. */
  signal(signal: NodeJS.Signals): void;
  /** After the sandbox has exited: whether the command was started in it. */
  started(): boolean;
}

/** Reads what is waiting on a socket without blocking. */
function drain(fd: number): string {
  let text = "";
  const buffer = Buffer.alloc(4096);
  for (;;) {
    let n: number;
    try {
      n = readSync(fd, buffer);
    } catch {
      break; // EAGAIN: nothing more now
    }
    if (n <= 0) break;
    text += buffer.subarray(0, n).toString();
  }
  return text;
}

function closeAll(fds: number[]): void {
  for (const fd of fds) {
    try {
      closeSync(fd);
    } catch {}
  }
}

/** The shim between bwrap and the command: says ready, closes that socket, restores signals, execs. */
export function directShim(command: string[]): string[] {
  return ["/bin/sh", "-c", `printf ready >&4; exec 4>&-; exec /usr/bin/env --default-signal=${FORWARDED} "$@"`, "sh", ...command];
}

/** The PID (in kz's namespace) of a process whose parent is `parent`, by /proc (no CONFIG_PROC_CHILDREN needed). */
export function childOf(parent: number): number | undefined {
  try {
    const listed = readFileSync(`/proc/${parent}/task/${parent}/children`, "utf8").trim().split(/\s+/)[0];
    if (listed) return Number(listed);
  } catch {}
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      if (ppid === parent) return Number(entry);
    } catch {}
  }
  return undefined;
}

export class DirectControl implements SandboxControl {
  readonly fds = 2;
  #fds: number[] = [];
  #info = "";
  #ready = "";

  attach(fds: number[]): void {
    this.#fds = fds;
  }

  #reaper(): number | undefined {
    this.#info += drain(this.#fds[0]!);
    const match = /"child-pid":\s*(\d+)/.exec(this.#info);
    return match ? Number(match[1]) : undefined;
  }

  signal(signal: NodeJS.Signals): void {
    const reaper = this.#reaper();
    const command = reaper ? childOf(reaper) : undefined;
    if (command === undefined) return; // not started yet, or already gone
    try {
      process.kill(command, signal);
    } catch {}
  }

  started(): boolean {
    this.#ready += drain(this.#fds[1]!);
    closeAll(this.#fds);
    return this.#ready.startsWith("ready");
  }
}

export class InitControl implements SandboxControl {
  readonly fds = 1;
  #fd = -1;

  attach(fds: number[]): void {
    this.#fd = fds[0]!;
  }

  signal(signal: NodeJS.Signals): void {
    try {
      writeSync(this.#fd, `${signal}\n`);
    } catch {}
  }

  started(): boolean {
    const said = drain(this.#fd);
    closeAll([this.#fd]);
    return said.startsWith("ready");
  }
}
