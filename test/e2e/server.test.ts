// `kz server start` end to end: the real binary on an ephemeral port, identity tokens minted here with
// jose, decisions from the seed's policies, every way a token can be wrong, body limits, the one endpoint
// that returns a value, scoped tokens, metrics, the keyed audit chain and reloads.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { SignJWT } from "jose";
import { readAuditKey } from "../../src/audit/key.ts";
import { verifyChain } from "../../src/audit/log.ts";
import { Sandbox } from "../helpers/kz.ts";
import { makeCertificates } from "../servers/https-upstream.ts";
import { identityKey, identityToken, ServerProcess, TEST_AUDIENCE, TEST_ISSUER, writeIssuer, type IdentityKey } from "../helpers/server.ts";

const FAKE_DB_PASSWORD = "fake-db-password-0123456789";
const FAKE_ZENDESK = "fake-zendesk-token-abcdefghij";

const policies = `
policies:
- match: "secret/prod/**"
  rules:
  - cel: "identity.service == 'data-pipeline-agent'"
    effect: allow
  - cel: "identity.service == 'support-agent'"
    effect: deny
- match: "secret/staging/*"
  rules:
  - cel: "identity.env == 'staging'"
    effect: allow
- match: "secret/support/*"
  rules:
  - cel: "identity.service == 'support-agent'"
    effect: allow
- match: "secret/shared/*"
  rules:
  - cel: "true"
    effect: allow
  - cel: "has(identity.banned) && identity.banned == true"
    effect: deny
- match: "secret/broken/*"
  rules:
  - cel: "identity.team.size() > 0"
    effect: allow
`;

function bundleText(key: IdentityKey, extraPolicies = ""): string {
  return `${writeIssuer(sandbox.dir, key)}
providers:
  env: {}
secrets:
  DB_PROD: { provider: env, ref: secret/prod/db }
  DB_STAGING: { provider: env, ref: secret/staging/db }
  ZENDESK_KEY: { provider: env, ref: secret/support/zendesk, hosts: [example.zendesk.com] }
  SHARED: { provider: env, ref: secret/shared/thing }
  BROKEN: { provider: env, ref: secret/broken/thing }
  NOBODY: { provider: env, ref: secret/unmatched/thing }
  MISSING_ENV: { provider: env, ref: secret/prod/missing }
audit: { path: ./audit.jsonl }
${policies}${extraPolicies}`;
}

let sandbox: Sandbox;
let key: IdentityKey;
let server: ServerProcess;
let bundlePath: string;

beforeAll(async () => {
  sandbox = new Sandbox();
  key = await identityKey();
  bundlePath = sandbox.write("bundle.yaml", bundleText(key));
  server = await ServerProcess.start(["--bundle", bundlePath], {
    cwd: sandbox.dir,
    env: { "secret/prod/db": FAKE_DB_PASSWORD, "secret/support/zendesk": FAKE_ZENDESK, "secret/staging/db": "fake-staging-pw-000", "secret/shared/thing": "fake-shared-000000" },
  });
});

afterAll(async () => {
  await server?.stop();
  sandbox?.cleanup();
});

const token = (claims: Record<string, unknown> = {}) => identityToken(key, claims);

