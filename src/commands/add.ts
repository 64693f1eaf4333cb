// kz add: appends one secret to .keyzero.toml's [secrets] table, keeping comments and layout. The
// edited file is validated before it is written, so a bad flag never leaves a broken config behind.

import { writeStdout, writeStderr } from "../stdio.ts";
import { writeFileSync } from "node:fs";
import { parse } from "smol-toml";
import { addSecretToToml } from "../config/edit.ts";
import { CONFIG_NAME, displayPath, findConfig, parseTomlFile } from "../config/load.ts";
import { providerNames, providerSchemas } from "../config/provider-schema.ts";
import { DocValidator } from "../config/schema.ts";
import { ConfigError, UsageError } from "../errors.ts";
import { LocalStore } from "../providers/local-store.ts";
import { listFlag, parseArgs } from "./args.ts";
import { commandHelp, helpFlag, type Command } from "./command.ts";
import { paint } from "./output.ts";

const flags = {
  provider: { type: "string", short: "p", value: "P", description: `backend: ${providerNames.join(", ")} (default: local)` },
  ref: { type: "string", short: "r", value: "REF", description: "where the backend finds it (default for local/env: NAME)" },
  field: { type: "string", short: "f", value: "F", description: "field of a JSON / KV secret" },
  hosts: { type: "string", value: "h1,h2", description: "hosts the secret may be sent to in blind mode" },
  optional: { type: "boolean", description: "a failure to resolve it does not stop kz run" },
  config: { type: "string", short: "c", value: "FILE", description: "config file (default: nearest .keyzero.toml)" },
  ...helpFlag,
} as const;

const add: Command = {
  name: "add",
  summary: "add a secret to .keyzero.toml",
  usage: "kz add NAME [--provider P] [--ref R] [--field F] [--hosts h1,h2] [--optional]",
  flags,
  details: `Examples:
  kz add OPENAI_API_KEY --provider 1password --ref op://Dev/OpenAI/api-key --hosts api.openai.com
  kz add DEMO_KEY                        # local store; then: kz put DEMO_KEY`,
  async run(argv) {
    const args = parseArgs(argv, flags);
    if (args.flags.help) {
      writeStdout(commandHelp(add));
      return 0;
    }
    const [name, ...extra] = args.positionals;
    if (!name || extra.length) throw new UsageError("usage: kz add NAME [--provider P] [--ref R] …");
    const path = findConfig({ configPath: args.flags.config as string | undefined });
    if (!path) throw new ConfigError(`no ${CONFIG_NAME} here or in a parent — run \`kz init\` first`);
    const display = displayPath(path);
    const { doc, text } = parseTomlFile(path, display);
    const existing = (doc.secrets ?? {}) as Record<string, unknown>;
    if (name in existing) throw new UsageError(`${display}: secret ${name} already exists — edit the file to change it`);

    const provider = (args.flags.provider as string | undefined) ?? "local";
    const ref = args.flags.ref as string | undefined;
    if (!ref && providerSchemas[provider] && !providerSchemas[provider].refDefaultsToName) {
      throw new UsageError(`--ref is required for provider ${provider}`);
    }
    const edited = addSecretToToml(text, {
      name,
      provider,
      ref,
      field: args.flags.field as string | undefined,
      hosts: listFlag(args.flags.hosts),
      optional: Boolean(args.flags.optional),
    });
    new DocValidator({ file: display, text: edited }).document(parse(edited) as Record<string, unknown>);
    writeFileSync(path, edited);
    writeStderr(`${paint(2, "green", "added")} ${name} to ${display}\n`);
    if (provider === "local" && !new LocalStore().has(ref ?? name)) {
      writeStderr(`next: kz put ${ref ?? name}\n`);
    }
    return 0;
  },
};

export default add;
