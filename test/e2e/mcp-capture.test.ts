// MCP `fetch … capture` and `share`, end to end: the compiled `kz server start --mcp` (SQLite state beside
// the bundle), driven by the official MCP SDK client, against a real HTTPS upstream whose /credentials
// creates a user with a fresh random password. The agent captures the password without ever seeing it
// (raw, percent-encoded, base64, in a header), uses it where it is bound and nowhere else, and hands it
// to a person with `share` — the link opens to the value exactly once. Then what a prompt-injected agent
// would try: re-binding a bundle secret through its echo, names that shadow or smuggle, wider hosts,
// another owner's token, too many or too large captures.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { openShare } from "../../src/share/envelope.ts";
import { SqliteState } from "../../src/state/sqlite.ts";
import { KZ, Sandbox } from "../helpers/kz.ts";
import { identityKey, identityToken, ServerProcess, writeIssuer, type IdentityKey } from "../helpers/server.ts";
import { startHttpsUpstream, type HttpsUpstream } from "../servers/https-upstream.ts";

const VALUES = { CAPTURE_E2E_ADMIN: "fake-capture-admin-key-0123456789abcdef" };

let sandbox: Sandbox;
let key: IdentityKey;
let upstream: HttpsUpstream;
let server: ServerProcess;
let dir: string;
const clients: Client[] = [];

beforeAll(async () => {
  sandbox = new Sandbox();
  key = await identityKey();
  upstream = await startHttpsUpstream({ hostnames: ["api.example.test", "other.example.test"] });
  dir = join(sandbox.dir, "server");
  mkdirSync(dir);
  await Bun.write(join(dir, "upstream-ca.pem"), upstream.caPem);
  await Bun.write(
    join(dir, "bundle.yaml"),
    `${writeIssuer(dir, key)}
secrets:
  ADMIN_KEY: { provider: env, ref: CAPTURE_E2E_ADMIN, hosts: [api.example.test] }
fetch:
  upstream_ca: ./upstream-ca.pem
  resolve: { "api.example.test:443": "127.0.0.1:${upstream.port}", "other.example.test:443": "127.0.0.1:${upstream.port}" }
  allow_private: true
audit: { path: ./audit.jsonl }
policies:
- match: "**"
  rules:
  - cel: "identity.service == 'agent'"
    effect: allow
`,
  );
  server = await ServerProcess.start(["--bundle", join(dir, "bundle.yaml"), "--mcp"], { cwd: dir, env: VALUES });
});

afterAll(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await server?.stop();
  upstream?.stop();
  sandbox?.cleanup();
});

async function connect(sub: string): Promise<Client> {
  const token = await identityToken(key, { service: "agent", sub });
  const client = new Client({ name: "kz-capture-e2e", version: "1.0.0" });
  await client.connect(new StreamableHTTPClientTransport(new URL(`${server.url}/mcp`), { requestInit: { headers: { Authorization: `Bearer ${token}` } } }));
  clients.push(client);
  return client;
}

/** Every form of `value` an agent could read back: raw, percent, base64 (of it and of a Basic credential), JSON-escaped. */
function forms(value: string): string[] {
  return [
    value,
    encodeURIComponent(value),
    Buffer.from(value).toString("base64"),
    Buffer.from(value).toString("base64url"),
    JSON.stringify(value).slice(1, -1),
    ...upstream.credentials.map((_, i) => Buffer.from(`app_${i + 1}:${value}`).toString("base64")),
  ];
}

function expectHidden(text: string, values: string[]): void {
  for (const value of [...values, VALUES.CAPTURE_E2E_ADMIN]) for (const form of forms(value)) expect(text).not.toContain(form);
}

async function call(client: Client, name: string, args: Record<string, unknown>): Promise<any> {
  const result = await client.callTool({ name, arguments: args });
  expectHidden(JSON.stringify(result), upstream.credentials);
  return result;
}

