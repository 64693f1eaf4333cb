// Server-side leases, one per task, through the compiled `kz server start --mcp`: a Vault database secret
// (the test Vault's database/creds/<role>, answering with a role a test made in a real PostgreSQL) read by
// /v1/resolve or by the MCP `query` broker is leased for the caller's token alone, never past its exp,
// and revoked at the test Vault when the minted token is revoked — also after a restart (the lease is in
// the server's state). The URL-valued secret is built from the lease's fields by a `template`.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { generateKeyPairSync } from "node:crypto";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { Sandbox } from "../helpers/kz.ts";
import { identityKey, identityToken, ServerProcess, writeIssuer, type IdentityKey } from "../helpers/server.ts";
import { postgresMissing, startPostgres, type Postgres } from "../servers/postgres.ts";
import { startVaultServer, type VaultServer } from "../servers/vault.ts";

const ROOT = "fake-vault-root-server-leases-1c9e";
const PUBLIC_URL = "http://kz-leases.test.invalid";
const DYN_USER = "kzq_dyn_user";
const DYN_PASS = "Dyn-Pass-5b7c9e1f";
const missing = postgresMissing();

let pg: Postgres;
let vault: VaultServer;
let sandbox: Sandbox;
let key: IdentityKey;
let server: ServerProcess;
let dir: string;
let bundle: string;
const clients: Client[] = [];

/** Resolves when the test Vault marks `leaseId` revoked (an event, not a sleep): a setter on the lease's `revoked`. */
function revokedAtVault(leaseId: string): Promise<void> {
  const lease = vault.leases.get(leaseId)!;
  if (lease.revoked) return Promise.resolve();
  return new Promise((resolve) => {
    let revoked = false;
    Object.defineProperty(lease, "revoked", {
      get: () => revoked,
      set: (v: boolean) => {
        revoked = v;
        if (v) resolve();
      },
    });
  });
}

beforeAll(async () => {
  if (missing) return;
  pg = await startPostgres({ user: "kzq_owner", password: "Owner-pw-3e8a1d", database: "kzq_leases_db" });
  pg.psql(`CREATE ROLE ${DYN_USER} LOGIN PASSWORD '${DYN_PASS}';
    SET ROLE kzq_owner; CREATE TABLE orders (id int, total int); INSERT INTO orders VALUES (1, 40), (2, 2);
    GRANT SELECT ON orders TO ${DYN_USER};`);
  vault = startVaultServer({ rootToken: ROOT, databaseCreds: () => ({ username: DYN_USER, password: DYN_PASS }) });
  sandbox = new Sandbox();
  key = await identityKey();
  dir = join(sandbox.dir, "srv");
  mkdirSync(dir);
  const { privateKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
  writeFileSync(join(dir, "mint-key.pem"), privateKey.export({ format: "pem", type: "pkcs8" }) as string, { mode: 0o600 });
  bundle = join(dir, "bundle.yaml");
  writeFileSync(
    bundle,
    `${writeIssuer(dir, key)}
providers:
  vault: { address: "${vault.url}" }
secrets:
  ORDERS_DB: { provider: vault, ref: database/creds/readonly, template: "postgres://{{username}}:{{password}}@127.0.0.1:${pg.port}/${pg.database}" }
  DB_PASS: { provider: vault, ref: database/creds/readonly, field: password }
  DB_USER: { provider: vault, ref: database/creds/readonly, field: username }
tokens: { signing_key_file: ./mint-key.pem }
audit: { path: ./audit.jsonl }
policies:
- match: "**"
  rules:
  - cel: "true"
    effect: allow
`,
  );
  server = await start();
}, 60_000);

afterAll(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await server?.stop();
  vault?.stop();
  pg?.cleanup();
  sandbox?.cleanup();
});

const start = () => ServerProcess.start(["--bundle", bundle, "--mcp", "--public-url", PUBLIC_URL], { cwd: dir, env: { VAULT_TOKEN: ROOT } });

async function mint(parent: string, ttl = 600): Promise<{ token: string; jti: string }> {
  const res = await server.post("/v1/tokens", { secrets: ["ORDERS_DB", "DB_PASS", "DB_USER"], ttl_seconds: ttl }, parent);
  expect(res.status).toBe(201);
  return (await res.json()) as { token: string; jti: string };
}

async function resolveWith(token: string, secret = "DB_PASS"): Promise<{ status: number; value?: string }> {
  const res = await server.post("/v1/resolve", { secret }, token);
  const body = (await res.json()) as { value?: string };
  return { status: res.status, value: body.value };
}

/** The leases the test Vault minted while `work` ran. */
async function minted<T>(work: () => Promise<T>): Promise<{ result: T; ids: string[] }> {
  const before = new Set(vault.leases.keys());
  const result = await work();
  return { result, ids: [...vault.leases.keys()].filter((id) => !before.has(id)) };
}

const root = (sub: string) => identityToken(key, { sub, jti: `${sub}-root-${crypto.randomUUID()}` });

