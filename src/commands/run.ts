// kz run: resolve every secret, then start the command with them in its environment, its output
// masked, its signals forwarded, and its exit status passed through. Nothing starts if a required
// secret fails.

import { writeStdout } from "../stdio.ts";
import { UsageError } from "../errors.ts";
import { buildChildEnv } from "../runner/child-env.ts";
import { runChild } from "../runner/spawn.ts";
import { parseArgs } from "./args.ts";
import { commandHelp, helpFlag, type Command } from "./command.ts";
import { configFlags, configFromArgs, onlyFlag, resolveOrFail, selectedSpecs } from "./shared.ts";

const flags = {
  ...configFlags,
  ...onlyFlag,
  "clean-env": { type: "boolean", description: "pass only PATH, HOME, USER, SHELL, TERM, LANG, LC_*, TMPDIR, TZ plus the secrets" },
  "no-masking": { type: "boolean", description: "do not mask secret values in the command's output" },
  ...helpFlag,
} as const;

const run: Command = {
  name: "run",
  summary: "run a command with secrets in its environment",
  usage: "kz run [flags] -- COMMAND [ARGS…]",
  flags,
  details: `Examples:
  kz run -- python agent.py
  kz run --env prod --only OPENAI_API_KEY -- node bot.js

Exit status is the command's own (128+N if it died of signal N); kz's own failures use 2–4 (see README).`,
  async run(argv) {
    const args = parseArgs(argv, flags, { tailAfterPositional: true });
    if (args.flags.help) {
      writeStdout(commandHelp(run));
      return 0;
    }
    if (args.tail.length === 0) throw new UsageError("no command given — usage: kz run [flags] -- COMMAND [ARGS…]");
    const config = configFromArgs(args);
    const specs = selectedSpecs(config, args);
    const { values } = await resolveOrFail(config, specs);
    const raw = new Map([...values].map(([name, value]) => [name, value.reveal()]));
    const env = buildChildEnv(process.env, raw, { cleanEnv: Boolean(args.flags["clean-env"]) });
    const mask = args.flags["no-masking"] ? [] : [...raw].map(([name, value]) => ({ name, value }));
    return runChild({ command: args.tail, env, mask });
  },
};

export default run;
