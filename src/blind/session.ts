// One blind-mode run: mints a token per blinded secret, starts the per-run CA and the loopback proxy
// with the rewrite engine as its policy, writes the child's trust files, and reports what the proxy
// did — swaps to the audit log, refusals to stderr and the audit log. stop() ends it all and deletes
// the temporary files.

import { readFileSync } from "node:fs";
import { homedir } from "node:os";
import { isAbsolute, join } from "node:path";
import { loadOrCreateAuditKey, localAuditKeyPath } from "../audit/key.ts";
import { AuditLog } from "../audit/log.ts";
import type { KzConfig, SecretSpec } from "../config/types.ts";
import { ConfigError } from "../errors.ts";
import type { SecretValue } from "../secret.ts";
import { createCertificateAuthority } from "./ca.ts";
import { startProxy, type BlindProxy, type ProxyEvent, type ProxyPolicy } from "./proxy.ts";
import { echoRewriter } from "./rewrite/echo.ts";
import { planRequest } from "./rewrite/plan.ts";
import { TokenTable, compileHosts, mintTokens } from "./tokens.ts";
import { buildTrustEnv, type TrustEnv } from "./trust-env.ts";
import type { BlindSecret, Destination } from "./types.ts";

export interface BlindRunOptions {
  config: KzConfig;
  /** The blinded secrets with their resolved values. */
  secrets: { spec: SecretSpec; value: SecretValue }[];
  env: Record<string, string | undefined>;
  /** One line for the user (stderr). */
  warn: (line: string) => void;
}

export interface BlindRun {
  secrets: BlindSecret[];
  proxy: BlindProxy;
  trust: TrustEnv;
  auditPath: string;
  /** Audits one plain TCP connection relayed out of the sandbox (`[blind] allow_tcp`). */
  recordTcp(destination: string): void;
  stop(): void;
}

/** Fails before anything resolves when a blinded secret has no (valid) hosts. */
export function checkBlindable(specs: SecretSpec[]): void {
  for (const spec of specs) if (spec.blind !== false) compileHosts(spec.name, spec.hosts ?? []);
}

export function auditPathOf(config: KzConfig, env: Record<string, string | undefined>): string {
  if (config.audit.path) return isAbsolute(config.audit.path) ? config.audit.path : join(config.dir, config.audit.path);
  const stateHome = env.XDG_STATE_HOME || join(env.HOME || homedir(), ".local", "state");
  return join(stateHome, "keyzero", "audit.jsonl");
}

function readUpstreamCa(config: KzConfig, env: Record<string, string | undefined>): string | undefined {
  const path = config.blind.upstreamCa ?? env.KZ_UPSTREAM_CA;
  if (!path) return undefined;
  const full = isAbsolute(path) ? path : join(config.dir, path);
  try {
    const pem = readFileSync(full, "utf8");
    if (!pem.includes("-----BEGIN CERTIFICATE-----")) throw new Error("no PEM certificate in it");
    return pem;
  } catch (error) {
    throw new ConfigError(`[blind] upstream_ca: cannot use ${full} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
  }
}

/** The rewrite engine as the proxy's policy. */
function enginePolicy(table: TokenTable, inspectAll: boolean, onEvent: (e: ProxyEvent) => void): ProxyPolicy {
  const secrets = [...table.secrets]; // one list for the run, so the echo matcher is built once
  return {
    intercepts: (dest: Destination) => inspectAll || table.forHost(dest).length > 0,
    planRequest: (dest, head) => planRequest(dest, head, table),
    responseRewriter: (_dest, plan) => {
      const echo = echoRewriter(secrets, plan.produced);
      return {
        head: echo.head, // reason phrase, header names and values: a server can echo a value anywhere in its head
        body: echo.body,
      };
    },
    onEvent,
  };
}

export function startBlindRun(opts: BlindRunOptions): BlindRun {
  const { config, env, warn } = opts;
  const secrets = mintTokens(
    opts.secrets.map(({ spec, value }) => ({ name: spec.name, value, hosts: spec.hosts ?? [], tokenFormat: spec.tokenFormat, swap: spec.swap })),
  );
  const table = new TokenTable(secrets);
  const auditPath = auditPathOf(config, env);
  // Keyed by $XDG_CONFIG_HOME/keyzero/audit.key, loaded (or created) with the first record.
  const audit = new AuditLog(auditPath, () => loadOrCreateAuditKey(localAuditKeyPath(env)));
  let auditBroken = false;
  const record = (event: ProxyEvent) => {
    try {
      audit.append({ event: `blind.${event.kind}`, host: event.host, secrets: event.secrets ?? [], reason: event.reason ?? null });
    } catch (error) {
      // An unwritable audit log must not break the child's requests: say so once.
      const why = (error as NodeJS.ErrnoException).code ?? (error instanceof ConfigError ? error.message : "error");
      if (!auditBroken) warn(`blind: cannot write the audit log ${auditPath} (${why})`);
      auditBroken = true;
    }
  };
  const onEvent = (event: ProxyEvent) => {
    if (event.kind === "refusal") {
      const names = event.secrets?.length ? event.secrets.join(", ") : "request";
      warn(`blind: blocked ${names} → ${event.host}: ${event.reason ?? "not allowed"}`);
    }
    if (event.kind !== "tunnel") record(event);
  };

  const ca = createCertificateAuthority();
  const proxy = startProxy({
    policy: enginePolicy(table, config.blind.inspect === "all", onEvent),
    ca,
    upstream: { extraCaPem: readUpstreamCa(config, env), resolve: config.blind.resolve },
  });
  let trust: TrustEnv;
  try {
    trust = buildTrustEnv({ caPem: ca.certPem, proxyUrl: proxy.url, inherited: env, realValues: opts.secrets.map((s) => s.value.reveal()) });
  } catch (error) {
    proxy.stop();
    throw error;
  }
  return {
    secrets,
    proxy,
    trust,
    auditPath,
    recordTcp: (destination) => record({ kind: "tcp", host: destination }),
    stop() {
      proxy.stop();
      trust.cleanup();
      audit.close();
    },
  };
}
