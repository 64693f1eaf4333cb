// Team mode end to end: a real `dist/kz server start` holds the values (env provider, its own process
// environment) and decides per identity; an agent sandbox holds only a JWT minted here with jose and a
// .keyzero.toml using [providers.kz]. kz run receives the value (masked in output), a denied identity
// never starts the child, kz run --blind hands the child a token that the proxy swaps on the bound host,
// the agent side holds no backend credential, and the server's audit log records it all and verifies.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Sandbox, type KzResult } from "../helpers/kz.ts";
import { identityKey, identityToken, ServerProcess, writeIssuer, type IdentityKey } from "../helpers/server.ts";
import { startHttpsUpstream, type HttpsUpstream } from "../servers/https-upstream.ts";
import { readAuditKey } from "../../src/audit/key.ts";

const DB_PROD = "fake-team-db-prod-pass-0001";
const API_KEY = "sk-fake-team-api-key-000000000002";
const REAL_VALUES = [DB_PROD, API_KEY];
const API = "api.example.test";

let serverDir: string;
let key: IdentityKey;
let server: ServerProcess;
let upstream: HttpsUpstream;
let box: Sandbox;
let pipelineToken: string;
let supportToken: string;
let secrets: string[];

beforeAll(async () => {
  serverDir = mkdtempSync(join(tmpdir(), "kz-team-server-"));
  key = await identityKey();
  writeFileSync(
    join(serverDir, "bundle.yaml"),
    `${writeIssuer(serverDir, key)}
secrets:
  DB_PROD: { provider: env, ref: TEAM_DB_PROD_SOURCE }
  API_KEY: { provider: env, ref: TEAM_API_KEY_SOURCE, hosts: [${API}] }
policies:
- match: "TEAM_DB_PROD_SOURCE"
  rules:
  - cel: "identity.service == 'data-pipeline-agent'"
    effect: allow
  - cel: "identity.service == 'support-agent'"
    effect: deny
- match: "TEAM_API_KEY_SOURCE"
  rules:
  - cel: "has(identity.service)"
    effect: allow
`,
  );
  // The backend "credentials" live only in the server's environment.
  server = await ServerProcess.start(["--bundle", "bundle.yaml"], {
    cwd: serverDir,
    env: { TEAM_DB_PROD_SOURCE: DB_PROD, TEAM_API_KEY_SOURCE: API_KEY },
  });
  pipelineToken = await identityToken(key, { service: "data-pipeline-agent" });
  supportToken = await identityToken(key, { sub: "support-1", service: "support-agent" });
  secrets = [...REAL_VALUES, pipelineToken, supportToken];

  upstream = await startHttpsUpstream({ hostnames: [API] });
  box = new Sandbox();
  box.write(
    ".keyzero.toml",
    `[providers.kz]
url = "${server.url}"

[blind]
upstream_ca = "${upstream.caFile}"
resolve = { "${API}:443" = "127.0.0.1:${upstream.port}" }

[secrets]
DB_PROD = { provider = "kz", hosts = ["db.example.test"] }
API_KEY = { provider = "kz", hosts = ["${API}"] }
`,
  );
  expect((await box.kz(["allow"])).code).toBe(0); // the user approves these bindings
});

afterAll(async () => {
  await server?.stop();
  upstream?.stop();
  box?.cleanup();
  if (serverDir) rmSync(serverDir, { recursive: true, force: true });
});

function agent(args: string[], token: string): Promise<KzResult> {
  return box.kz(args, { env: { KZ_IDENTITY_TOKEN: token } });
}

/** kz's own output never shows a value or an identity token. */
function expectClean(r: KzResult): void {
  for (const s of secrets) {
    expect(r.stdout).not.toContain(s);
    expect(r.stderr).not.toContain(s);
  }
}

describe("kz run through a kz server", () => {
  test("the child receives the values; its output is masked", async () => {
    const out = join(box.dir, "received.txt");
    const r = await agent(["run", "--", "sh", "-c", `echo "db=$DB_PROD api=$API_KEY"; printf %s "$DB_PROD" > "${out}"`], pipelineToken);
    expect(r).toEqual({ code: 0, stdout: "db=[kz:DB_PROD] api=[kz:API_KEY]\n", stderr: "" });
    expect(readFileSync(out, "utf8")).toBe(DB_PROD);
  });

  test("the identity token never reaches the child, under its default name or a custom token_env", async () => {
    const out = join(box.dir, "env.txt");
    const r = await agent(["run", "--", "sh", "-c", `env > "${out}"`], pipelineToken);
    expect(r.code).toBe(0);
    expect(readFileSync(out, "utf8")).not.toContain(pipelineToken);
    const custom = new Sandbox();
    try {
      custom.write(".keyzero.toml", `[providers.kz]\nurl = "${server.url}"\ntoken_env = "AGENT_JWT"\n\n[secrets]\nDB_PROD = { provider = "kz" }\n`);
      const customOut = join(custom.dir, "env.txt");
      const c = await custom.kz(["run", "--", "sh", "-c", `env > "${customOut}"`], { env: { AGENT_JWT: pipelineToken } });
      expect(c.code).toBe(0);
      const childEnv = readFileSync(customOut, "utf8");
      expect(childEnv).toContain("DB_PROD=");
      expect(childEnv).not.toContain(pipelineToken);
    } finally {
      custom.cleanup();
    }
  });

  test("a denied identity: exit 4, the child never starts, one line says why", async () => {
    const marker = join(box.dir, "started");
    const r = await agent(["run", "--", "sh", "-c", `touch "${marker}"`], supportToken);
    expect(r.code).toBe(4);
    expect(existsSync(marker)).toBe(false);
    expect(r.stderr).toContain("DB_PROD (kz DB_PROD): denied by policy: ");
    expect(r.stderr).not.toContain("denied by policy: denied");
    expect(r.stderr).toContain(`(kz server ${server.url}, secret DB_PROD)`);
    expect(r.stderr).not.toContain("API_KEY (kz"); // the allowed one resolved
    expectClean(r);
  });

  test("an expired or foreign token: exit 4 with the server's reason and what to do", async () => {
    const expired = await identityToken(key, { service: "data-pipeline-agent", iat: 1_000, exp: 2_000 });
    const r = await agent(["run", "--only", "DB_PROD", "--", "true"], expired);
    expect(r.code).toBe(4);
    expect(r.stderr).toContain("identity token rejected (");
    expect(r.stderr).toContain("get a fresh token / check KZ_IDENTITY_TOKEN");
    expect(r.stderr).not.toContain(expired);
    const none = await box.kz(["run", "--only", "DB_PROD", "--", "true"]);
    expect(none.code).toBe(4);
    expect(none.stderr).toContain(`no identity token for kz server ${server.url}: set KZ_IDENTITY_TOKEN`);
  });

  test("kz status reports each secret without a value", async () => {
    const r = await agent(["status", "--json"], supportToken);
    expect(r.code).toBe(4);
    const doc = JSON.parse(r.stdout) as { secrets: { name: string; ok: boolean; error: string | null }[] };
    expect(doc.secrets.map((s) => [s.name, s.ok])).toEqual([["DB_PROD", false], ["API_KEY", true]]);
    expectClean(r);
  });
});