describe.skipIf(!!missing)("a lease per task", () => {
  test("/v1/resolve leases for the token; the same token reuses it; revoking the minted token revokes it at Vault", async () => {
    const task = await mint(await root("lead-1"));
    const { result, ids } = await minted(async () => [await resolveWith(task.token), await resolveWith(task.token)]);
    expect(result.map((r) => r.status)).toEqual([200, 200]);
    expect(result[0]!.value).toBe(DYN_PASS);
    expect(ids).toHaveLength(1);
    const res = await server.post("/v1/tokens/revoke", { token: task.token }, task.token);
    expect(await res.json()).toMatchObject({ revoked: true, leases_revoked: 1 });
    expect(vault.leases.get(ids[0]!)!.revoked).toBe(true);
    const records = readFileSync(join(dir, "audit.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l));
    expect(records.find((r) => r.event === "lease.revoke" && r.reason === "token revoked")).toMatchObject({ secret: expect.stringContaining("DB_PASS"), lease: "database/creds/readonly", status: "ok" });
    expect(JSON.stringify(records)).not.toContain(DYN_PASS);
  });

  test("each identity gets its own lease: a dynamic value is never served across tokens", async () => {
    const a = await mint(await root("lead-2"));
    const b = await mint(await root("lead-3"));
    const { ids } = await minted(async () => {
      await resolveWith(a.token);
      await resolveWith(b.token);
    });
    expect(ids).toHaveLength(2);
    // Revoking one task's token ends its lease only.
    await server.post("/v1/tokens/revoke", { token: a.token }, a.token);
    expect(ids.map((id) => vault.leases.get(id)!.revoked)).toEqual([true, false]);
  });

  test("revoking a parent revokes the leases its sub-agents obtained", async () => {
    const parent = await mint(await root("lead-4"));
    const child = await mint(parent.token);
    const { ids } = await minted(() => resolveWith(child.token));
    expect(ids).toHaveLength(1);
    const res = await server.post("/v1/tokens/revoke", { token: parent.token }, parent.token);
    expect(await res.json()).toMatchObject({ leases_revoked: 1 });
    expect(vault.leases.get(ids[0]!)!.revoked).toBe(true);
  });

  test("username and password resolved one by one by a token come from one lease", async () => {
    const task = await mint(await root("lead-8"));
    const { result, ids } = await minted(async () => [await resolveWith(task.token, "DB_USER"), await resolveWith(task.token, "DB_PASS")]);
    expect(result.map((r) => r.value)).toEqual([DYN_USER, DYN_PASS]);
    expect(ids).toHaveLength(1);
    await server.post("/v1/tokens/revoke", { token: task.token }, task.token);
    expect(vault.leases.get(ids[0]!)!.revoked).toBe(true);
  });

  test("a lease shorter than its token is renewed, asking only for the token's remaining time, then revoked at its exp", async () => {
    vault.setLeaseDuration(2, { maxTtl: 3600 });
    try {
      const task = await mint(await root("lead-9"), 4);
      const { ids } = await minted(() => resolveWith(task.token));
      expect(ids).toHaveLength(1);
      const lease = vault.leases.get(ids[0]!)!;
      await new Promise<void>((resolve) => {
        const push = lease.renewals.push.bind(lease.renewals);
        lease.renewals.push = (...n: number[]) => {
          const r = push(...n);
          resolve();
          return r;
        };
      });
      expect(lease.renewals[0]!).toBeLessThanOrEqual(4);
      await revokedAtVault(ids[0]!);
      expect(lease.revoked).toBe(true);
    } finally {
      vault.setLeaseDuration(3600);
    }
  }, 15_000);

  test("a lease never outlives its token: the server revokes it at the token's exp", async () => {
    const task = await mint(await root("lead-5"), 2);
    const { ids } = await minted(() => resolveWith(task.token));
    expect(ids).toHaveLength(1);
    // Vault granted an hour; the token has two seconds. Waiting for the revocation itself, not a clock.
    expect(vault.leases.get(ids[0]!)!.expiresAt - Date.now()).toBeGreaterThan(60_000);
    await revokedAtVault(ids[0]!);
    expect(vault.leases.get(ids[0]!)!.revoked).toBe(true);
  }, 15_000);

  test("the query broker leases for the caller, runs the query, and the lease dies with the sub-agent's token", async () => {
    const task = await mint(await root("lead-6"));
    const client = new Client({ name: "kz-lease-e2e", version: "1.0.0" });
    await client.connect(new StreamableHTTPClientTransport(new URL(`${server.url}/mcp`), { requestInit: { headers: { Authorization: `Bearer ${task.token}` } } }));
    clients.push(client);
    const { result, ids } = await minted(async () => [
      await client.callTool({ name: "query", arguments: { secret: "ORDERS_DB", sql: "SELECT sum(total)::int AS total FROM orders" } }),
      await client.callTool({ name: "query", arguments: { secret: "ORDERS_DB", sql: "SELECT count(*)::int AS n FROM orders" } }),
    ]);
    expect((result[0] as any).structuredContent).toEqual({ columns: ["total"], rows: [[42]], row_count: 1 });
    expect((result[1] as any).structuredContent.rows).toEqual([[2]]);
    expect(JSON.stringify(result)).not.toContain(DYN_PASS);
    expect(ids).toHaveLength(1); // one lease for the task, reused by its second query
    await server.post("/v1/tokens/revoke", { token: task.token }, task.token);
    expect(vault.leases.get(ids[0]!)!.revoked).toBe(true);
  });

  test("a restart still revokes: the lease is in the server's state", async () => {
    const task = await mint(await root("lead-7"));
    const { ids } = await minted(() => resolveWith(task.token));
    expect(ids).toHaveLength(1);
    await server.stop();
    server = await start();
    const res = await server.post("/v1/tokens/revoke", { token: task.token }, task.token);
    expect(await res.json()).toMatchObject({ revoked: true, leases_revoked: 1 });
    expect(vault.leases.get(ids[0]!)!.revoked).toBe(true);
  }, 20_000);
});