async function decideAs(claims: Record<string, unknown>, secret: string, action = "resolve") {
  const res = await server.post("/v1/decide", { secret, action }, await token(claims));
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

describe("decisions", () => {
  test("the seed's policies: the pipeline agent reaches prod, the support agent does not", async () => {
    const pipeline = await decideAs({ service: "data-pipeline-agent" }, "DB_PROD");
    expect(pipeline).toMatchObject({ status: 200, body: { allow: true, effect: "allow", policy: 0, rule: 0 } });
    const support = await decideAs({ service: "support-agent" }, "DB_PROD");
    expect(support).toMatchObject({ status: 200, body: { allow: false, effect: "deny", policy: 0, rule: 1 } });
    expect((await decideAs({ service: "support-agent" }, "ZENDESK_KEY")).body.allow).toBe(true);
  });

  test("staging is decided by identity.env", async () => {
    expect((await decideAs({ env: "staging" }, "DB_STAGING")).body.allow).toBe(true);
    expect((await decideAs({ env: "prod" }, "DB_STAGING")).body.allow).toBe(false);
  });

  test("deny overrides allow; nothing matching denies", async () => {
    expect((await decideAs({}, "SHARED")).body.allow).toBe(true);
    expect((await decideAs({ banned: true }, "SHARED")).body).toMatchObject({ allow: false, policy: 3, rule: 1 });
    const none = await decideAs({ service: "data-pipeline-agent" }, "NOBODY");
    expect(none.body).toMatchObject({ allow: false, policy: null });
    expect(String(none.body.reason)).toContain("no policy matches");
  });

  test("a rule that errors at evaluation denies, and the server log names it", async () => {
    const from = server.lines.length;
    const res = await decideAs({ service: "x" }, "BROKEN");
    expect(res.body.allow).toBe(false);
    expect(String(res.body.reason)).toContain("counts as a deny");
    const line = await server.waitForLine(/rule error: .*bundle\.yaml:\d+: policy 4 rule 0/, from);
    expect(line).toContain(String(res.body.decision_id));
  });

  test("an unknown secret is 404; a bad action is 400", async () => {
    const unknown = await decideAs({}, "NOPE");
    expect(unknown.status).toBe(404);
    expect(unknown.body).toEqual({ error: { code: "unknown_secret", message: expect.stringContaining("NOPE") } });
    const bad = await server.post("/v1/decide", { secret: "DB_PROD", action: "delete" }, await token());
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as any).error.message).toContain("action");
  });
});

describe("identity tokens", () => {
  async function rejected(tokenText: string | undefined, code: string) {
    const res = await server.post("/v1/decide", { secret: "DB_PROD", action: "resolve" }, tokenText);
    expect(res.status).toBe(401);
    expect(res.headers.get("www-authenticate")).toStartWith("Bearer realm=\"kz\"");
    const body = (await res.json()) as { error: { code: string; message: string } };
    expect(body.error.code).toBe(code);
    if (tokenText) for (const part of tokenText.split(".")) if (part.length >= 8) expect(body.error.message).not.toContain(part);
    return body.error.message;
  }
  const now = () => Math.floor(Date.now() / 1000);
  const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString("base64url");

  test("missing and non-bearer Authorization", async () => {
    await rejected(undefined, "missing_token");
    const res = await fetch(`${server.url}/v1/decide`, { method: "POST", headers: { authorization: "Basic Zm9vOmJhcg==", "content-type": "application/json" }, body: "{}" });
    expect(res.status).toBe(401);
  });

  test("alg none is refused", async () => {
    const unsigned = `${b64({ alg: "none", typ: "JWT" })}.${b64({ iss: TEST_ISSUER, aud: TEST_AUDIENCE, sub: "x", exp: now() + 60, service: "data-pipeline-agent" })}.`;
    await rejected(unsigned, "unsigned_token");
  });

  test("an HS256 token (signed with the public JWKS as the secret) against an ES256 issuer", async () => {
    const secret = new TextEncoder().encode(JSON.stringify(key.jwks.keys[0]));
    const hs = await new SignJWT({ service: "data-pipeline-agent" })
      .setProtectedHeader({ alg: "HS256", kid: key.kid })
      .setIssuer(TEST_ISSUER).setAudience(TEST_AUDIENCE).setSubject("x").setExpirationTime(now() + 60)
      .sign(secret);
    await rejected(hs, "algorithm_not_allowed");
  });

  test("expired, not yet valid, missing exp", async () => {
    await rejected(await token({ exp: now() - 3600, iat: now() - 7200 }), "token_expired");
    await rejected(await token({ nbf: now() + 3600 }), "token_not_yet_valid");
    const noExp = await new SignJWT({ service: "data-pipeline-agent" })
      .setProtectedHeader({ alg: "ES256", kid: key.kid }).setIssuer(TEST_ISSUER).setAudience(TEST_AUDIENCE).setSubject("x")
      .sign(key.privateKey);
    expect(await rejected(noExp, "missing_claim")).toContain("exp");
  });

  test("wrong issuer, wrong audience, unknown kid, forged signature", async () => {
    await rejected(await token({ iss: "https://evil.example.test" }), "unknown_issuer");
    await rejected(await token({ aud: "someone-else" }), "audience_mismatch");
    // A reason quoting a long or non-ASCII claim still makes a valid header (not a 500).
    const odd = await rejected(await token({ aud: `ünïcode-${"x".repeat(100)}` }), "audience_mismatch");
    expect(odd).toContain("ünïcode");
    await rejected(await identityToken(key, {}, { kid: "no-such-kid" }), "unknown_key");
    const other = await identityKey(key.kid);
    await rejected(await identityToken(other, { service: "data-pipeline-agent" }), "bad_signature");
  });
});

