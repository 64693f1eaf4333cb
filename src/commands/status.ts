// kz status: resolves every secret and shows name, provider, ref, ok/error and milliseconds — never a
// value. --json prints one JSON document. Exits 4 when a required secret fails. A dynamic secret (a Vault
// lease) is shown as such with its TTL; its lease is revoked at once, so status keeps none. (Reading the
// role's settings instead — database/roles/<role> — would mint nothing, but needs a policy app tokens
// rarely have, differs per engine, and would not prove that credentials can be issued.)

import { writeStdout } from "../stdio.ts";
import { ExitCode } from "../errors.ts";
import { resolveSecrets } from "../resolve/resolve.ts";
import { parseArgs } from "./args.ts";
import { commandHelp, helpFlag, type Command } from "./command.ts";
import { displayPath } from "../config/load.ts";
import { paint, printJson, printWarning, table } from "./output.ts";
import { configFlags, configFromArgs, onlyFlag, selectedSpecs } from "./shared.ts";

const flags = {
  ...configFlags,
  ...onlyFlag,
  json: { type: "boolean", description: "print one JSON document" },
  ...helpFlag,
} as const;

const status: Command = {
  name: "status",
  summary: "show each secret's provider and whether it resolves",
  usage: "kz status [--json] [--env NAME] [--only A,B]",
  flags,
  async run(argv) {
    const args = parseArgs(argv, flags);
    if (args.flags.help) {
      writeStdout(commandHelp(status));
      return 0;
    }
    const config = configFromArgs(args);
    const { outcomes, failures, leases } = await resolveSecrets(config, selectedSpecs(config, args));
    let formatTtl = (seconds: number) => `${seconds}s`;
    if (leases.size || leases.expiries().length) {
      const { formatSeconds, leaseHooks, revokeAll } = await import("../runner/leases.ts");
      await revokeAll(leases, leaseHooks(config, printWarning));
      formatTtl = formatSeconds;
    }
    const leaseOf = (name: string) => {
      const lease = leases.leaseOf(name);
      if (lease) return { ttl_seconds: lease.durationSeconds, renewable: lease.renewable };
      const expiry = leases.expiryOf(name); // temporary credentials (aws-sts): they expire, no lease to keep
      return expiry && { ttl_seconds: Math.max(0, Math.round((expiry.expiresAt - Date.now()) / 1000)), renewable: false };
    };
    const code = failures.length ? ExitCode.secrets : ExitCode.ok;
    if (args.flags.json) {
      printJson({
        config: config.path,
        env: config.env ?? null,
        ok: failures.length === 0,
        secrets: outcomes.map((o) => ({
          name: o.spec.name,
          provider: o.spec.provider,
          ref: o.spec.ref,
          field: o.spec.field ?? null,
          optional: o.spec.optional,
          hosts: o.spec.hosts ?? [],
          ok: o.error === undefined,
          dynamic: leaseOf(o.spec.name) ?? null,
          error: o.error ?? null,
          ms: Math.round(o.ms * 10) / 10,
        })),
      });
      return code;
    }
    const header = `${displayPath(config.path)}${config.env ? ` (env ${config.env})` : ""}`;
    if (outcomes.length === 0) {
      writeStdout(`${header}: no secrets defined — add one with \`kz add NAME\`\n`);
      return code;
    }
    const rows = [["NAME", "PROVIDER", "REF", "STATUS", "MS"]];
    for (const o of outcomes) {
      const ref = o.spec.field ? `${o.spec.ref}#${o.spec.field}` : o.spec.ref;
      const lease = o.error === undefined ? leaseOf(o.spec.name) : undefined;
      const dynamic = lease ? ` (dynamic, ttl ${formatTtl(lease.ttl_seconds)}${lease.renewable ? ", renewable" : ""})` : "";
      const state = o.error === undefined ? paint(1, "green", "ok") + dynamic : paint(1, o.spec.optional ? "yellow" : "red", `error: ${o.error}`);
      rows.push([o.spec.name, o.spec.provider, ref, state, o.ms.toFixed(1)]);
    }
    writeStdout(`${header}\n${table(rows)}\n`);
    return code;
  },
};

export default status;
