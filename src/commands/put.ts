// kz put: stores a value in kz's encrypted local store. The value comes from stdin or a hidden prompt,
// never from argv (which lands in shell history and `ps`). --missing prompts for every local secret in
// the config that the store does not have yet.

import { writeStdout, writeStderr } from "../stdio.ts";
import { KzError, UsageError } from "../errors.ts";
import { LocalStore } from "../providers/local-store.ts";
import { parseArgs } from "./args.ts";
import { commandHelp, helpFlag, type Command } from "./command.ts";
import { paint } from "./output.ts";
import { readHidden, readPipedStdin, stdinIsTerminal } from "./secret-input.ts";
import { configFlags, configFromArgs } from "./shared.ts";

const flags = {
  missing: { type: "boolean", description: "prompt for every local secret in the config not yet stored" },
  ...configFlags,
  ...helpFlag,
} as const;

const namePattern = /^[A-Za-z_][A-Za-z0-9_]*$/;

const put: Command = {
  name: "put",
  summary: "store a secret in kz's encrypted local store",
  usage: "kz put NAME   (value from stdin or a hidden prompt)  |  kz put --missing",
  flags,
  details: `Examples:
  kz put OPENAI_API_KEY                 # asks for the value, without echo
  op read op://Dev/OpenAI/key | kz put OPENAI_API_KEY
The store lives in $XDG_DATA_HOME/keyzero/store.json, encrypted (AES-256-GCM) with the key in
$XDG_CONFIG_HOME/keyzero/local.key or KZ_LOCAL_KEY.`,
  async run(argv) {
    const args = parseArgs(argv, flags);
    if (args.flags.help) {
      writeStdout(commandHelp(put));
      return 0;
    }
    const store = new LocalStore();
    if (args.flags.missing) {
      if (args.positionals.length) throw new UsageError("--missing takes no NAME");
      return putMissing(store, args);
    }
    const [name, ...extra] = args.positionals;
    if (!name) throw new UsageError("which secret? usage: kz put NAME (the value is read from stdin or a prompt)");
    if (extra.length) {
      throw new UsageError("values are never taken from the command line (shell history, ps) — pipe it in: printf %s \"$VALUE\" | kz put " + name);
    }
    if (!namePattern.test(name)) throw new UsageError(`"${name}" is not a valid name: use letters, digits and _, not starting with a digit`);
    const value = stdinIsTerminal() ? await readHidden(`Value for ${name}: `) : await readPipedStdin();
    if (value.length === 0) throw new KzError(`no value given for ${name}; nothing stored`);
    const existed = store.has(name);
    await store.set(name, value);
    writeStderr(`${paint(2, "green", existed ? "updated" : "stored")} ${name} in the local store\n`);
    return 0;
  },
};

async function putMissing(store: LocalStore, args: ReturnType<typeof parseArgs>): Promise<number> {
  const config = configFromArgs(args);
  const missing = config.secrets.filter((s) => s.provider === "local" && !store.has(s.ref));
  if (missing.length === 0) {
    writeStderr("every local secret in the config is already stored\n");
    return 0;
  }
  if (!stdinIsTerminal()) {
    throw new KzError(`--missing prompts on a terminal; store these one at a time instead: ${missing.map((s) => s.ref).join(", ")}`);
  }
  for (const spec of missing) {
    const value = await readHidden(`Value for ${spec.ref}${spec.optional ? " (optional, Enter to skip)" : ""}: `);
    if (value.length === 0) {
      writeStderr(`skipped ${spec.ref}\n`);
      continue;
    }
    await store.set(spec.ref, value);
    writeStderr(`${paint(2, "green", "stored")} ${spec.ref}\n`);
  }
  return 0;
}

export default put;
