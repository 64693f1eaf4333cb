// kz export: prints resolved secrets as dotenv or JSON — plaintext, for tools that cannot be wrapped
// by `kz run`. It is the one command that shows values, so it says so on stderr every time.

import { writeStdout } from "../stdio.ts";
import { UsageError } from "../errors.ts";
import type { SecretValue } from "../secret.ts";
import { parseArgs } from "./args.ts";
import { commandHelp, helpFlag, type Command } from "./command.ts";
import { printWarning } from "./output.ts";
import { configFlags, configFromArgs, onlyFlag, resolveOrFail, selectedSpecs } from "./shared.ts";

const flags = {
  format: { type: "string", short: "f", value: "dotenv|json", description: "output format (default: dotenv)" },
  ...configFlags,
  ...onlyFlag,
  ...helpFlag,
} as const;

/** One dotenv line; single quotes when possible (literal in dotenv and sh), else escaped double quotes. */
export function dotenvLine(name: string, value: string): string {
  if (!value.includes("'") && !/[\r\n]/.test(value)) return `${name}='${value}'`;
  const escaped = value.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\$/g, "\\$").replace(/\r/g, "\\r").replace(/\n/g, "\\n");
  return `${name}="${escaped}"`;
}

function render(format: string, values: Map<string, SecretValue>): string {
  if (format === "json") return `${JSON.stringify(Object.fromEntries([...values].map(([n, v]) => [n, v.reveal()])), null, 2)}\n`;
  return [...values].map(([n, v]) => `${dotenvLine(n, v.reveal())}\n`).join("");
}

const exportCommand: Command = {
  name: "export",
  summary: "print resolved secrets as dotenv or JSON (plaintext!)",
  usage: "kz export [--format dotenv|json] [--only A,B] [--env NAME]",
  flags,
  details: "This writes secret values in plaintext. Prefer `kz run`; never redirect export into a committed file.",
  async run(argv) {
    const args = parseArgs(argv, flags);
    if (args.flags.help) {
      writeStdout(commandHelp(exportCommand));
      return 0;
    }
    const format = (args.flags.format as string | undefined) ?? "dotenv";
    if (format !== "dotenv" && format !== "json") throw new UsageError(`--format must be dotenv or json, not "${format}"`);
    const config = configFromArgs(args);
    const { values, leases } = await resolveOrFail(config, selectedSpecs(config, args));
    printWarning("export writes secret values in plaintext; keep the output out of files, logs and version control");
    // The exported credential outlives kz, so its lease does too: kz neither renews nor revokes it.
    for (const { lease, secrets } of leases.all()) {
      printWarning(`${secrets.join(", ")}: dynamic (${lease.provider} lease on ${lease.path}); kz leaves the lease to end by itself in ${lease.durationSeconds}s`);
    }
    for (const { expiry, secrets } of leases.expiries()) {
      printWarning(`${secrets.join(", ")}: temporary (${expiry.provider}, ${expiry.what}); they expire in ${Math.max(0, Math.round((expiry.expiresAt - Date.now()) / 1000))}s`);
    }
    writeStdout(render(format, values));
    return 0;
  },
};

export default exportCommand;
