// kz init: writes a commented starter .keyzero.toml that uses kz's own encrypted store, so a first
// run needs no external service. Never overwrites an existing file.

import { writeStdout, writeStderr } from "../stdio.ts";
import { existsSync, writeFileSync } from "node:fs";
import { resolve } from "node:path";
import { CONFIG_NAME, displayPath } from "../config/load.ts";
import { KzError } from "../errors.ts";
import { parseArgs } from "./args.ts";
import { commandHelp, helpFlag, type Command } from "./command.ts";
import { paint } from "./output.ts";

export const STARTER_CONFIG = `# .keyzero.toml — which secrets this project needs and where kz gets them.
# Commit this file: it holds references, never values. Docs: kz help, README.md.

[secrets]
# kz's own encrypted local store (zero setup). Store the value with:  kz put DEMO_API_KEY
DEMO_API_KEY = { provider = "local", hosts = ["api.example.com"] }

# Other backends — uncomment and adapt:
# OPENAI_API_KEY  = { provider = "1password", ref = "op://Dev/OpenAI/api-key", hosts = ["api.openai.com"] }
# GITHUB_TOKEN    = { provider = "vault", ref = "secret/data/prod/github", field = "token", hosts = ["api.github.com"] }
# SLACK_BOT_TOKEN = { provider = "aws-sm", ref = "prod/slack-bot-token", hosts = ["slack.com", "*.slack.com"] }
# FROM_SHELL      = { provider = "env", ref = "MY_SHELL_VAR" }
# FROM_FILE       = { provider = "file", ref = "secrets/token.txt" }
# STRIPE_KEY      = "op://Dev/Stripe/secret"      # shorthand: provider from the scheme

# [providers.vault]
# address = "https://vault.internal:8200"          # or VAULT_ADDR
# auth = { method = "approle", role_id_env = "VAULT_ROLE_ID", secret_id_env = "VAULT_SECRET_ID" }

# Per-environment overrides, chosen with --env prod or KZ_ENV=prod:
# [env.prod.secrets]
# DEMO_API_KEY = { provider = "vault", ref = "secret/data/prod/demo", field = "key", hosts = ["api.example.com"] }
`;

const flags = {
  config: { type: "string", short: "c", value: "FILE", description: `where to write (default: ./${CONFIG_NAME})` },
  ...helpFlag,
} as const;

const init: Command = {
  name: "init",
  summary: "create a starter .keyzero.toml here",
  usage: "kz init [--config FILE]",
  flags,
  async run(argv) {
    const args = parseArgs(argv, flags);
    if (args.flags.help) {
      writeStdout(commandHelp(init));
      return 0;
    }
    const path = resolve((args.flags.config as string | undefined) ?? CONFIG_NAME);
    if (existsSync(path)) throw new KzError(`${displayPath(path)} already exists; kz init never overwrites — edit it or use \`kz add\``);
    writeFileSync(path, STARTER_CONFIG, { flag: "wx" });
    writeStderr(
      `${paint(2, "green", "created")} ${displayPath(path)}\nnext: kz put DEMO_API_KEY, then kz run -- <your command>\n` +
        `tip: add .keyzero.local.toml (personal overrides) to .gitignore\n`,
    );
    return 0;
  },
};

export default init;
