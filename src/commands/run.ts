// kz run: resolve every secret, then start the command with them in its environment, its output
// masked, its signals forwarded, and its exit status passed through. Nothing starts if a required
// secret fails. With --blind the command gets tokens instead, and a loopback proxy swaps them for the
// real values only on requests to the hosts each secret is bound to.

import type { KzConfig, SecretSpec } from "../config/types.ts";
import { UsageError } from "../errors.ts";
import type { LeaseSet } from "../resolve/leases.ts";
import type { SecretValue } from "../secret.ts";
import { buildChildEnv } from "../runner/child-env.ts";
import { holdSignals } from "../runner/signal-hold.ts";
import { runChild } from "../runner/spawn.ts";
import { writeStdout } from "../stdio.ts";
import { parseArgs } from "./args.ts";
import { commandHelp, helpFlag, type Command } from "./command.ts";
import { printWarning } from "./output.ts";
import { configFlags, configFromArgs, onlyFlag, resolveOrFail, selectedSpecs } from "./shared.ts";

const flags = {
  ...configFlags,
  ...onlyFlag,
  blind: { type: "boolean", description: "give the command tokens; a loopback proxy swaps them for values on bound hosts" },
  "print-env": { type: "boolean", description: "with --blind: print what kz adds to the command's environment (tokens only) and exit" },
  "clean-env": { type: "boolean", description: "pass only PATH, HOME, USER, SHELL, TERM, LANG, LC_*, TMPDIR, TZ plus the secrets" },
  "no-masking": { type: "boolean", description: "do not mask secret values in the command's output" },
  sandbox: { type: "boolean", description: "run the command in the sandbox (default with --blind): kz's store and credential files hidden" },
  "no-sandbox": { type: "boolean", description: "with --blind: run without the sandbox for this run (prints a warning)" },
  network: { type: "string", value: "open|proxy", description: "in the sandbox: proxy = the only way out is kz's proxy (and [blind] allow_tcp)" },
  ...helpFlag,
} as const;

type Args = ReturnType<typeof parseArgs>;

const run: Command = {
  name: "run",
  summary: "run a command with secrets in its environment",
  usage: "kz run [flags] -- COMMAND [ARGS…]",
  flags,
  details: `Examples:
  kz run -- python agent.py
  kz run --env prod --only OPENAI_API_KEY -- node bot.js
  kz run --blind -- python agent.py      # the agent holds KZ_TOK_… tokens, never the keys

Exit status is the command's own (128+N if it died of signal N); kz's own failures use 2–4 (see README).`,
  async run(argv) {
    const args = parseArgs(argv, flags, { tailAfterPositional: true });
    if (args.flags.help) {
      writeStdout(commandHelp(run));
      return 0;
    }
    if (args.flags["print-env"] && !args.flags.blind) throw new UsageError("--print-env goes with --blind");
    if (args.tail.length === 0 && !args.flags["print-env"]) throw new UsageError("no command given — usage: kz run [flags] -- COMMAND [ARGS…]");
    const config = configFromArgs(args);
    const specs = selectedSpecs(config, args);
    // Blind mode loads its modules, the approval check and the sandbox's code at once (each dynamic
    // import costs a few ms in the compiled binary; in sequence they added up).
    if (args.flags.blind) return runBlind(config, specs, args, sandboxModule(config, args));
    const sandboxing = await sandboxModule(config, args);
    const { values, leases, caught } = await resolveForRun(config, specs);
    return withLeases(config, leases, caught, () => {
      const raw = new Map([...values].map(([name, value]) => [name, value.reveal()]));
      const env = buildChildEnv(process.env, raw, { cleanEnv: Boolean(args.flags["clean-env"]), alsoPrivate: identityTokenVariables(config) });
      const mask = maskList(raw, args);
      if (!sandboxing) return runChild({ command: args.tail, env, mask });
      return runSandboxed(sandboxing, config, args, { env, mask });
    });
  },
};

/**
 * Runs the rest of the run with its dynamic secrets' leases renewed while it lasts, and revoked when it
 * ends however it ends: the child's exit, a signal (forwarded to the child, which then exits), or kz's
 * own failure after resolution. (Loaded only when a secret is dynamic.)
 */
async function withLeases(config: KzConfig, leases: LeaseSet, caught: number | undefined, work: () => Promise<number>): Promise<number> {
  if (!leases.size && !leases.expiries().length) return caught ?? work();
  const { keepLeases, leaseHooks } = await import("../runner/leases.ts");
  const keeper = keepLeases(leases, leaseHooks(config, printWarning));
  try {
    return caught ?? (await work()); // a signal during resolution: revoke, start nothing
  } finally {
    await keeper.end();
  }
}

/**
 * resolveOrFail, with ^C / SIGTERM held while a provider that may mint credentials (vault) resolves:
 * `caught` is then the exit status to leave with, once the leases are revoked.
 */
async function resolveForRun(config: KzConfig, specs: SecretSpec[]) {
  const hold = specs.some((s) => s.provider === "vault") ? holdSignals(printWarning) : undefined;
  try {
    return { ...(await resolveOrFail(config, specs)), caught: hold?.caught() };
  } finally {
    hold?.release();
  }
}

type Sandboxing = { module: typeof import("../runner/sandbox/for-run.ts"); choice: import("../runner/sandbox/for-run.ts").SandboxChoice };

