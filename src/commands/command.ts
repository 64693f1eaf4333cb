// The shape every subcommand module exports, and the help text built from it.

import { formatFlags, type FlagSpecs } from "./args.ts";

export interface Command {
  name: string;
  summary: string;
  usage: string;
  flags: FlagSpecs;
  /** Extra help paragraphs (examples, notes). */
  details?: string;
  run(argv: string[]): Promise<number>;
}

export const helpFlag = { help: { type: "boolean", short: "h", description: "show this help" } } as const;

export function commandHelp(cmd: Command): string {
  const parts = [`kz ${cmd.name} — ${cmd.summary}`, "", `Usage: ${cmd.usage}`];
  if (Object.keys(cmd.flags).length) parts.push("", "Flags:", formatFlags(cmd.flags));
  if (cmd.details) parts.push("", cmd.details.trim());
  return `${parts.join("\n")}\n`;
}
