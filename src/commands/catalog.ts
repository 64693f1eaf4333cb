// The list of kz's commands: name, one-line summary and a lazy loader, so that the top-level help and
// dispatch never import a command they do not run.

import type { Command } from "./command.ts";
import run from "./run.ts";

type Loader = () => Promise<{ default: Command }>;

const commands: Record<string, { summary: string; load: Loader }> = {
  // kz run is the hot path: bundled with the entry, since a dynamic import costs a few ms here.
  run: { summary: "run a command with secrets in its environment", load: async () => ({ default: run }) },
  init: { summary: "create a starter .keyzero.toml here", load: () => import("./init.ts") },
  add: { summary: "add a secret to .keyzero.toml", load: () => import("./add.ts") },
  put: { summary: "store a secret in kz's encrypted local store", load: () => import("./put.ts") },
  validate: { summary: "check .keyzero.toml and that every secret resolves", load: () => import("./validate.ts") },
  allow: { summary: "approve this project's blind-mode bindings (after showing what changed)", load: () => import("./allow.ts") },
  status: { summary: "show each secret's provider and whether it resolves", load: () => import("./status.ts") },
  export: { summary: "print resolved secrets as dotenv or JSON (plaintext!)", load: () => import("./export.ts") },
  share: { summary: "hand a secret to a person through a one-time, end-to-end encrypted link", load: () => import("./share.ts") },
  server: { summary: "serve policy decisions, team-mode resolution and MCP (start, check)", load: () => import("./server.ts") },
  audit: { summary: "check an audit log's keyed chain (verify)", load: () => import("./audit.ts") },
  completion: { summary: "print a shell completion script (bash, zsh, fish)", load: () => import("./completion.ts") },
  version: { summary: "print kz's version and build commit (--json)", load: () => import("./version.ts") },
  help: { summary: "show help for kz or one command", load: () => import("./help.ts") },
};

declare const KZ_BUILD_VERSION: string | undefined;
/** Set by scripts/build.ts from package.json (a JSON import would cost startup time); "dev" from source. */
export const KZ_VERSION = typeof KZ_BUILD_VERSION === "string" ? KZ_BUILD_VERSION : "dev";
declare const KZ_BUILD_COMMIT: string | undefined;
/** The git commit scripts/build.ts built from ("abc1234", "-dirty" appended when the tree differed); "unknown" from source. */
export const KZ_COMMIT = typeof KZ_BUILD_COMMIT === "string" ? KZ_BUILD_COMMIT : "unknown";
export const commandNames = Object.keys(commands);

export async function loadCommand(name: string): Promise<Command | undefined> {
  const entry = Object.hasOwn(commands, name) ? commands[name] : undefined;
  return entry ? (await entry.load()).default : undefined;
}

export function mainHelp(): string {
  const width = Math.max(...commandNames.map((n) => n.length));
  const lines = commandNames.map((n) => `  ${n.padEnd(width)}  ${commands[n]!.summary}`);
  return `kz ${KZ_VERSION} — secret management for AI agents

Usage: kz <command> [flags]

Commands:
${lines.join("\n")}

Flags:
  -h, --help     show help (also: kz help <command>)
  -V, --version  print kz's version

Environment: KZ_CONFIG, KZ_ENV, KZ_LOCAL_KEY, NO_COLOR. Exit codes: see README.
Run \`kz help <command>\` for a command's flags.
`;
}
