// The shell's answer when a command cannot start: 127 when it is not found, 126 when it cannot be
// executed. Shared by kz run and the sandbox's init, which starts the command inside the sandbox.

import { ExitCode, KzError } from "../errors.ts";

export function spawnError(command: string, error: unknown): KzError {
  const code = (error as NodeJS.ErrnoException).code ?? "";
  if (code === "ENOENT" || /no such file|not found/i.test(String((error as Error).message))) {
    return new KzError(`command not found: ${command}`, ExitCode.notFound);
  }
  if (code === "EACCES" || /permission denied/i.test(String((error as Error).message))) {
    return new KzError(`permission denied: ${command} is not executable`, ExitCode.notExecutable);
  }
  return new KzError(`cannot start ${command}: ${(error as Error).message}`, ExitCode.notExecutable);
}
