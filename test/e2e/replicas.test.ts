// Several `kz server start` replicas sharing one state, through the compiled binary: on a real
// redis-server (started here on a free loopback port) and on one SQLite file. Each replica runs from its
// own bundle directory (its own audit log and chain) whose bundle names the same state, state key and
// minting key (tokens.signing_key_file), and all share one --public-url (the minted tokens' issuer).
// A token minted at A is accepted at B; revoked at A, it is refused at B on the very next request (and
// so is everything minted from it). With Redis stopped, decisions that need no state still answer, and
// a token whose revocation cannot be checked is refused with 503 (fail closed), revealing nothing.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { exportPKCS8, generateKeyPair } from "jose";
import { KZ, Sandbox } from "../helpers/kz.ts";
import { identityKey, identityToken, ServerProcess, writeIssuer, type IdentityKey } from "../helpers/server.ts";
import { redisMissing, startRedis, type Redis } from "../servers/redis.ts";
import { openShare, sealShare } from "../../src/share/envelope.ts";

const FAKE_VALUE = "fake-replica-value-0123456789abcdef";
const PUBLIC_URL = "http://kz.replicas.example.test";
const SHARED_VALUE = "shared-PLAIN-value-9a8b7c6d5e";

const policies = `
policies:
- match: "secret/**"
  rules:
  - cel: "true"
    effect: allow
`;

interface Cluster {
  sandbox: Sandbox;
  a: ServerProcess;
  b: ServerProcess;
  /** Every byte the state holds, as text. */
  raw(): string;
}

/** The minting key, made with the README's openssl command when openssl is there (jose otherwise). */
async function mintingKeyPem(dir: string): Promise<string> {
  const out = join(dir, "openssl-mint-key.pem");
  const made = Bun.which("openssl") && Bun.spawnSync(["openssl", "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", out]).exitCode === 0;
  if (made) return readFileSync(out, "utf8");
  const { privateKey } = await generateKeyPair("ES256", { extractable: true });
  return exportPKCS8(privateKey);
}

/** Two replica directories, each with its own bundle and audit log, naming the shared state and keys. */
async function startCluster(key: IdentityKey, stateYaml: string, sandbox = new Sandbox()): Promise<{ sandbox: Sandbox; start: (name: string) => Promise<ServerProcess> }> {
  const shared = join(sandbox.dir, "shared");
  mkdirSync(shared, { recursive: true });
  writeFileSync(join(shared, "mint-key.pem"), await mintingKeyPem(shared), { mode: 0o600 });
  const start = async (name: string) => {
    const dir = join(sandbox.dir, name);
    mkdirSync(dir, { recursive: true });
    const bundle = join(dir, "bundle.yaml");
    writeFileSync(
      bundle,
      `${writeIssuer(dir, key)}
secrets:
  API_KEY: { provider: env, ref: secret/api }
audit: { path: ./audit.jsonl }
${stateYaml}
  key_file: ${join(shared, "state.key")}
tokens:
  signing_key_file: ${join(shared, "mint-key.pem")}
${policies}`,
    );
    return ServerProcess.start(["--bundle", bundle, "--public-url", PUBLIC_URL], { cwd: dir, env: { "secret/api": FAKE_VALUE } });
  };
  return { sandbox, start };
}

async function call(server: ServerProcess, path: string, body: unknown, token: string): Promise<{ status: number; body: Record<string, any> }> {
  const res = await server.post(path, body, token);
  return { status: res.status, body: (await res.json()) as Record<string, any> };
}

const mint = async (server: ServerProcess, parent: string) => {
  const r = await call(server, "/v1/tokens", { secrets: ["API_KEY"] }, parent);
  expect(r.status).toBe(201);
  return r.body as { token: string; jti: string };
};

