// Dispatch: runs the command named by argv's first word (kz run is bundled in; every other command is
// imported on demand). A KzError becomes one stderr line and its exit code; anything unexpected prints
// its first line (never a stack with request data) and exits 1.

import { commandNames, KZ_COMMIT, KZ_VERSION, loadCommand, mainHelp } from "./commands/catalog.ts";
import { printError } from "./commands/output.ts";
import { ExitCode, KzError } from "./errors.ts";
import { writeStderr, writeStdout } from "./stdio.ts";

async function dispatch(argv: string[]): Promise<number> {
  const [first, ...rest] = argv;
  if (first === "--version" || first === "-V") {
    writeStdout(`kz ${KZ_VERSION} (${KZ_COMMIT})\n`);
    return ExitCode.ok;
  }
  if (first === undefined || first === "--help" || first === "-h") {
    (first === undefined ? writeStderr : writeStdout)(mainHelp());
    return first === undefined ? ExitCode.usage : ExitCode.ok;
  }
  const command = await loadCommand(first);
  if (!command) {
    const { didYouMean } = await import("./config/suggest.ts");
    throw new KzError(`unknown command "${first}"${didYouMean(first, commandNames).replace("valid keys", "commands")}`, ExitCode.usage);
  }
  // The server is long-lived: back to JavaScriptCore's normal JIT policy (the build starts kz at ×8, see scripts/build.ts).
  if (first === "server") Bun.unsafe.setJITPolicy(1);
  return command.run(rest);
}

export async function main(argv: string[]): Promise<number> {
  try {
    return await dispatch(argv);
  } catch (error) {
    if (error instanceof KzError) {
      printError(error.message);
      return error.exitCode;
    }
    printError(`internal error: ${error instanceof Error ? error.message.split("\n")[0] : "unknown"} (please report this)`);
    return ExitCode.failure;
  }
}
