// A small argv parser for kz's commands: long and short flags, `--flag=value`, and a command tail
// after `--` (or after the first positional, for commands that run a program). Unknown flags are usage
// errors that suggest the nearest known flag.

import { didYouMean } from "../config/suggest.ts";
import { UsageError } from "../errors.ts";

export interface FlagSpec {
  type: "boolean" | "string";
  short?: string;
  /** Shown in help. */
  description: string;
  /** Placeholder for a string flag's value in help. */
  value?: string;
}

export type FlagSpecs = Record<string, FlagSpec>;

export interface ParsedArgs {
  flags: Record<string, string | boolean | undefined>;
  positionals: string[];
  /** Everything after `--` (or after the first positional when `tailAfterPositional`). */
  tail: string[];
}

export function parseArgs(argv: string[], specs: FlagSpecs, opts: { tailAfterPositional?: boolean } = {}): ParsedArgs {
  const flags: ParsedArgs["flags"] = {};
  const positionals: string[] = [];
  const byShort = new Map(Object.entries(specs).flatMap(([name, s]) => (s.short ? [[s.short, name] as const] : [])));
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === "--") return { flags, positionals, tail: argv.slice(i + 1) };
    if (!arg.startsWith("-") || arg === "-") {
      if (opts.tailAfterPositional) return { flags, positionals, tail: argv.slice(i) };
      positionals.push(arg);
      continue;
    }
    const eq = arg.indexOf("=");
    const rawName = arg.startsWith("--") ? arg.slice(2, eq > 0 ? eq : undefined) : arg.slice(1, 2);
    const name = arg.startsWith("--") ? rawName : byShort.get(rawName);
    const spec = name ? specs[name] : undefined;
    if (!name || !spec) {
      throw new UsageError(`unknown flag ${arg.split("=")[0]}${didYouMean(rawName, Object.keys(specs)).replace("valid keys", "flags").replace(/"([^"]+)"/, '"--$1"')}`);
    }
    if (spec.type === "boolean") {
      if (eq > 0) throw new UsageError(`--${name} takes no value`);
      flags[name] = true;
      continue;
    }
    const inline = eq > 0 ? arg.slice(eq + 1) : !arg.startsWith("--") && arg.length > 2 ? arg.slice(2) : undefined;
    const value = inline ?? argv[++i];
    if (value === undefined) throw new UsageError(`--${name} needs a value${spec.value ? ` (${spec.value})` : ""}`);
    flags[name] = value;
  }
  return { flags, positionals, tail: [] };
}

export function listFlag(value: string | boolean | undefined): string[] | undefined {
  if (typeof value !== "string") return undefined;
  return value
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
}

export function formatFlags(specs: FlagSpecs): string {
  const rows = Object.entries(specs).map(([name, s]) => {
    const left = `${s.short ? `-${s.short}, ` : "    "}--${name}${s.type === "string" ? ` ${s.value ?? "VALUE"}` : ""}`;
    return [left, s.description] as const;
  });
  const width = Math.max(...rows.map(([l]) => l.length));
  return rows.map(([l, d]) => `  ${l.padEnd(width)}  ${d}`).join("\n");
}