function replicaSuite(name: string, cluster: () => Cluster, key: () => IdentityKey): void {
  describe(`${name}: two replicas`, () => {
    test("a token minted at A is accepted at B, and B's mint from it is accepted at A", async () => {
      const { a, b } = cluster();
      const root = await identityToken(key(), { sub: "lead", jti: `root-${name}-1` });
      const minted = await mint(a, root);
      expect(await call(b, "/v1/resolve", { secret: "API_KEY" }, minted.token)).toMatchObject({ status: 200, body: { value: FAKE_VALUE } });
      const child = await mint(b, minted.token);
      expect(await call(a, "/v1/resolve", { secret: "API_KEY" }, child.token)).toMatchObject({ status: 200, body: { value: FAKE_VALUE } });
    });

    test("revoked at A: refused at B on the very next request, with everything minted from it", async () => {
      const { a, b } = cluster();
      const root = await identityToken(key(), { sub: "lead", jti: `root-${name}-2` });
      const minted = await mint(a, root);
      const child = await mint(b, minted.token);
      for (const t of [minted, child]) expect((await call(b, "/v1/resolve", { secret: "API_KEY" }, t.token)).status).toBe(200); // cached at B

      expect(await call(a, "/v1/tokens/revoke", { token: minted.token }, root)).toMatchObject({ status: 200, body: { revoked: true, jti: minted.jti } });
      expect(await call(b, "/v1/resolve", { secret: "API_KEY" }, minted.token)).toMatchObject({ status: 401, body: { error: { code: "token_revoked" } } });
      expect(await call(b, "/v1/resolve", { secret: "API_KEY" }, child.token)).toMatchObject({ status: 401, body: { error: { code: "token_revoked" } } });
      expect(await call(a, "/v1/tokens", { secrets: ["API_KEY"] }, child.token)).toMatchObject({ status: 401 });
    });

    test("a share created at A, raced by 20 clients at A and B: opened exactly once; the state holds only ciphertext", async () => {
      const { a, b } = cluster();
      const root = await identityToken(key(), { sub: "lead", jti: `root-${name}-share` });
      const sealed = await sealShare(new TextEncoder().encode(SHARED_VALUE));
      const created = await call(a, "/v1/shares", { ciphertext: sealed.ciphertext, views: 1 }, root);
      expect(created.status).toBe(201);
      const id = created.body.id as string;
      expect(cluster().raw().includes(SHARED_VALUE)).toBe(false);
      expect(cluster().raw().includes(sealed.key)).toBe(false);

      const opens = await Promise.all(
        Array.from({ length: 20 }, (_, i) =>
          fetch(`${(i % 2 ? b : a).url}/v1/shares/${id}/open`, { method: "POST", headers: { "content-type": "application/json" }, body: "{}" }).then(async (r) => ({ status: r.status, body: (await r.json()) as Record<string, any> })),
        ),
      );
      const won = opens.filter((o) => o.status === 200);
      expect(won).toHaveLength(1);
      expect(opens.filter((o) => o.status === 410)).toHaveLength(19);
      expect(new TextDecoder().decode(await openShare(won[0]!.body.ciphertext, sealed.key))).toBe(SHARED_VALUE);
      expect((await fetch(`${b.url}/v1/shares/${id}`)).status).toBe(410); // "already opened", at either replica
      expect(cluster().raw().includes(sealed.ciphertext.slice(0, 40))).toBe(false); // consumed: gone from the store at once
    });

    test("each replica keeps its own audit log; the state holds no value and no token", async () => {
      const { sandbox } = cluster();
      const auditA = readFileSync(join(sandbox.dir, "a", "audit.jsonl"), "utf8");
      const auditB = readFileSync(join(sandbox.dir, "b", "audit.jsonl"), "utf8");
      expect(auditA).toContain('"event":"token.revoke"');
      expect(auditB).not.toContain('"event":"token.revoke"');
      const raw = cluster().raw();
      expect(raw.includes(FAKE_VALUE)).toBe(false);
      expect(raw.includes("eyJ")).toBe(false); // no JWT (header or payload) stored
      expect(statSync(join(sandbox.dir, "shared", "state.key")).mode & 0o777).toBe(0o600);
    });
  });
}

const missing = redisMissing();
if (missing) console.warn(`skipping the Redis replicas: ${missing}`);

