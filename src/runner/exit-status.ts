// Maps how a child ended to kz's exit status, the shell's way: its exit code, or 128+N when it was
// killed by signal N.

import { constants } from "node:os";

export function signalNumber(signal: string): number {
  return (constants.signals as Record<string, number>)[signal] ?? 0;
}

export function exitStatusOf(exitCode: number | null, signalCode: string | number | null): number {
  if (typeof signalCode === "number") return 128 + signalCode;
  if (signalCode) return 128 + signalNumber(signalCode);
  return exitCode ?? 1;
}