const auditRecords = () =>
  readFileSync(join(dir, "audit.jsonl"), "utf8")
    .split("\n")
    .filter(Boolean)
    .map((l) => JSON.parse(l));

const captureCreds = (client: Client, capture: unknown[], query = "") =>
  call(client, "fetch", { url: `https://api.example.test/credentials${query}`, method: "POST", secret: "ADMIN_KEY", capture });

describe("fetch … capture", () => {
  let alice: Client;
  let password: string;
  let token: string;

  beforeAll(async () => {
    alice = await connect("alice");
    expect((await alice.listTools()).tools.map((t) => t.name)).toContain("share");
    const result = await captureCreds(alice, [{ pointer: "/user/password", as: "NEW_DB_PASSWORD", hosts: ["api.example.test"], ttl: "2h" }]);
    expect(result.isError).toBeUndefined();
    password = upstream.credentials.at(-1)!;
    token = result.structuredContent.captured[0].token;
  });

  test("the agent sees a token where the password was, and no form of it anywhere (body, connection URL, Basic, header)", async () => {
    const before = upstream.credentials.length;
    const result = await captureCreds(alice, [{ pointer: "/user/password", as: "SECOND_PASSWORD" }]);
    expect(upstream.credentials.length).toBe(before + 1);
    const value = upstream.credentials.at(-1)!;
    const text = JSON.stringify(result);
    for (const form of forms(value)) expect(text).not.toContain(form);
    const content = result.structuredContent;
    expect(content.status).toBe(201);
    expect(content.captured).toEqual([{ name: "SECOND_PASSWORD", pointer: "/user/password", token: expect.stringMatching(/^KZ_TOK_[A-Za-z0-9_-]{24}$/), hosts: [], expires_at: expect.any(String) }]);
    const body = JSON.parse(content.body);
    expect(body.user).toEqual({ name: `app_${before + 1}`, password: content.captured[0].token });
    expect(body.connection).toStartWith(`postgres://app_${before + 1}:`);
    expect(content.body).toContain('"account":12345678901234567890123'); // other fields exactly as sent
    expect(content.headers["x-request-id"]).toBeDefined();
    expect(content.note).toContain("captured SECOND_PASSWORD");
  });

  test("a later fetch with the captured secret reaches its bound host with the real value, and its echo comes back masked", async () => {
    expect((await call(alice, "resolve", { name: "NEW_DB_PASSWORD" })).structuredContent).toEqual({ name: "NEW_DB_PASSWORD", token, hosts: ["api.example.test"] });
    const before = upstream.requests.length;
    const bySecret = await call(alice, "fetch", { url: "https://api.example.test/echo", secret: "NEW_DB_PASSWORD" });
    expect(bySecret.isError).toBeUndefined();
    expect(upstream.requests[before]!.headers.authorization).toBe(`Bearer ${password}`);
    const byToken = await call(alice, "fetch", { url: "https://api.example.test/echo", headers: { "X-Db-Password": token } });
    expect(byToken.isError).toBeUndefined();
    expect(upstream.requests[before + 1]!.headers["x-db-password"]).toBe(password);
  });

  test("to any other host it is refused, and nothing is sent", async () => {
    const before = upstream.requests.length;
    for (const args of [
      { url: "https://other.example.test/echo", secret: "NEW_DB_PASSWORD" },
      { url: "https://other.example.test/echo", headers: { "X-Db-Password": token } },
    ]) {
      const result = await call(alice, "fetch", args);
      expect(result.isError).toBe(true);
      expect(result.content[0].text).toContain("NEW_DB_PASSWORD may only be sent to api.example.test");
    }
    // Its placement is the default, headers only: in a body (where an API might store and show it) it is refused.
    const inBody = await call(alice, "fetch", { url: "https://api.example.test/echo", method: "POST", headers: { "Content-Type": "application/json" }, body: `{"pw":"${token}"}` });
    expect(inBody.isError).toBe(true);
    expect(inBody.content[0].text).toContain("NEW_DB_PASSWORD");
    // A captured secret bound to no host (the default) can only be shared.
    const unbound = await call(alice, "fetch", { url: "https://api.example.test/echo", secret: "SECOND_PASSWORD" });
    expect(unbound.isError).toBe(true);
    expect(unbound.content[0].text).toContain("bound to no host");
    expect(upstream.requests.length).toBe(before);
  });

  test("list_secrets shows the owner's captured secrets to the owner only; another identity cannot use them", async () => {
    const listed = (await call(alice, "list_secrets", {})).structuredContent.secrets;
    expect(listed).toContainEqual({ name: "NEW_DB_PASSWORD", hosts: ["api.example.test"], captured: true, expires_at: expect.any(String) });
    const bob = await connect("bob");
    const bobs = (await call(bob, "list_secrets", {})).structuredContent.secrets;
    expect(bobs.map((s: { name: string }) => s.name)).toEqual(["ADMIN_KEY"]);

    const before = upstream.requests.length;
    const byName = await call(bob, "fetch", { url: "https://api.example.test/echo", secret: "NEW_DB_PASSWORD" });
    expect(byName.isError).toBe(true);
    expect(byName.content[0].text).toContain("no secret named");
    const byToken = await call(bob, "fetch", { url: "https://api.example.test/echo", headers: { "X-Db-Password": token } });
    expect(byToken.isError).toBe(true);
    expect(byToken.content[0].text).toContain("uses no secret");
    // Alongside a secret of his own, Alice's token goes out as the inert text it is for Bob.
    const inert = await call(bob, "fetch", { url: "https://api.example.test/echo", secret: "ADMIN_KEY", headers: { "X-Db-Password": token } });
    expect(inert.isError).toBeUndefined();
    expect(upstream.requests.at(-1)!.headers["x-db-password"]).toBe(token);
    expect((await call(bob, "share", { secret: "NEW_DB_PASSWORD" })).isError).toBe(true);
    expect(upstream.requests.length).toBe(before + 1);
  });

  test("the state file holds it sealed; the audit log records the capture, never the value", async () => {
    for (const file of readdirSync(dir).filter((f) => f.startsWith("state.db"))) {
      const bytes = readFileSync(join(dir, file)).toString("latin1");
      for (const value of upstream.credentials) for (const form of forms(value)) expect(bytes).not.toContain(form);
    }
    const audit = readFileSync(join(dir, "audit.jsonl"), "utf8");
    expectHidden(audit, upstream.credentials);
    expectHidden(server.lines.join("\n"), upstream.credentials);
    const created = auditRecords().find((r) => r.event === "capture.created" && r.name === "NEW_DB_PASSWORD");
    expect(created).toMatchObject({ owner: JSON.stringify(["https://idp.example.test", "alice"]), hosts: ["api.example.test"], source_host: "api.example.test", pointer: "/user/password" });
    expect(Date.parse(created.expires_at) - Date.parse(created.time)).toBeGreaterThan(3600_000);
    expect(auditRecords().some((r) => r.event === "captured.used" && r.name === "NEW_DB_PASSWORD" && r.host === "api.example.test")).toBe(true);
    expect(auditRecords().some((r) => r.event === "captured.refused" && r.name === "NEW_DB_PASSWORD" && r.host === "other.example.test")).toBe(true);
  });

  test("an expired captured secret is gone: not listed, not usable", async () => {
    await captureCreds(alice, [{ pointer: "/user/password", as: "SHORT_LIVED", hosts: ["api.example.test"] }]);
    // Move its expiry into the past through the state itself (no sleeping, no server clock).
    const state = new SqliteState(join(dir, "state.db"));
    const owner = JSON.stringify(["https://idp.example.test", "alice"]);
    const stored = (await state.listCaptured(owner, 0)).find((c) => c.name === "SHORT_LIVED")!;
    await state.putCaptured({ ...stored, expiresAt: Date.now() - 1000 });
    await state.close();
    const names = (await call(alice, "list_secrets", {})).structuredContent.secrets.map((s: { name: string }) => s.name);
    expect(names).not.toContain("SHORT_LIVED");
    const used = await call(alice, "fetch", { url: "https://api.example.test/echo", secret: "SHORT_LIVED" });
    expect(used.isError).toBe(true);
    expect(used.content[0].text).toContain("no secret named");
  });

  test("share hands the captured secret to a person: the link opens to the value once, and the agent no longer holds it", async () => {
    const result = await call(alice, "share", { secret: "NEW_DB_PASSWORD" });
    expect(result.isError).toBeUndefined();
    const { link, views } = result.structuredContent;
    expect(views).toBe(1);
    const match = /\/s\/([A-Za-z0-9_-]{22})#([A-Za-z0-9_-]{43})$/.exec(link);
    expect(match).not.toBeNull();
    expect(link.startsWith(`${server.url}/s/`)).toBe(true);
    const [, id, fragmentKey] = match!;
    const open = () => fetch(`${server.url}/v1/shares/${id}/open`, { method: "POST", headers: { "content-type": "application/json" }, body: "{}" });
    const first = await open();
    expect(first.status).toBe(200);
    const { ciphertext } = (await first.json()) as { ciphertext: string };
    expect(new TextDecoder().decode(await openShare(ciphertext, fragmentKey!))).toBe(password);
    expect((await open()).status).toBe(410);
    // Handed over: gone from the agent's captured secrets, so no second link can be made.
    const names = (await call(alice, "list_secrets", {})).structuredContent.secrets.map((s: { name: string }) => s.name);
    expect(names).not.toContain("NEW_DB_PASSWORD");
    expect((await call(alice, "share", { secret: "NEW_DB_PASSWORD" })).isError).toBe(true);
    expect(auditRecords().some((r) => r.event === "share.created" && r.secret === "NEW_DB_PASSWORD" && r.creator === "alice")).toBe(true);
    expect(readFileSync(join(dir, "audit.jsonl"), "utf8")).not.toContain(fragmentKey!);
  });

  test("share of a bundle secret is a policy decision; views other than 1 are refused", async () => {
    const shared = await call(alice, "share", { secret: "ADMIN_KEY", expires_in: "10m" });
    expect(shared.isError).toBeUndefined();
    expect(Date.parse(shared.structuredContent.expires_at) - Date.now()).toBeLessThanOrEqual(600_000);
    const [, id, fragmentKey] = /\/s\/([^#]+)#(.+)$/.exec(shared.structuredContent.link)!;
    const opened = await fetch(`${server.url}/v1/shares/${id}/open`, { method: "POST", headers: { "content-type": "application/json" }, body: "{}" });
    const { ciphertext } = (await opened.json()) as { ciphertext: string };
    expect(new TextDecoder().decode(await openShare(ciphertext, fragmentKey!))).toBe(VALUES.CAPTURE_E2E_ADMIN);
    expect(auditRecords().some((r) => r.event === "decision" && r.secret === "ADMIN_KEY" && r.action === "share" && r.effect === "allow")).toBe(true);
    const views = await call(alice, "share", { secret: "ADMIN_KEY", views: 2 });
    expect(views.isError).toBe(true);
    expect(views.content[0].text).toContain("only be 1");
    const other = await identityToken(key, { service: "other", sub: "mallory" });
    const client = new Client({ name: "kz-capture-e2e", version: "1.0.0" });
    await client.connect(new StreamableHTTPClientTransport(new URL(`${server.url}/mcp`), { requestInit: { headers: { Authorization: `Bearer ${other}` } } }));
    clients.push(client);
    const refused = await call(client, "share", { secret: "ADMIN_KEY" });
    expect(refused.isError).toBe(true);
    expect(refused.content[0].text).toContain("not allowed");
  });
});

describe("what a prompt-injected agent would try", () => {
  let eve: Client;
  beforeAll(async () => {
    eve = await connect("eve");
  });

  const names = async () => (await call(eve, "list_secrets", {})).structuredContent.secrets.map((s: { name: string }) => s.name);

  test("capturing the echo of a bundle secret (to re-bind it elsewhere) is refused, and nothing is kept", async () => {
    for (const pointer of ["/headers/authorization"]) {
      const result = await call(eve, "fetch", {
        url: "https://api.example.test/echo",
        secret: "ADMIN_KEY",
        capture: [{ pointer, as: "LAUNDERED", hosts: ["api.example.test"] }],
      });
      expect(result.isError).toBe(true);
      expect(result.content[0].text).toContain("holds the value of a secret this request used");
    }
    expect(await names()).not.toContain("LAUNDERED");
    // The attempt is on record (a prompt-injection alarm), without the echoed value.
    const record = auditRecords().findLast((r) => r.event === "capture.refused");
    expect(record).toMatchObject({ names: ["LAUNDERED"], source_host: "api.example.test", status: 200 });
    expect(record.reason).toContain("holds the value of a secret this request used");
  });

  test("racing shares of one captured secret make exactly one link", async () => {
    expect((await captureCreds(eve, [{ pointer: "/user/password", as: "RACED" }])).isError).toBeUndefined();
    const results = await Promise.all(Array.from({ length: 12 }, () => call(eve, "share", { secret: "RACED" })));
    expect(results.filter((r) => r.isError === undefined)).toHaveLength(1);
    expect(await names()).not.toContain("RACED");
  });

  test("a value holding a kz token (here another owner's, echoed back) is not kept", async () => {
    const bobs = await captureCreds(await connect("bob-2"), [{ pointer: "/user/password", as: "BOBS", hosts: ["api.example.test"] }]);
    const token = bobs.structuredContent.captured[0].token;
    const result = await call(eve, "fetch", {
      url: "https://api.example.test/echo",
      secret: "ADMIN_KEY",
      headers: { "X-Carried": `carried ${token}` },
      capture: [{ pointer: "/headers/x-carried", as: "CARRIED" }],
    });
    expect(result.isError).toBe(true);
    expect(result.content[0].text).toContain("holds a kz token");
    expect(await names()).not.toContain("CARRIED");
  });

  test("a name that shadows a bundle secret, smuggles a token or a path is refused before anything is sent", async () => {
    const before = upstream.requests.length;
    for (const [as, message] of [
      ["ADMIN_KEY", "name of a secret in the bundle"],
      ["KZ_TOK_AAAAAAAAAAAAAAAAAAAAAAAA", "reserved"],
      ["../../state", "capital letters"],
      ["new_db_password", "capital letters"],
      ["A".repeat(65), "capital letters"],
    ]) {
      const result = await call(eve, "fetch", { url: "https://api.example.test/credentials", method: "POST", secret: "ADMIN_KEY", capture: [{ pointer: "/user/password", as }] });
      expect(result.isError).toBe(true);
      expect(result.content[0].text).toContain(message);
    }
    expect(upstream.requests.length).toBe(before);
  });

  test("hosts wider than the capturing request's are refused before anything is sent", async () => {
    const before = upstream.requests.length;
    for (const hosts of [["evil.example.test"], ["*"], ["*.example.test"], ["api.example.test:*"]]) {
      const result = await captureCreds(eve, [{ pointer: "/user/password", as: "WIDE", hosts }]);
      expect(result.isError).toBe(true);
      expect(result.content[0].text).toContain("may not be bound to");
    }
    expect(upstream.requests.length).toBe(before);
    expect(auditRecords().findLast((r) => r.event === "capture.refused")).toMatchObject({ names: ["WIDE"], status: null, reason: expect.stringContaining("may not be bound to api.example.test:*") });
  });

  test("17 captures, a bad ttl, a pointer that finds nothing, a non-JSON body and a huge value are refused; nothing is kept", async () => {
    const many = Array.from({ length: 17 }, (_, i) => ({ pointer: "/user/password", as: `P${i}` }));
    expect((await captureCreds(eve, many)).content[0].text).toContain("at most 16");
    for (const ttl of ["0s", "25h", "forever"]) {
      expect((await captureCreds(eve, [{ pointer: "/user/password", as: "TTL", ttl }])).isError).toBe(true);
    }

    const missing = await captureCreds(eve, [{ pointer: "/user/passwd", as: "MISSING" }]);
    expect(missing.isError).toBe(true);
    expect(missing.content[0].text).toContain('pointer "/user/passwd"');
    expect(missing.content[0].text).toContain('"password"'); // where it stopped: the member names, never a value
    expect(missing.content[0].text).toContain("withheld");

    const notJson = await call(eve, "fetch", { url: "https://api.example.test/download?bytes=64", secret: "ADMIN_KEY", capture: [{ pointer: "/x", as: "NOT_JSON" }] });
    expect(notJson.content[0].text).toContain("not JSON");

    const huge = await captureCreds(eve, [{ pointer: "/user/password", as: "HUGE" }], "?bytes=9000");
    expect(huge.isError).toBe(true);
    expect(huge.content[0].text).toContain("longer than 8192 bytes");

    const inexact = await captureCreds(eve, [{ pointer: "/account", as: "INEXACT" }]);
    expect(inexact.content[0].text).toContain("cannot keep exactly");

    const all = await names();
    for (const name of ["TTL", "MISSING", "NOT_JSON", "HUGE", "P0", "INEXACT"]) expect(all).not.toContain(name);
  });
});

describe("over stdio", () => {
  test("capture and use work; share is refused (no public URL to build a link on)", async () => {
    const transport = new StdioClientTransport({
      command: KZ,
      args: ["server", "start", "--bundle", join(dir, "bundle.yaml"), "--mcp", "--stdio"],
      cwd: dir,
      env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: dir, KZ_IDENTITY_TOKEN: await identityToken(key, { service: "agent", sub: "stdio-agent" }), ...VALUES },
      stderr: "pipe",
    });
    const client = new Client({ name: "kz-capture-e2e-stdio", version: "1.0.0" });
    try {
      await client.connect(transport);
      expect((await client.listTools()).tools.map((t) => t.name)).not.toContain("share"); // listed only where it can work
      const captured = await call(client, "fetch", {
        url: "https://api.example.test/credentials",
        method: "POST",
        secret: "ADMIN_KEY",
        capture: [{ pointer: "/user/password", as: "STDIO_PASSWORD", hosts: ["api.example.test"] }],
      });
      expect(captured.isError).toBeUndefined();
      const before = upstream.requests.length;
      expect((await call(client, "fetch", { url: "https://api.example.test/echo", secret: "STDIO_PASSWORD" })).isError).toBeUndefined();
      expect(upstream.requests[before]!.headers.authorization).toBe(`Bearer ${upstream.credentials.at(-1)}`);
      const shared = await call(client, "share", { secret: "STDIO_PASSWORD" });
      expect(shared.isError).toBe(true);
      expect(shared.content[0].text).toContain("no public URL");
    } finally {
      await client.close();
    }
  });
});

describe("afterwards", () => {
  test("neither the server's log, nor its audit log, nor its state file holds any password created here", () => {
    expect(upstream.credentials.length).toBeGreaterThan(5);
    expectHidden(server.lines.join("\n"), upstream.credentials);
    expectHidden(readFileSync(join(dir, "audit.jsonl"), "utf8"), upstream.credentials);
    for (const file of readdirSync(dir).filter((f) => f.startsWith("state.db"))) expectHidden(readFileSync(join(dir, file)).toString("latin1"), upstream.credentials);
  });
});
