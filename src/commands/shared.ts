// Pieces several commands share: the --config/--env flags, loading the config from them, and
// resolving a selection of secrets with failures reported as one line each.

import { loadConfig } from "../config/load.ts";
import type { KzConfig, SecretSpec } from "../config/types.ts";
import { ExitCode, KzError, UsageError } from "../errors.ts";
import { describeFailure, resolveSecrets, selectSpecs, type Resolution } from "../resolve/resolve.ts";
import type { FlagSpecs, ParsedArgs } from "./args.ts";
import { listFlag } from "./args.ts";
import { printWarning } from "./output.ts";

export const configFlags = {
  config: { type: "string", short: "c", value: "FILE", description: "config file (default: nearest .keyzero.toml; env KZ_CONFIG)" },
  env: { type: "string", short: "e", value: "NAME", description: "apply [env.NAME.secrets] (env KZ_ENV)" },
} satisfies FlagSpecs;

export const onlyFlag = {
  only: { type: "string", value: "A,B", description: "only these secrets" },
} satisfies FlagSpecs;

export function configFromArgs(args: ParsedArgs): KzConfig {
  return loadConfig({
    configPath: args.flags.config as string | undefined,
    envName: args.flags.env as string | undefined,
  });
}

export function selectedSpecs(config: KzConfig, args: ParsedArgs): SecretSpec[] {
  const selected = selectSpecs(config.secrets, listFlag(args.flags.only));
  if ("unknown" in selected) {
    const known = config.secrets.map((s) => s.name).join(", ") || "none";
    throw new UsageError(`--only names unknown secret(s) ${selected.unknown.join(", ")} — defined: ${known}`);
  }
  return selected;
}

/**
 * Resolves and throws one KzError listing every required failure (after revoking any lease obtained);
 * warns about skipped optional ones.
 */
export async function resolveOrFail(config: KzConfig, specs: SecretSpec[]): Promise<Resolution> {
  const resolution = await resolveSecrets(config, specs);
  for (const o of resolution.skipped) printWarning(`optional secret skipped: ${describeFailure(o)}`);
  if (resolution.failures.length) {
    // Dynamic secrets already leased for this run die with it.
    if (resolution.leases.size) {
      const { leaseHooks, revokeAll } = await import("../runner/leases.ts");
      await revokeAll(resolution.leases, leaseHooks(config, printWarning));
    }
    const lines = resolution.failures.map((o) => `  ${describeFailure(o)}`);
    const count = resolution.failures.length;
    throw new KzError(`${count} secret${count > 1 ? "s" : ""} could not be resolved; nothing was started:\n${lines.join("\n")}`, ExitCode.secrets);
  }
  return resolution;
}
