// Captured secrets across replicas: two `kz server start --mcp` processes sharing one state (one SQLite
// file, then one real redis-server) and one state key, each with its own audit log. A password captured
// through replica A is listed, usable (its token computed the same from the shared state) and shareable
// through replica B, and the share opens once through A. Redis holds only the sealed form.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { openShare } from "../../src/share/envelope.ts";
import { Sandbox } from "../helpers/kz.ts";
import { identityKey, identityToken, ServerProcess, writeIssuer, type IdentityKey } from "../helpers/server.ts";
import { startHttpsUpstream, type HttpsUpstream } from "../servers/https-upstream.ts";
import { redisMissing, startRedis, type Redis } from "../servers/redis.ts";

const VALUES = { REPLICA_E2E_ADMIN: "fake-replica-admin-key-0123456789abcdef" };

let sandbox: Sandbox;
let key: IdentityKey;
let upstream: HttpsUpstream;
let redis: Redis | undefined;
const servers: ServerProcess[] = [];
const clients: Client[] = [];

beforeAll(async () => {
  sandbox = new Sandbox();
  key = await identityKey();
  upstream = await startHttpsUpstream({ hostnames: ["api.example.test"] });
  if (!redisMissing()) redis = await startRedis();
});

afterAll(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await Promise.all(servers.map((s) => s.stop()));
  await redis?.cleanup();
  upstream?.stop();
  sandbox?.cleanup();
});

async function replica(name: string, state: string): Promise<ServerProcess> {
  const dir = join(sandbox.dir, name);
  mkdirSync(dir);
  await Bun.write(join(dir, "upstream-ca.pem"), upstream.caPem);
  await Bun.write(
    join(dir, "bundle.yaml"),
    `${writeIssuer(dir, key)}
secrets:
  ADMIN_KEY: { provider: env, ref: REPLICA_E2E_ADMIN, hosts: [api.example.test] }
fetch:
  upstream_ca: ./upstream-ca.pem
  resolve: { "api.example.test:443": "127.0.0.1:${upstream.port}" }
  allow_private: true
audit: { path: ./audit.jsonl }
state: ${state}
policies:
- match: "**"
  rules:
  - cel: "identity.service == 'agent'"
    effect: allow
`,
  );
  const server = await ServerProcess.start(["--bundle", join(dir, "bundle.yaml"), "--mcp"], { cwd: dir, env: VALUES });
  servers.push(server);
  return server;
}

async function connect(server: ServerProcess): Promise<Client> {
  const token = await identityToken(key, { service: "agent", sub: "replica-agent" });
  const client = new Client({ name: "kz-replica-e2e", version: "1.0.0" });
  await client.connect(new StreamableHTTPClientTransport(new URL(`${server.url}/mcp`), { requestInit: { headers: { Authorization: `Bearer ${token}` } } }));
  clients.push(client);
  return client;
}

async function call(client: Client, name: string, args: Record<string, unknown>): Promise<any> {
  const result = await client.callTool({ name, arguments: args });
  for (const value of upstream.credentials) expect(JSON.stringify(result)).not.toContain(value);
  return result;
}

async function acrossReplicas(a: ServerProcess, b: ServerProcess, as: string, afterCapture = () => {}): Promise<void> {
  const [viaA, viaB] = [await connect(a), await connect(b)];
  const captured = await call(viaA, "fetch", {
    url: "https://api.example.test/credentials",
    method: "POST",
    secret: "ADMIN_KEY",
    capture: [{ pointer: "/user/password", as, hosts: ["api.example.test"] }],
  });
  expect(captured.isError).toBeUndefined();
  const password = upstream.credentials.at(-1)!;
  const { token } = captured.structuredContent.captured[0];
  afterCapture();

  expect((await call(viaB, "list_secrets", {})).structuredContent.secrets.map((s: { name: string }) => s.name)).toContain(as);
  const before = upstream.requests.length;
  expect((await call(viaB, "fetch", { url: "https://api.example.test/echo", headers: { "X-Db-Password": token } })).isError).toBeUndefined();
  expect(upstream.requests[before]!.headers["x-db-password"]).toBe(password);

  const { link } = (await call(viaB, "share", { secret: as })).structuredContent;
  const [, id, fragmentKey] = /\/s\/([^#]+)#(.+)$/.exec(link)!;
  const open = () => fetch(`${a.url}/v1/shares/${id}/open`, { method: "POST", headers: { "content-type": "application/json" }, body: "{}" });
  const first = await open();
  expect(first.status).toBe(200);
  expect(new TextDecoder().decode(await openShare(((await first.json()) as { ciphertext: string }).ciphertext, fragmentKey!))).toBe(password);
  expect((await open()).status).toBe(410);
  expect((await call(viaA, "list_secrets", {})).structuredContent.secrets.map((s: { name: string }) => s.name)).not.toContain(as);
}

describe("captured secrets across two replicas", () => {
  test("on one SQLite file", async () => {
    const shared = join(sandbox.dir, "shared");
    mkdirSync(shared);
    const state = `{ path: ${join(shared, "state.db")}, key_file: ${join(shared, "state.key")} }`;
    const a = await replica("sqlite-a", state);
    const b = await replica("sqlite-b", state);
    await acrossReplicas(a, b, "SQLITE_REPLICA_PASSWORD");
  });

  test.skipIf(redisMissing() !== undefined)("on one redis-server, which holds only the sealed form", async () => {
    const shared = join(sandbox.dir, "redis-shared");
    mkdirSync(shared);
    const state = `{ redis: "${redis!.url}", key_file: ${join(shared, "state.key")} }`;
    const a = await replica("redis-a", state);
    const b = await replica("redis-b", state);
    await acrossReplicas(a, b, "REDIS_REPLICA_PASSWORD", () => {
      const dump = redis!.dump();
      expect(dump).toContain("kzs1."); // the sealed form is there…
      for (const value of upstream.credentials) {
        expect(dump).not.toContain(value); // …and no plain one
        expect(dump).not.toContain(Buffer.from(value).toString("base64"));
      }
    });
  });
});
