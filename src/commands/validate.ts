// kz validate: checks the config (syntax, keys, providers) and, unless --offline, that every secret
// resolves. Warns about what would bite later: values too short to be masked, secrets with no hosts
// (blind mode would refuse them). Shows each secret's blind-mode binding: its hosts and where in a request
// its token may be swapped (`swap`). Exit 0 valid, 3 config invalid, 4 a secret does not resolve.

import { writeStdout, writeStderr } from "../stdio.ts";
import { compileHosts } from "../blind/tokens.ts";
import { MIN_MASK_LENGTH } from "../resolve/redactor.ts";
import { ConfigError, ExitCode } from "../errors.ts";
import { describeFailure, resolveSecrets } from "../resolve/resolve.ts";
import { displayPath } from "../config/load.ts";
import { type Placement, formatSwap, swapOf } from "../config/placement.ts";
import type { SecretSpec } from "../config/types.ts";
import { parseArgs } from "./args.ts";
import { commandHelp, helpFlag, type Command } from "./command.ts";
import { paint, printJson, table } from "./output.ts";
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
    let bindings: Binding[] = [];
    let code: number = ExitCode.ok;
    try {
      const config = configFromArgs(args);
      file = config.path;
      const specs = selectedSpecs(config, args);
      bindings = specs.map(bindingOf);
      for (const s of specs) {
        if (s.blind !== false && !s.hosts?.length) {
          warnings.push(`${s.name}: no "hosts" — kz run --blind will refuse it; add hosts = ["api.example.com"] (or blind = false)`);
        } else if (s.hosts?.length) {
          compileHosts(s.name, s.hosts); // a malformed host pattern is a config error
        }
        if (s.blind === false && s.swap !== undefined) warnings.push(`${s.name}: "swap" has no effect with blind = false (the value is passed raw)`);
      }
      if (!args.flags.offline) {
        const { outcomes, failures, leases } = await resolveSecrets(config, specs);
        if (leases.size) {
          // A dynamic secret resolved only to prove it can be: its lease is revoked at once.
          const { leaseHooks, revokeAll } = await import("../runner/leases.ts");
          await revokeAll(leases, leaseHooks(config, (w) => warnings.push(w)));
        }
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
      printJson({ config: file ?? null, valid: errors.length === 0, errors, warnings, secrets: bindings });
      return code;
    }
    for (const w of warnings) writeStderr(`${paint(2, "yellow", "warning:")} ${w}\n`);
    for (const e of errors) writeStderr(`${paint(2, "red", "error:")} ${e}\n`);
    if (errors.length === 0) writeStdout(`${paint(1, "green", "valid")} ${file ? displayPath(file) : ""}\n${bindingLines(bindings)}`);
    return code;
  },
};

/** A secret's blind-mode binding as shown: where it may be sent, and where in a request (null: passed raw). */
interface Binding {
  name: string;
  blind: boolean;
  hosts: string[];
  swap: Placement[] | null;
}

function bindingOf(spec: SecretSpec): Binding {
  const blind = spec.blind !== false;
  return { name: spec.name, blind, hosts: spec.hosts ?? [], swap: blind ? [...swapOf(spec)] : null };
}

function bindingLines(bindings: Binding[]): string {
  if (bindings.length === 0) return "";
  const rows = bindings.map((b) => [
    `  ${b.name}`,
    b.blind ? `hosts ${b.hosts.length ? b.hosts.join(", ") : "(none)"}` : "blind = false (passed raw)",
    b.swap ? `swap = ${formatSwap(b.swap)}${b.swap.length === 0 ? " (never placed in a request: signs AWS requests only)" : ""}` : "",
  ]);
  return `${table(rows).replace(/ +$/gm, "")}\n`;
}

export default validate;