describe("request bodies", () => {
  test("malformed JSON, wrong shape, unknown fields, wrong content type", async () => {
    const t = await token();
    for (const [body, code] of [["{not json", "malformed_json"], ["[1,2]", "invalid_request"], [JSON.stringify({ secret: 7 }), "invalid_request"], [JSON.stringify({ secret: "DB_PROD", extra: 1 }), "invalid_request"]] as const) {
      const res = await server.post("/v1/decide", body, t);
      expect(res.status).toBe(400);
      expect(((await res.json()) as any).error.code).toBe(code);
    }
    const text = await server.post("/v1/decide", "secret=DB_PROD", t, { "content-type": "text/plain" });
    expect(text.status).toBe(415);
  });

  test("an oversized body is 413, declared or streamed", async () => {
    const t = await token();
    const big = JSON.stringify({ secret: "DB_PROD", path: "x".repeat(64 * 1024) });
    const declared = await server.post("/v1/decide", big, t);
    expect(declared.status).toBe(413);
    expect(((await declared.json()) as any).error.code).toBe("body_too_large");
    const stream = new ReadableStream({
      start(c) {
        c.enqueue(new TextEncoder().encode(big));
        c.close();
      },
    });
    const chunked = await fetch(`${server.url}/v1/decide`, { method: "POST", headers: { "content-type": "application/json", authorization: `Bearer ${t}` }, body: stream });
    expect(chunked.status).toBe(413);
  });

  test("unknown endpoints answer in the error shape", async () => {
    const res = await fetch(`${server.url}/v2/nothing`);
    expect(res.status).toBe(404);
    expect(((await res.json()) as any).error.code).toBe("not_found");
  });
});

describe("resolve", () => {
  test("an allowed identity gets the value; a denied one gets 403 and no value", async () => {
    const ok = await server.post("/v1/resolve", { secret: "DB_PROD" }, await token({ service: "data-pipeline-agent" }));
    expect(ok.status).toBe(200);
    expect(ok.headers.get("cache-control")).toBe("no-store");
    expect(await ok.json()).toMatchObject({ name: "DB_PROD", value: FAKE_DB_PASSWORD });
    const denied = await server.post("/v1/resolve", { secret: "DB_PROD" }, await token({ service: "support-agent" }));
    expect(denied.status).toBe(403);
    const text = await denied.text();
    expect(text).not.toContain(FAKE_DB_PASSWORD);
    expect(JSON.parse(text).error.code).toBe("denied");
  });

  test("a backend failure is 503 without internals", async () => {
    const res = await server.post("/v1/resolve", { secret: "MISSING_ENV" }, await token({ service: "data-pipeline-agent" }));
    expect(res.status).toBe(503);
    expect(((await res.json()) as any).error.code).toBe("backend_unavailable");
  });
});

