// kz validate: checks the config (syntax, keys, providers) and, unless --offline, that every secret
// resolves. Warns about what would bite later: values too short to be masked, secrets with no hosts
// (blind mode would refuse them). Exit 0 valid, 3 config invalid, 4 a secret does not resolve.

import { writeStdout, writeStderr } from "../stdio.ts";
import { compileHosts } from "../blind/tokens.ts";
import { MIN_MASK_LENGTH } from "../resolve/redactor.ts";
import { ConfigError, ExitCode } from "../errors.ts";
import { describeFailure, resolveSecrets } from "../resolve/resolve.ts";
import { displayPath } from "../config/load.ts";
import { parseArgs } from "./args.ts";
import { commandHelp, helpFlag, type Command } from "./command.ts";
import { paint, printJson } from "./output.ts";
import { configFlags, configFromArgs, onlyFlag, selectedSpecs } from "./shared.ts";

const flags = {
  ...configFlags,
  ...onlyFlag,
  offline: { type: "boolean", description: "check the config only; do not contact any backend" },
  json: { type: "boolean", description: "print one JSON document" },
  ...helpFlag,
} as const;

const validate: Command = {
  name: "validate",
  summary: "check .keyzero.toml and that every secret resolves",
  usage: "kz validate [--offline] [--json] [--env NAME]",
  flags,
  async run(argv) {
    const args = parseArgs(argv, flags);
    if (args.flags.help) {
      writeStdout(commandHelp(validate));
      return 0;
    }
    const errors: string[] = [];
    const warnings: string[] = [];
    let file: string | undefined;
    let code: number = ExitCode.ok;
    try {
      const config = configFromArgs(args);
      file = config.path;
      const specs = selectedSpecs(config, args);
      for (const s of specs) {
        if (s.blind !== false && !s.hosts?.length) {
          warnings.push(`${s.name}: no "hosts" — kz run --blind will refuse it; add hosts = ["api.example.com"] (or blind = false)`);
        } else if (s.hosts?.length) {
          compileHosts(s.name, s.hosts); // a malformed host pattern is a config error
        }
      }
      if (!args.flags.offline) {
        const { outcomes, failures } = await resolveSecrets(config, specs);
        for (const o of failures) errors.push(describeFailure(o));
        for (const o of outcomes) {
          if (o.error !== undefined && o.spec.optional) warnings.push(`optional ${describeFailure(o)}`);
          if (o.value && o.value.length < MIN_MASK_LENGTH) {
            warnings.push(`${o.spec.name}: value is shorter than ${MIN_MASK_LENGTH} characters, so it is not masked in output`);
          }
        }
        if (failures.length) code = ExitCode.secrets;
      }
    } catch (e) {
      if (!(e instanceof ConfigError)) throw e;
      errors.push(e.message);
      code = ExitCode.config;
    }
    if (args.flags.json) {
      printJson({ config: file ?? null, valid: errors.length === 0, errors, warnings });
      return code;
    }
    for (const w of warnings) writeStderr(`${paint(2, "yellow", "warning:")} ${w}\n`);
    for (const e of errors) writeStderr(`${paint(2, "red", "error:")} ${e}\n`);
    if (errors.length === 0) writeStdout(`${paint(1, "green", "valid")} ${file ? displayPath(file) : ""}\n`);
    return code;
  },
};

export default validate;
