// A real MCP endpoint for the protocol tests: a bundle written to a temp dir, compiled by the policy
// engine, JWTs verified by src/identity/verify.ts against a test key, values from the env provider, audit
// records in a real keyed AuditLog, and test/servers/https-upstream.ts as the HTTPS upstream —
// trusted through fetch.upstream_ca and reached through a resolve pin. The McpHost here is the thin glue
// the server (src/server) will provide; everything it glues is the production code.

import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { JWTPayload } from "jose";
import { loadOrCreateAuditKey } from "../../src/audit/key.ts";
import { AuditLog } from "../../src/audit/log.ts";
import { createVerifier } from "../../src/identity/verify.ts";
import type { CallerIdentity, McpHost } from "../../src/mcp/host.ts";
import { MCP_PATH, METADATA_PATH, handleMcpHttp, protectedResourceMetadataResponse, type McpOptions } from "../../src/mcp/index.ts";
import { decide, loadPolicySet, type PolicySet } from "../../src/policy/engine.ts";
import { loadProviderFactory } from "../../src/providers/registry.ts";
import { claimsFor, jwksOf, makeKey, NOW, NOW_MS, sign, type TestKey } from "../identity/fixtures.ts";
import { startHttpsUpstream, type HttpsUpstream } from "../servers/https-upstream.ts";

export const ISSUER = "https://idp.example.test";
export const AUDIENCE = "keyzero";
export const ALLOWED_ORIGIN = "https://app.example.test";

/** Obviously fake credentials the env provider serves; none may ever reach an MCP result or the audit log. */
export const VALUES = {
  KZ_MCP_TEST_API_KEY: "fake-api-key-0123456789abcdef",
  KZ_MCP_TEST_BASIC_PASS: "fake-basic-pass-\"quoted\"&more",
  KZ_MCP_TEST_ANY_KEY: "fake-any-key-9876543210fedcba",
  KZ_MCP_TEST_NO_HOSTS: "fake-no-hosts-key-000111222",
  KZ_MCP_TEST_HEADER_KEY: "fake-header-key-5555666677",
};

export function bundleYaml(opts: { upstreamPort: number; allowPrivate: boolean }): string {
  return `issuers:
- name: test
  issuer: ${ISSUER}
  audience: ${AUDIENCE}
  jwks_file: ./jwks.json
  algorithms: [ES256]
secrets:
  API_KEY: { provider: env, ref: KZ_MCP_TEST_API_KEY, hosts: [api.example.test], swap: [header, query] }
  BASIC_PASS: { provider: env, ref: KZ_MCP_TEST_BASIC_PASS, hosts: [api.example.test], swap: [header, body] }
  ANY_KEY: { provider: env, ref: KZ_MCP_TEST_ANY_KEY, hosts: ["*"] }
  NO_HOSTS: { provider: env, ref: KZ_MCP_TEST_NO_HOSTS }
  UNSET_KEY: { provider: env, ref: KZ_MCP_TEST_NOT_SET, hosts: [api.example.test] }
  HEADER_KEY: { provider: env, ref: KZ_MCP_TEST_HEADER_KEY, hosts: [api.example.test], inject: "X-Api-Key: Token {}" }
fetch:
  upstream_ca: ./upstream-ca.pem
  resolve: { "api.example.test:443": "127.0.0.1:${opts.upstreamPort}" }
  allow_private: ${opts.allowPrivate}
mcp:
  allowed_origins: [${ALLOWED_ORIGIN}]
audit:
  path: ./audit.jsonl
policies:
- match: "**"
  rules:
  - cel: "identity.service == 'agent'"
    effect: allow
  - cel: "identity.service == 'blocked'"
    effect: deny
- match: KZ_MCP_TEST_ANY_KEY
  rules:
  - cel: "request.action == 'fetch' && request.host == 'forbidden.example.test'"
    effect: deny
`;
}

export interface TestHost extends McpHost {
  set: PolicySet;
  auditPath: string;
  /** The audit log's records, parsed. */
  auditRecords(): Record<string, unknown>[];
}