/** The sandbox decision, loading its code only when a flag or blind mode may need it. */
async function sandboxModule(config: KzConfig, args: Args): Promise<Sandboxing | undefined> {
  const f = args.flags;
  if (!f.blind && !f.sandbox && !f["no-sandbox"] && f.network === undefined) return undefined;
  const module = await import("../runner/sandbox/for-run.ts");
  const choice = module.sandboxChoice(config, {
    blind: Boolean(f.blind),
    sandbox: Boolean(f.sandbox),
    noSandbox: Boolean(f["no-sandbox"]),
    network: typeof f.network === "string" ? f.network : undefined,
  });
  return choice.enabled || choice.warning ? { module, choice } : undefined;
}

/** Runs the command inside the sandbox (or, opted out, warns and runs it as is). */
async function runSandboxed(
  sandboxing: Sandboxing,
  config: KzConfig,
  args: Args,
  run: { env: Record<string, string>; mask: { name: string; value: string }[]; proxyPort?: number; auditPath?: string; onTcp?: (d: string) => void },
): Promise<number> {
  const { module, choice } = sandboxing;
  if (choice.warning) printWarning(choice.warning);
  if (!choice.enabled) return runChild({ command: args.tail, env: run.env, mask: run.mask });
  const sandbox = module.sandboxForRun(config, choice, args.tail, { masking: run.mask.length > 0, ...run });
  try {
    return await runChild({ command: sandbox.command, env: run.env, mask: run.mask, detached: sandbox.detached, sandbox: sandbox.control ? { control: sandbox.control, notStarted: sandbox.notStarted } : undefined });
  } finally {
    sandbox.stop();
  }
}

function maskList(raw: Map<string, string>, args: Args): { name: string; value: string }[] {
  return args.flags["no-masking"] ? [] : [...raw].map(([name, value]) => ({ name, value }));
}

/** A kz provider's token_env (KZ_IDENTITY_TOKEN is private anyway): the identity token stays with kz. */
function identityTokenVariables(config: KzConfig): string[] {
  const name = config.providers.kz?.token_env;
  return typeof name === "string" ? [name] : [];
}

/** Names of variables that provider settings point at (token_env, secret_id_env…): backend credentials. */
function credentialVariables(config: KzConfig): string[] {
  const names: string[] = [];
  const walk = (table: Record<string, unknown>) => {
    for (const [key, value] of Object.entries(table)) {
      if (key.endsWith("_env") && typeof value === "string") names.push(value);
      else if (typeof value === "object" && value !== null && !Array.isArray(value)) walk(value as Record<string, unknown>);
    }
  };
  walk(config.providers);
  return names;
}

async function runBlind(config: KzConfig, specs: SecretSpec[], args: Args, sandboxLoad: Promise<Sandboxing | undefined>): Promise<number> {
  // Loaded only here: the CA, proxy and rewrite engine never touch the startup path of a plain run.
  const [{ checkBlindable, startBlindRun }, { buildBlindChildEnv }, { requireApproval }, sandboxing] = await Promise.all([
    import("../blind/session.ts"),
    import("../blind/child-env.ts"),
    import("./approval.ts"),
    sandboxLoad,
  ]);
  checkBlindable(specs);
  if (!args.flags["print-env"]) requireApproval(config); // bindings the user approved, or exit 3
  const { values, leases, caught } = await resolveForRun(config, specs);
  return withLeases(config, leases, caught, () => runBlindResolved(config, specs, args, sandboxing, values, startBlindRun, buildBlindChildEnv));
}

async function runBlindResolved(
  config: KzConfig,
  specs: SecretSpec[],
  args: Args,
  sandboxing: Sandboxing | undefined,
  values: Map<string, SecretValue>,
  startBlindRun: typeof import("../blind/session.ts").startBlindRun,
  buildBlindChildEnv: typeof import("../blind/child-env.ts").buildBlindChildEnv,
): Promise<number> {
  const blinded: { spec: SecretSpec; value: SecretValue }[] = [];
  const raw = new Map<string, string>();
  for (const spec of specs) {
    const value = values.get(spec.name);
    if (!value) continue; // an optional secret that did not resolve
    if (spec.blind === false) raw.set(spec.name, value.reveal());
    else blinded.push({ spec, value });
  }

  const session = startBlindRun({ config, secrets: blinded, env: process.env, warn: printWarning });
  try {
    const tokens = new Map(session.secrets.map((s) => [s.name, s.token]));
    const base = buildChildEnv(process.env, new Map(), { cleanEnv: Boolean(args.flags["clean-env"]) });
    const realValues = blinded.map((b) => b.value.reveal());
    const trust = session.trust.forChild(base, realValues); // NODE_OPTIONS, PYTHONPATH… keep the inherited part
    const env = buildBlindChildEnv({ base, tokens, raw, realValues, trust, alsoDrop: credentialVariables(config) });
    if (args.flags["print-env"]) {
      const lines = [...tokens].map(([n, t]) => `${n}=${t}`);
      for (const name of raw.keys()) lines.push(`${name}=[kz:redacted — blind = false, passed raw]`);
      for (const [name, value] of Object.entries(trust.env).sort()) lines.push(`${name}=${value}`);
      writeStdout(`${lines.join("\n")}\n`);
      return 0;
    }
    // Real values can reach output only through blind = false secrets or an echo; mask them all.
    const mask = maskList(new Map([...raw, ...blinded.map((b) => [b.spec.name, b.value.reveal()] as const)]), args);
    if (!sandboxing) return await runChild({ command: args.tail, env, mask });
    return await runSandboxed(sandboxing, config, args, { env, mask, proxyPort: session.proxy.port, auditPath: session.auditPath, onTcp: session.recordTcp });
  } finally {
    session.stop();
  }
}

export default run;
