// Closes kz's own process to other processes of the same user: on Linux, PR_SET_DUMPABLE 0 makes
// /proc/<pid>/mem, environ, maps and ptrace attach root-only, so an agent running as the same user cannot
// read the values kz resolved out of its memory or an env provider's source out of its environment.
// Called first thing in every mode (kz run, the server, the sandbox's init).
// prctl is reached through Bun's native FFI binding (Bun.FFI.dlopen, what the bun:ffi module wraps):
// loading the bun:ffi module costs ~1.3 ms of every start-up (measured in the compiled binary). The
// binding is not a documented API, so the flag is read back with PR_GET_DUMPABLE, and bun:ffi is the
// fallback when the binding is missing, throws or the flag did not take.

const PR_SET_DUMPABLE = 4;
const PR_GET_DUMPABLE = 3;
/** bun:ffi's FFIType.i32 and FFIType.u64 (test/harden.test.ts checks them against bun:ffi). */
export const FFI_I32 = 5;
export const FFI_U64 = 8;

type Prctl = (option: number, arg2: number) => number;
const signature = { prctl: { args: [FFI_I32, FFI_U64, FFI_U64, FFI_U64, FFI_U64], returns: FFI_I32 } };

type Binding = { dlopen(path: string, symbols: typeof signature): { symbols: { prctl: (...args: number[]) => number } } };

/** prctl through Bun's native binding, or undefined where this Bun has none. */
export function nativePrctl(): Prctl | undefined {
  const binding = (Bun as unknown as { FFI?: Partial<Binding> }).FFI;
  if (typeof binding?.dlopen !== "function") return undefined;
  const lib = (binding as Binding).dlopen("libc.so.6", signature);
  return (option, arg2) => lib.symbols.prctl(option, arg2, 0, 0, 0);
}

/** prctl through the bun:ffi module. */
export function moduleFfiPrctl(): Prctl {
  const { dlopen } = require("bun:ffi") as typeof import("bun:ffi");
  const lib = dlopen("libc.so.6", signature);
  return (option, arg2) => lib.symbols.prctl(option, arg2, 0, 0, 0) as number;
}

let prctl: Prctl | undefined;

/** Marks this process non-dumpable, checked by reading the flag back; false where that is not possible (not Linux, no libc). */
export function closeOwnProcess(ways: (() => Prctl | undefined)[] = [nativePrctl, moduleFfiPrctl]): boolean {
  if (process.platform !== "linux") return false;
  for (const way of ways) {
    try {
      const call = way();
      if (call && call(PR_SET_DUMPABLE, 0) === 0 && call(PR_GET_DUMPABLE, 0) === 0) {
        prctl = call;
        return true;
      }
    } catch {
      // the next way
    }
  }
  return false;
}

/** Whether this process is dumpable (for tests and `kz run --print-env`-style diagnostics). */
export function isDumpable(): boolean {
  if (process.platform !== "linux") return true;
  prctl ??= nativePrctl() ?? moduleFfiPrctl();
  return prctl(PR_GET_DUMPABLE, 0) === 1;
}
