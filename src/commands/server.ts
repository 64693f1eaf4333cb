// kz server: `start` serves policy decisions, team-mode resolution and (with --mcp) MCP from a bundle;
// `check` validates a bundle and runs its policy tests without serving. Exit codes let scripts tell an
// invalid bundle (3) from failing policy tests (1).

import { ExitCode, UsageError } from "../errors.ts";
import { writeStderr, writeStdout } from "../stdio.ts";
import { parseArgs } from "./args.ts";
import { commandHelp, helpFlag, type Command } from "./command.ts";
import { KZ_VERSION } from "./catalog.ts";
import { printJson } from "./output.ts";

const startFlags = {
  bundle: { type: "string", value: "FILE", description: "the bundle to serve (issuers, providers, secrets, policies)" },
  listen: { type: "string", value: "HOST:PORT", description: "address to listen on (default 127.0.0.1:8080; port 0 picks a free one)" },
  "tls-cert": { type: "string", value: "FILE", description: "PEM certificate (chain) to serve HTTPS with" },
  "tls-key": { type: "string", value: "FILE", description: "PEM private key for --tls-cert" },
  "allow-plaintext": { type: "boolean", description: "allow plain HTTP on a non-loopback address (behind a TLS-terminating proxy only)" },
  "public-url": { type: "string", value: "URL", description: "the URL clients use to reach this server (issuer of minted tokens, MCP resource)" },
  mcp: { type: "boolean", description: "also serve MCP at /mcp (Streamable HTTP)" },
  stdio: { type: "boolean", description: "with --mcp: serve MCP over stdin/stdout instead of HTTP (identity from KZ_IDENTITY_TOKEN or --identity-token-file)" },
  "identity-token-file": { type: "string", value: "FILE", description: "with --mcp --stdio: file holding this client's JWT" },
  ...helpFlag,
} as const;

const checkFlags = {
  bundle: { type: "string", value: "FILE", description: "the bundle to check" },
  json: { type: "boolean", description: "print the result as one JSON document" },
  verbose: { type: "boolean", short: "v", description: "list passing tests too" },
  ...helpFlag,
} as const;

const start: Command = {
  name: "server start",
  summary: "serve the policy API (and MCP) from a bundle",
  usage: "kz server start --bundle FILE [--listen HOST:PORT] [--tls-cert F --tls-key F] [--mcp [--stdio]]",
  flags: startFlags,
  details: `Endpoints: POST /v1/decide, POST /v1/resolve, POST /v1/tokens, POST /v1/tokens/revoke,
GET /.well-known/jwks.json, GET /healthz, GET /metrics, and /mcp with --mcp. Every /v1 call needs
Authorization: Bearer <JWT> from an issuer the bundle trusts.
Reloads the bundle on SIGHUP and when the file changes; a bundle that does not compile is not loaded
and the last good one keeps serving. Stops on SIGINT/SIGTERM.`,
  async run(argv) {
    const args = parseArgs(argv, startFlags);
    if (args.flags.help) {
      writeStdout(commandHelp(start));
      return ExitCode.ok;
    }
    const bundlePath = bundleFlag(args.flags.bundle);
    const certFile = args.flags["tls-cert"] as string | undefined;
    const keyFile = args.flags["tls-key"] as string | undefined;
    if (Boolean(certFile) !== Boolean(keyFile)) throw new UsageError("--tls-cert and --tls-key go together");
    if (args.flags.stdio && !args.flags.mcp) throw new UsageError("--stdio goes with --mcp");
    if (args.flags.stdio) {
      const { serveStdio } = await import("../server/stdio-mcp.ts");
      return serveStdio({ bundlePath, identityTokenFile: args.flags["identity-token-file"] as string | undefined, version: KZ_VERSION });
    }
    const { parseListen, startServer } = await import("../server/serve.ts");
    const server = await startServer({
      bundlePath,
      listen: parseListen((args.flags.listen as string | undefined) ?? "127.0.0.1:8080"),
      tls: certFile && keyFile ? { certFile, keyFile } : undefined,
      allowPlaintext: Boolean(args.flags["allow-plaintext"]),
      mcp: Boolean(args.flags.mcp),
      publicUrl: args.flags["public-url"] as string | undefined,
      version: KZ_VERSION,
    });
    await new Promise<void>((resolve) => {
      const stop = () => resolve();
      process.once("SIGINT", stop);
      process.once("SIGTERM", stop);
    });
    await server.stop();
    return ExitCode.ok;
  },
};

