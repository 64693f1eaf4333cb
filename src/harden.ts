// Closes kz's own process to other processes of the same user: on Linux, PR_SET_DUMPABLE 0 makes
// /proc/<pid>/mem, environ, maps and ptrace attach root-only, so an agent running as the same user cannot
// read the values kz resolved out of its memory or an env provider's source out of its environment.
// Called first thing in every mode (kz run, the server, the sandbox's init). bun:ffi loads libc once.

import { dlopen, FFIType } from "bun:ffi";

const PR_SET_DUMPABLE = 4;
const PR_GET_DUMPABLE = 3;

let prctl: ((option: number, arg2: number) => number) | undefined;

function libc(): (option: number, arg2: number) => number {
  if (!prctl) {
    const lib = dlopen("libc.so.6", { prctl: { args: [FFIType.i32, FFIType.u64, FFIType.u64, FFIType.u64, FFIType.u64], returns: FFIType.i32 } });
    prctl = (option, arg2) => lib.symbols.prctl(option, arg2, 0, 0, 0);
  }
  return prctl;
}

/** Marks this process non-dumpable; returns false where that is not possible (not Linux, no libc). */
export function closeOwnProcess(): boolean {
  if (process.platform !== "linux") return false;
  try {
    return libc()(PR_SET_DUMPABLE, 0) === 0;
  } catch {
    return false;
  }
}

/** Whether this process is dumpable (for tests and `kz run --print-env`-style diagnostics). */
export function isDumpable(): boolean {
  return process.platform === "linux" ? libc()(PR_GET_DUMPABLE, 0) === 1 : true;
}