describe("kz run --blind through a kz server", () => {
  test("the child holds a token; the proxy swaps it on the bound host only", async () => {
    const before = upstream.requests.length;
    const r = await agent(
      ["run", "--blind", "--only", "API_KEY", "--", "sh", "-c", `printf '%s\\n' "$API_KEY"; curl -sS -o /dev/null https://${API}/echo -H "Authorization: Bearer $API_KEY"`],
      pipelineToken,
    );
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^KZ_TOK_[A-Za-z0-9_-]{20,}\n$/);
    const seen = upstream.requests.slice(before);
    expect(seen).toHaveLength(1);
    expect(seen[0]!.headers.authorization).toBe(`Bearer ${API_KEY}`);
    expectClean(r);
  });

  test("the blind child's environment holds no value, no identity token and no backend credential", async () => {
    const r = await agent(["run", "--blind", "--no-masking", "--", "/usr/bin/env"], pipelineToken);
    expect(r.code).toBe(0);
    for (const s of secrets) expect(r.stdout).not.toContain(s);
    expect(r.stdout).not.toMatch(/^KZ_IDENTITY_TOKEN=/m);
    expect(r.stdout).not.toMatch(/^TEAM_/m);
    expect(r.stdout).toMatch(/^DB_PROD=KZ_TOK_/m);
    expect(r.stdout).toMatch(/^API_KEY=KZ_TOK_/m);
  });
});

describe("the identity token stays with kz", () => {
  // README: "The identity token is not passed to the child" — it could resolve every secret the policy
  // grants this identity, not just the ones this run asked for. Needs KZ_IDENTITY_TOKEN in
  // KZ_PRIVATE_NAMES (src/runner/child-env.ts).
  test("a plain kz run's child does not inherit KZ_IDENTITY_TOKEN", async () => {
    const r = await agent(["run", "--no-masking", "--only", "API_KEY", "--", "/usr/bin/env"], pipelineToken);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`API_KEY=${API_KEY}`); // the value it asked for, raw (no masking here)
    expect(r.stdout).not.toMatch(/^KZ_IDENTITY_TOKEN=/m);
    expect(r.stdout).not.toContain(pipelineToken);
  });
});

describe("the agent side holds no backend credential", () => {
  test("nothing in the agent's environment or config is a value or names the backend", () => {
    const agentEnv = { ...box.env, KZ_IDENTITY_TOKEN: pipelineToken };
    for (const [name, value] of Object.entries(agentEnv)) {
      expect(name).not.toStartWith("TEAM_");
      for (const v of REAL_VALUES) expect(value).not.toContain(v);
    }
    const config = readFileSync(join(box.dir, ".keyzero.toml"), "utf8");
    for (const v of REAL_VALUES) expect(config).not.toContain(v);
    expect(config).not.toContain("TEAM_");
  });
});

describe("the server's audit log", () => {
  test("records each decision, holds no value or token, and verifies with kz audit verify", async () => {
    const denied = await agent(["run", "--only", "DB_PROD", "--", "true"], supportToken);
    expect(denied.code).toBe(4);
    const log = join(serverDir, "audit.jsonl");
    const text = readFileSync(log, "utf8");
    for (const s of secrets) expect(text).not.toContain(s);
    const records = text.trim().split("\n").map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(records.at(-1)).toMatchObject({
      event: "decision",
      issuer: "local",
      subject: "support-1",
      secret: "DB_PROD",
      ref: "TEAM_DB_PROD_SOURCE",
      action: "resolve",
      effect: "deny",
    });
    // The server's chain key sits beside its log; the agent's own (local) key does not verify it.
    const keyFile = join(serverDir, "audit.key");
    const r = await box.kz(["audit", "verify", log, "--key", keyFile]);
    expect(r).toEqual({ code: 0, stdout: `${log}: ${records.length} records, chain intact (keyed, key ${readAuditKey(keyFile).id})\n`, stderr: "" });
  });
});