describe("scoped tokens", () => {
  test("a minted token carries only the granted secrets and can be revoked by its parent", async () => {
    const parent = await token({ service: "support-agent", sub: "lead-agent", jti: "lead-agent-1" });
    const denied = await server.post("/v1/tokens", { secrets: ["DB_PROD"] }, parent);
    expect(denied.status).toBe(403);
    const minted = await server.post("/v1/tokens", { secrets: ["ZENDESK_KEY"], ttl_seconds: 120 }, parent);
    expect(minted.status).toBe(201);
    const { token: child, scope } = (await minted.json()) as { token: string; scope: { secrets: string[] } };
    expect(scope.secrets).toEqual(["ZENDESK_KEY"]);
    const jwks = (await (await fetch(`${server.url}/.well-known/jwks.json`)).json()) as { keys: { d?: string }[] };
    expect(jwks.keys.length).toBe(1);
    expect(jwks.keys[0]!.d).toBeUndefined();

    const use = await server.post("/v1/resolve", { secret: "ZENDESK_KEY" }, child);
    expect(((await use.json()) as any).value).toBe(FAKE_ZENDESK);
    // SHARED is allowed to everyone by policy, but not in the child's scope.
    const outside = await server.post("/v1/decide", { secret: "SHARED" }, child);
    expect(((await outside.json()) as any).reason).toContain("scope");

    const stranger = await server.post("/v1/tokens/revoke", { token: child }, await token({ sub: "someone-else", jti: "someone-else-1" }));
    expect(stranger.status).toBe(403);
    // The same identity with another token (another jti) is not the parent either (test/e2e/revocation.test.ts).
    const twin = await server.post("/v1/tokens/revoke", { token: child }, await token({ service: "support-agent", sub: "lead-agent", jti: "lead-agent-2" }));
    expect(twin.status).toBe(403);
    const revoke = await server.post("/v1/tokens/revoke", { token: child }, parent);
    expect(revoke.status).toBe(200);
    const after = await server.post("/v1/resolve", { secret: "ZENDESK_KEY" }, child);
    expect(after.status).toBe(401);
    expect(((await after.json()) as any).error.code).toBe("token_revoked");
  });
});

