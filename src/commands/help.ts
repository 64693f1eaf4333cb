// kz help [CMD]: the top-level help, or one command's usage, flags and examples.

import { writeStdout } from "../stdio.ts";
import { UsageError } from "../errors.ts";
import { commandNames, loadCommand, mainHelp } from "./catalog.ts";
import { commandHelp, type Command } from "./command.ts";
import { didYouMean } from "../config/suggest.ts";

const help: Command = {
  name: "help",
  summary: "show help for kz or one command",
  usage: "kz help [COMMAND]",
  flags: {},
  async run(argv) {
    const [name] = argv;
    if (!name || name === "--help" || name === "-h") {
      writeStdout(mainHelp());
      return 0;
    }
    const command = await loadCommand(name);
    if (!command) throw new UsageError(`no command "${name}"${didYouMean(name, commandNames).replace("valid keys", "commands")}`);
    writeStdout(commandHelp(command));
    return 0;
  },
};

export default help;