const check: Command = {
  name: "server check",
  summary: "validate a bundle and run its policy tests",
  usage: "kz server check --bundle FILE [--json] [-v]",
  flags: checkFlags,
  details: `Compiles every CEL rule, checks issuers, providers and secrets, then runs the bundle's tests:
and every *_test.yaml beside it. Exit 0: valid and all tests pass · 1: a test failed · 3: the bundle is invalid.`,
  async run(argv) {
    const args = parseArgs(argv, checkFlags);
    if (args.flags.help) {
      writeStdout(commandHelp(check));
      return ExitCode.ok;
    }
    const bundlePath = bundleFlag(args.flags.bundle);
    const { loadBundleState } = await import("../server/bundle-state.ts");
    const { runPolicyTests, formatPolicyTestReport } = await import("../policy/tests.ts");
    const state = await loadBundleState(bundlePath, {});
    const { set } = state;
    const report = runPolicyTests(set);
    const rules = set.policies.reduce((n, p) => n + p.rules.length, 0);
    if (args.flags.json) {
      printJson({
        bundle: set.bundle.file,
        valid: true,
        sha256: state.sha256,
        issuers: state.verifier.issuers,
        secrets: set.bundle.secrets.length,
        policies: set.policies.length,
        rules,
        tests: {
          passed: report.passed,
          failed: report.failed,
          failures: report.results
            .filter((r) => !r.passed)
            .map((r) => ({ name: r.case.name, origin: r.case.origin, secret: r.case.secret, action: r.case.action, identity: r.case.identity, expected: r.case.expect, actual: r.actual, reason: r.decision.reason })),
        },
      });
    } else {
      writeStdout(`${set.bundle.file}: valid — ${state.verifier.issuers.length} issuers, ${set.bundle.secrets.length} secrets, ${set.policies.length} policies, ${rules} rules\n`);
      writeStdout(`${formatPolicyTestReport(set, report, { verbose: Boolean(args.flags.verbose) })}\n`);
    }
    return report.failed ? ExitCode.failure : ExitCode.ok;
  },
};

function bundleFlag(value: string | boolean | undefined): string {
  const path = typeof value === "string" ? value : process.env.KZ_BUNDLE;
  if (!path) throw new UsageError("--bundle FILE is required (or set KZ_BUNDLE)");
  return path;
}

const subcommands: Record<string, Command> = { start, check };

const server: Command = {
  name: "server",
  summary: "serve policy decisions, team-mode resolution and MCP (start, check)",
  usage: "kz server start|check --bundle FILE [flags]",
  flags: { ...helpFlag },
  details: `Subcommands:
  start   serve the policy API (and MCP with --mcp) from a bundle
  check   validate a bundle and run its policy tests

Run \`kz server start --help\` or \`kz server check --help\` for their flags.`,
  async run(argv) {
    const [sub, ...rest] = argv;
    if (sub === undefined || sub === "--help" || sub === "-h") {
      (sub === undefined ? writeStderr : writeStdout)(commandHelp(server));
      return sub === undefined ? ExitCode.usage : ExitCode.ok;
    }
    const command = Object.hasOwn(subcommands, sub) ? subcommands[sub] : undefined;
    if (!command) throw new UsageError(`unknown subcommand "kz server ${sub}" (known: start, check)`);
    return command.run(rest);
  },
};

export default server;