/** The McpHost a server would build, from real parts. */
export async function buildHost(bundlePath: string): Promise<TestHost> {
  const set = loadPolicySet(bundlePath);
  const { bundle } = set;
  const verifier = await createVerifier(bundle.issuers, { baseDir: bundle.dir, now: () => NOW_MS });
  const audit = new AuditLog(bundle.audit.path, loadOrCreateAuditKey(bundle.audit.keyFile));
  let decisions = 0;
  return {
    set,
    auditPath: bundle.audit.path,
    auditRecords: () =>
      readFileSync(bundle.audit.path, "utf8")
        .split("\n")
        .filter(Boolean)
        .map((line) => JSON.parse(line)),
    async authenticate(authorization) {
      if (authorization === null) return { ok: false, status: 401, code: "missing_token", message: "missing bearer token" };
      const match = /^Bearer\s+(\S+)$/i.exec(authorization);
      if (!match) return { ok: false, status: 401, code: "malformed_token", message: "Authorization must be Bearer <JWT>" };
      const result = await verifier.verify(match[1]!);
      if (!result.ok) return { ok: false, status: result.status, code: result.code, message: result.message };
      return { ok: true, identity: { issuer: result.issuer, subject: String(result.claims.sub ?? ""), claims: result.claims as Record<string, unknown> } };
    },
    secrets: () => bundle.secrets,
    decide(identity: CallerIdentity, secret, request, client) {
      // A request kz refused before any policy (host rule, placement) is a recorded deny, as in src/server/access.ts.
      const refused = (request as { refused?: string }).refused;
      const decision = refused !== undefined ? { allow: false, effect: "deny" as const, reason: refused, kind: "decided" as const } : decide(set, identity.claims, secret, request, new Date(NOW_MS));
      const decisionId = `dec-${++decisions}`;
      audit.append({
        event: "decision",
        decision: decisionId,
        subject: identity.subject,
        secret,
        action: request.action,
        host: request.host ?? null,
        method: request.method ?? null,
        path: request.path ?? null,
        effect: decision.effect,
        client,
      });
      return { allow: decision.allow, known: decision.kind !== "unknown-secret", reason: decision.reason, decisionId };
    },
    async value(name) {
      const spec = bundle.secrets.find((s) => s.name === name);
      if (!spec) throw new Error(`no secret ${name}`);
      const factory = await loadProviderFactory(spec.provider);
      const provider = await factory({ settings: bundle.providers[spec.provider] ?? {}, env: VALUES, configDir: bundle.dir });
      return provider.fetch({ name, ref: spec.ref, field: spec.field, signal: AbortSignal.timeout(5000) });
    },
    fetchSettings: () => bundle.fetch,
    allowedOrigins: () => bundle.mcp.allowedOrigins,
  };
}

export interface McpServer {
  url: string;
  publicUrl: string;
  stop(): void;
}

/** Bun.serve on 127.0.0.1:0 mounting the MCP handler and the resource metadata, as the server does. */
export function serveMcp(host: McpHost, options?: McpOptions): McpServer {
  let publicUrl = "";
  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    fetch(request, srv) {
      const path = new URL(request.url).pathname;
      if (path === MCP_PATH) return handleMcpHttp(request, host, { client: srv.requestIP(request)?.address ?? "unknown", publicUrl, options });
      if (path === METADATA_PATH || path === `${METADATA_PATH}${MCP_PATH}`) return protectedResourceMetadataResponse(publicUrl, [ISSUER]);
      return new Response("not found", { status: 404 });
    },
  });
  publicUrl = `http://127.0.0.1:${server.port}`;
  return { url: `${publicUrl}${MCP_PATH}`, publicUrl, stop: () => server.stop(true) };
}

export interface Fixture {
  dir: string;
  upstream: HttpsUpstream;
  key: TestKey;
  /** allow_private: true, the upstream pinned — the everyday setup. */
  open: { host: TestHost; server: McpServer; bundlePath: string };
  /** The same bundle with allow_private: false. */
  strict: { host: TestHost; server: McpServer; bundlePath: string };
  /** A JWT for `service` (valid at the fixture's clock unless `claims` say otherwise). */
  jwt(service: string, claims?: JWTPayload): Promise<string>;
  stop(): void;
}

export async function startFixture(options?: McpOptions): Promise<Fixture> {
  const dir = mkdtempSync(join(tmpdir(), "kz-mcp-"));
  const upstream = await startHttpsUpstream({ hostnames: ["api.example.test"] });
  const key = await makeKey("ES256", "mcp-test");
  const write = (sub: string, allowPrivate: boolean) => {
    const bdir = join(dir, sub);
    mkdirSync(bdir);
    writeFileSync(join(bdir, "jwks.json"), JSON.stringify(jwksOf(key)));
    writeFileSync(join(bdir, "upstream-ca.pem"), upstream.caPem);
    const path = join(bdir, "bundle.yaml");
    writeFileSync(path, bundleYaml({ upstreamPort: upstream.port, allowPrivate }));
    return path;
  };
  const openPath = write("open", true);
  const strictPath = write("strict", false);
  const openHost = await buildHost(openPath);
  const strictHost = await buildHost(strictPath);
  const open = { host: openHost, server: serveMcp(openHost, options), bundlePath: openPath };
  const strict = { host: strictHost, server: serveMcp(strictHost, options), bundlePath: strictPath };
  return {
    dir,
    upstream,
    key,
    open,
    strict,
    jwt: (service, claims = {}) => sign(key, claimsFor(ISSUER, AUDIENCE, { service, ...claims })),
    stop() {
      open.server.stop();
      strict.server.stop();
      upstream.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export { NOW };