describe("operations", () => {
  test("healthz and metrics need no token and carry no values", async () => {
    const health = (await (await fetch(`${server.url}/healthz`)).json()) as any;
    expect(health).toMatchObject({ status: "ok", secrets: 7 });
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    expect(metrics).toMatch(/kz_decisions_total\{action="resolve",effect="allow"\} \d+/);
    expect(metrics).toMatch(/kz_decision_duration_seconds_bucket\{le="\+Inf"\} \d+/);
    expect(metrics).toMatch(/kz_errors_total\{code="unsigned_token"\} 1/);
    expect(metrics).not.toContain(FAKE_DB_PASSWORD);
  });

  test("the audit log: one record per decision, no value, chain intact, broken by an edit", async () => {
    await decideAs({ service: "data-pipeline-agent", team: "data" }, "DB_PROD");
    const text = readFileSync(join(sandbox.dir, "audit.jsonl"), "utf8");
    for (const secret of [FAKE_DB_PASSWORD, FAKE_ZENDESK]) expect(text).not.toContain(secret);
    const key = readAuditKey(join(sandbox.dir, "audit.key"));
    expect(verifyChain(text, { key })).toBeUndefined();
    const records = text.trim().split("\n").map((l) => JSON.parse(l));
    const last = records.at(-1);
    expect(last).toMatchObject({ event: "decision", issuer: "local", subject: "agent-7", secret: "DB_PROD", ref: "secret/prod/db", action: "resolve", effect: "allow", policy: 0, rule: 0, client: "127.0.0.1", claims: { service: "data-pipeline-agent" } });
    expect(typeof last.latency_ms).toBe("number");
    expect(last.decision_id).toStartWith("dec_");
    const edited = text.replace('"effect":"deny"', '"effect":"allow"');
    expect(edited).not.toBe(text);
    expect(verifyChain(edited, { key })?.reason).toContain("chain broken");
  });

  test("a reload with a broken bundle keeps the old policies; a good one takes effect", async () => {
    const before = (await decideAs({ service: "support-agent" }, "DB_PROD")).body.allow;
    expect(before).toBe(false);
    let from = server.lines.length;
    writeFileSync(bundlePath, `${bundleText(key)}\n- match: "secret/prod/**"\n  rules:\n  - cel: "identity.service ==="\n    effect: allow\n`);
    server.proc.kill("SIGHUP");
    const failed = await server.waitForLine(/reload failed/, from);
    expect(failed).toMatch(/bundle\.yaml:\d+: policy 5, rule 0/);
    expect((await decideAs({ service: "support-agent" }, "DB_PROD")).body.allow).toBe(false);
    expect((await decideAs({ service: "data-pipeline-agent" }, "DB_PROD")).body.allow).toBe(true);

    from = server.lines.length;
    writeFileSync(bundlePath, `${bundleText(key)}\n- match: "secret/staging/*"\n  rules:\n  - cel: "identity.service == 'support-agent'"\n    effect: allow\n`);
    server.proc.kill("SIGHUP");
    await server.waitForLine(/reloaded /, from);
    // (env is set: without it the original staging rule would error, and an error denies.)
    expect((await decideAs({ service: "support-agent", env: "dev" }, "DB_STAGING")).body.allow).toBe(true);
  });

  test("an edit to the bundle file alone, with no signal, is reloaded", async () => {
    const box = new Sandbox();
    try {
      const path = box.write("bundle.yaml", `${writeIssuer(box.dir, key)}secrets:\n  S: { provider: env, ref: app/s }\npolicies: []\n`);
      const watched = await ServerProcess.start(["--bundle", path], { cwd: box.dir });
      try {
        const ask = async () => ((await (await watched.post("/v1/decide", { secret: "S" }, await token())).json()) as any).allow;
        expect(await ask()).toBe(false);
        const from = watched.lines.length;
        writeFileSync(path, `${writeIssuer(box.dir, key)}secrets:\n  S: { provider: env, ref: app/s }\npolicies:\n- match: "app/*"\n  rules:\n  - { cel: "true", effect: allow }\n`);
        expect(await watched.waitForLine(/reloaded /, from)).toContain("(file changed)");
        expect(await ask()).toBe(true);
      } finally {
        await watched.stop();
      }
    } finally {
      box.cleanup();
    }
  });
});

describe("jwks_url issuers", () => {
  test("keys are fetched once; a stream of unknown kids does not hammer the JWKS endpoint", async () => {
    const remoteKey = await identityKey("remote-1");
    let fetches = 0;
    const jwks = Bun.serve({
      hostname: "127.0.0.1",
      port: 0,
      fetch() {
        fetches++;
        return Response.json(remoteKey.jwks);
      },
    });
    const box = new Sandbox();
    try {
      const bundle = box.write(
        "bundle.yaml",
        `issuers:
- name: remote
  issuer: ${TEST_ISSUER}
  audience: ${TEST_AUDIENCE}
  jwks_url: http://127.0.0.1:${jwks.port}/jwks
  algorithms: [ES256]
secrets:
  SHARED: { provider: env, ref: SHARED_VALUE }
policies:
- match: "*"
  rules:
  - { cel: "true", effect: allow }
`,
      );
      const remote = await ServerProcess.start(["--bundle", bundle], { cwd: box.dir, env: { SHARED_VALUE: "fake-shared-value-1234" } });
      try {
        const good = await remote.post("/v1/decide", { secret: "SHARED" }, await identityToken(remoteKey));
        expect(((await good.json()) as any).allow).toBe(true);
        const before = fetches;
        expect(before).toBe(1);
        for (let i = 0; i < 20; i++) {
          const res = await remote.post("/v1/decide", { secret: "SHARED" }, await identityToken(remoteKey, {}, { kid: `made-up-${i}` }));
          expect(res.status).toBe(401);
        }
        // One refetch for the first unknown kid, then the cooldown holds.
        expect(fetches - before).toBeLessThanOrEqual(1);
      } finally {
        await remote.stop();
      }
    } finally {
      jwks.stop(true);
      box.cleanup();
    }
  });
});