describe.skipIf(Boolean(missing))("on Redis", () => {
  let redis: Redis;
  let key: IdentityKey;
  let c: Cluster;
  let start: (name: string) => Promise<ServerProcess>;

  beforeAll(async () => {
    redis = await startRedis({ password: "replica-redis-pw" });
    key = await identityKey();
    const made = await startCluster(key, `state:\n  redis: "${redis.url}"`);
    start = made.start;
    const [a, b] = await Promise.all([start("a"), start("b")]);
    c = { sandbox: made.sandbox, a, b, raw: () => redis.dump() };
  });
  afterAll(async () => {
    await c?.a.stop();
    await c?.b.stop();
    await redis?.cleanup();
    c?.sandbox.cleanup();
  });

  replicaSuite("redis", () => c, () => key);

  test("the logs name Redis without its password", () => {
    const log = [...c.a.lines, ...c.b.lines].join("\n");
    expect(log).toContain(`state → redis://127.0.0.1:${redis.port}`);
    expect(log).not.toContain("replica-redis-pw");
  });

  test("Redis down: decisions without state still answer; a token whose revocation cannot be checked gets 503 and nothing", async () => {
    const root = await identityToken(key, { sub: "lead", jti: "root-redis-down" });
    const minted = await mint(c.a, root);
    const noJti = await identityToken(key, { sub: "plain-agent" });
    await redis.stop();

    expect(await call(c.b, "/v1/decide", { secret: "API_KEY" }, noJti)).toMatchObject({ status: 200, body: { allow: true } });
    expect(await call(c.b, "/v1/resolve", { secret: "API_KEY" }, noJti)).toMatchObject({ status: 200, body: { value: FAKE_VALUE } });
    for (const token of [minted.token, root]) {
      const r = await call(c.b, "/v1/resolve", { secret: "API_KEY" }, token);
      expect(r).toMatchObject({ status: 503, body: { error: { code: "revocation_unavailable" } } });
      expect(JSON.stringify(r.body)).not.toContain(FAKE_VALUE);
    }
    expect((await call(c.a, "/v1/decide", { secret: "API_KEY" }, minted.token)).status).toBe(503);

    // A replica started while Redis is down still starts, says so in one line, and serves what it can.
    const late = await start("late");
    expect(late.lines.join("\n")).toMatch(/state: redis at redis:\/\/127\.0\.0\.1:\d+ is unreachable/);
    expect(late.lines.join("\n")).not.toContain("replica-redis-pw");
    expect((await call(late, "/v1/decide", { secret: "API_KEY" }, noJti)).status).toBe(200);
    expect((await call(late, "/v1/decide", { secret: "API_KEY" }, minted.token)).status).toBe(503);

    // Back up: every replica reconnects on its next request.
    await redis.start();
    expect(await call(c.b, "/v1/resolve", { secret: "API_KEY" }, minted.token)).toMatchObject({ status: 200, body: { value: FAKE_VALUE } });
    expect((await call(late, "/v1/decide", { secret: "API_KEY" }, minted.token)).status).toBe(200);
    await late.stop();
  });
});

describe("on one SQLite file", () => {
  let key: IdentityKey;
  let c: Cluster;

  beforeAll(async () => {
    key = await identityKey();
    const sandbox = new Sandbox();
    const db = join(sandbox.dir, "shared", "state.db");
    const made = await startCluster(key, `state:\n  path: ${db}`, sandbox);
    const a = await made.start("a");
    const b = await made.start("b");
    c = { sandbox, a, b, raw: () => [db, `${db}-wal`].filter(existsSync).map((p) => readFileSync(p).toString("latin1")).join("") };
  });
  afterAll(async () => {
    await c?.a.stop();
    await c?.b.stop();
    c?.sandbox.cleanup();
  });

  replicaSuite("sqlite", () => c, () => key);

  test("the state file is 0600", () => {
    expect(statSync(join(c.sandbox.dir, "shared", "state.db")).mode & 0o777).toBe(0o600);
  });
});

describe("start-up errors are one line", () => {
  let key: IdentityKey;
  let sandbox: Sandbox;
  beforeAll(async () => {
    key = await identityKey();
    sandbox = new Sandbox();
  });
  afterAll(() => sandbox?.cleanup());

  async function startFails(state: string): Promise<{ code: number; stderr: string }> {
    const bundle = sandbox.write("bundle.yaml", `${writeIssuer(sandbox.dir, key)}audit: { path: ./audit.jsonl }\n${state}\n${policies}`);
    const proc = Bun.spawn([KZ, "server", "start", "--listen", "127.0.0.1:0", "--bundle", bundle], { cwd: sandbox.dir, env: sandbox.env, stdin: "ignore", stdout: "pipe", stderr: "pipe" });
    const [code, stderr] = await Promise.all([proc.exited, new Response(proc.stderr).text()]);
    return { code, stderr };
  }

  test("a state key readable by others, a state file in a missing directory, a file that is not SQLite", async () => {
    const wide = sandbox.write("wide.key", `${"ab".repeat(32)}\n`);
    chmodSync(wide, 0o644);
    const cases: [string, RegExp][] = [
      [`state:\n  key_file: ./wide.key`, /state key .*wide\.key is readable by other users \(mode 644\) — run: chmod 600/],
      [`state:\n  path: ./no/such/dir/state.db`, /state file .*no\/such\/dir\/state\.db: its directory does not exist/],
      [`state:\n  path: ./bundle.yaml`, /state file .*bundle\.yaml: not a usable SQLite database/],
    ];
    for (const [yaml, message] of cases) {
      const { code, stderr } = await startFails(yaml);
      expect(code).not.toBe(0);
      expect(stderr).toMatch(message);
      expect(stderr.trim().split("\n")).toHaveLength(1);
      expect(stderr).not.toContain("ab".repeat(32));
    }
  });
});
