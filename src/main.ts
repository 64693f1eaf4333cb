// kz's entry point: reads the first word of argv and lazy-imports that one command, so that
// `kz --version` and `kz run` load nothing they do not use. A KzError becomes one stderr line and its
// exit code; anything unexpected prints its first line (never a stack with request data) and exits 1.

import { commandNames, KZ_VERSION, loadCommand, mainHelp } from "./commands/catalog.ts";
import { ExitCode, KzError } from "./errors.ts";

async function main(argv: string[]): Promise<number> {
  const [first, ...rest] = argv;
  if (first === "--version" || first === "-V" || first === "version") {
    process.stdout.write(`kz ${KZ_VERSION}\n`);
    return ExitCode.ok;
  }
  if (first === undefined || first === "--help" || first === "-h") {
    (first === undefined ? process.stderr : process.stdout).write(mainHelp());
    return first === undefined ? ExitCode.usage : ExitCode.ok;
  }
  const command = await loadCommand(first);
  if (!command) {
    const { didYouMean } = await import("./config/suggest.ts");
    throw new KzError(`unknown command "${first}"${didYouMean(first, commandNames).replace("valid keys", "commands")}`, ExitCode.usage);
  }
  return command.run(rest);
}

try {
  process.exitCode = await main(process.argv.slice(2));
} catch (error) {
  const { printError } = await import("./commands/output.ts");
  if (error instanceof KzError) {
    printError(error.message);
    process.exitCode = error.exitCode;
  } else {
    printError(`internal error: ${error instanceof Error ? error.message.split("\n")[0] : "unknown"} (please report this)`);
    process.exitCode = ExitCode.failure;
  }
}