describe("TLS and listen addresses", () => {
  test("--tls-cert/--tls-key serve HTTPS that curl verifies against the CA", async () => {
    const box = new Sandbox();
    try {
      await makeCertificates(box.dir, ["kz.example.test"]);
      const bundle = box.write("bundle.yaml", `${writeIssuer(box.dir, key)}secrets:\n  S: { provider: env, ref: S_VALUE }\npolicies: []\n`);
      const tlsServer = await ServerProcess.start(["--bundle", bundle, "--tls-cert", join(box.dir, "server.pem"), "--tls-key", join(box.dir, "server.key")], { cwd: box.dir });
      try {
        expect(tlsServer.url).toStartWith("https://127.0.0.1:");
        const curl = Bun.spawnSync(["curl", "-sS", "--cacert", join(box.dir, "ca.pem"), `${tlsServer.url}/healthz`]);
        expect(curl.exitCode).toBe(0);
        expect(JSON.parse(curl.stdout.toString()).status).toBe("ok");
        const untrusted = Bun.spawnSync(["curl", "-sS", "--cacert", "/dev/null", `${tlsServer.url}/healthz`]);
        expect(untrusted.exitCode).not.toBe(0);
      } finally {
        await tlsServer.stop();
      }
    } finally {
      box.cleanup();
    }
  });

  test("a non-loopback address without TLS is refused before anything listens", async () => {
    const r = await sandbox.kz(["server", "start", "--bundle", bundlePath, "--listen", "0.0.0.0:0"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("needs --tls-cert and --tls-key");
  });

  test("server check: exit 3 for an invalid bundle naming the rule, 1 for a failing test, 0 when all pass", async () => {
    const box = new Sandbox();
    try {
      const head = `${writeIssuer(box.dir, key)}secrets:\n  S: { provider: env, ref: app/s }\n`;
      const bad = box.write("bad.yaml", `${head}policies:\n- match: "app/*"\n  rules:\n  - cel: "identity.team =="\n    effect: allow\n`);
      const invalid = await box.kz(["server", "check", "--bundle", bad]);
      expect(invalid.code).toBe(3);
      expect(invalid.stderr).toMatch(/bad\.yaml:\d+: policy 0, rule 0: column \d+/);
      const rules = `policies:\n- match: "app/*"\n  rules:\n  - cel: "has(identity.team) && identity.team == 'a'"\n    effect: allow\n`;
      const failing = box.write("failing.yaml", `${head}${rules}tests:\n- name: team b gets in\n  identity: { team: b }\n  secret: S\n  expect: allow\n`);
      const failed = await box.kz(["server", "check", "--bundle", failing]);
      expect(failed.code).toBe(1);
      expect(failed.stdout).toContain("FAIL team b gets in");
      expect(failed.stdout).toContain('identity: {"team":"b"}');
      const passing = box.write("passing.yaml", `${head}${rules}tests:\n- name: team a gets in\n  identity: { team: a }\n  secret: S\n  expect: allow\n`);
      const passed = await box.kz(["server", "check", "--bundle", passing, "--json"]);
      expect(passed.code).toBe(0);
      expect(JSON.parse(passed.stdout)).toMatchObject({ valid: true, tests: { passed: 1, failed: 0 } });
    } finally {
      box.cleanup();
    }
  });
});
