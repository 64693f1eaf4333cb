// Maps how a child ended to kz's exit status, the shell's way: its exit code, or 128+N when it was
// killed by signal N.

// node:os loads only for a child killed by a named signal (it is ~0.5 ms of every run's start-up).

export function signalNumber(signal: string): number {
  const { constants } = require("node:os") as typeof import("node:os");
  return (constants.signals as Record<string, number>)[signal] ?? 0;
}

export function exitStatusOf(exitCode: number | null, signalCode: string | number | null): number {
  if (typeof signalCode === "number") return 128 + signalCode;
  if (signalCode) return 128 + signalNumber(signalCode);
  return exitCode ?? 1;
}
