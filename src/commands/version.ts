// kz version [--json]: the version and git commit baked in by scripts/build.ts, the Bun runtime inside the
// binary and the platform it was built for. `kz --version` prints the same first line without loading this.

import { writeStdout } from "../stdio.ts";
import { UsageError } from "../errors.ts";
import { KZ_COMMIT, KZ_VERSION } from "./catalog.ts";
import { parseArgs } from "./args.ts";
import { commandHelp, helpFlag, type Command } from "./command.ts";
import { printJson } from "./output.ts";

const flags = {
  json: { type: "boolean", description: "print {version, commit, bun, platform} as one JSON document" },
  ...helpFlag,
} as const;

export interface VersionInfo {
  version: string;
  commit: string;
  bun: string;
  platform: string;
}

export function versionInfo(): VersionInfo {
  return { version: KZ_VERSION, commit: KZ_COMMIT, bun: Bun.version, platform: `${process.platform}-${process.arch}` };
}

const version: Command = {
  name: "version",
  summary: "print kz's version and build commit (--json)",
  usage: "kz version [--json]",
  flags,
  async run(argv) {
    const args = parseArgs(argv, flags);
    if (args.flags.help) {
      writeStdout(commandHelp(version));
      return 0;
    }
    if (args.positionals.length || args.tail.length) throw new UsageError(`kz version takes no arguments (got "${[...args.positionals, ...args.tail][0]}")`);
    const info = versionInfo();
    if (args.flags.json) printJson(info);
    else writeStdout(`kz ${info.version} (${info.commit})\nbun ${info.bun}, ${info.platform}\n`);
    return 0;
  },
};

export default version;
