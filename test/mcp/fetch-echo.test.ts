// MCP fetch against the hostile echo server (test/servers/echo-upstream.ts), over Streamable HTTP with the
// official SDK client and a host built from real parts: the upstream gets the real value and sends it
// back in every encoding — in the body, in Location and Link, compressed whether asked or not — and the
// tool result holds none of it, read back in each encoding.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { claimsFor, jwksOf, makeKey, sign } from "../identity/fixtures.ts";
import { type EchoUpstream, readBack, startEchoUpstream } from "../servers/echo-upstream.ts";
import { AUDIENCE, ISSUER, VALUES, buildHost, bundleYaml, serveMcp, type McpServer } from "./fixture.ts";

const VALUE = VALUES.KZ_MCP_TEST_BASIC_PASS; // fake, with characters every escaping treats differently

let dir: string;
let upstream: EchoUpstream;
let server: McpServer;
let client: Client;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "kz-mcp-echo-"));
  upstream = await startEchoUpstream(["api.example.test"]);
  const key = await makeKey("ES256", "mcp-echo");
  writeFileSync(join(dir, "jwks.json"), JSON.stringify(jwksOf(key)));
  copyFileSync(upstream.caFile, join(dir, "upstream-ca.pem"));
  writeFileSync(join(dir, "bundle.yaml"), bundleYaml({ upstreamPort: upstream.port, allowPrivate: true }));
  server = serveMcp(await buildHost(join(dir, "bundle.yaml")));
  const jwt = await sign(key, claimsFor(ISSUER, AUDIENCE, { service: "agent" }));
  client = new Client({ name: "kz-test", version: "1.0.0" });
  await client.connect(new StreamableHTTPClientTransport(new URL(server.url), { requestInit: { headers: { Authorization: `Bearer ${jwt}` } } }));
});

afterAll(async () => {
  await client?.close();
  server?.stop();
  upstream?.stop();
  rmSync(dir, { recursive: true, force: true });
});

function holds(bytes: Buffer, value: string): boolean {
  const text = bytes.toString("latin1").toLowerCase();
  const v = value.toLowerCase();
  return text.includes(v) || text.includes(v.slice(0, 12)) || text.includes(v.slice(-10));
}

async function fetchForms(query: string): Promise<{ result: Record<string, any>; leaks: string[] }> {
  const raw = (await client.callTool({ name: "fetch", arguments: { url: `https://api.example.test/forms${query}`, secret: "BASIC_PASS" } })) as any;
  if (raw.isError) throw new Error(raw.content[0].text);
  const result = raw.structuredContent as Record<string, any>;
  const leaks: string[] = [];
  if (holds(Buffer.from(JSON.stringify(raw)), VALUE)) leaks.push("result as sent");
  for (const [kind, text] of Object.entries(JSON.parse(result.body) as Record<string, string>)) {
    if (holds(readBack(kind, text), VALUE)) leaks.push(`body ${kind}`);
  }
  const location = String(result.headers.location ?? "");
  const link = String(result.headers.link ?? "");
  expect(location).toContain("key=");
  expect(link).toContain("c=");
  if (holds(readBack("percent", location.split("key=")[1]!), VALUE)) leaks.push("Location");
  if (holds(readBack("base64url", /c=([^>]*)>/.exec(link)?.[1] ?? ""), VALUE)) leaks.push("Link");
  return { result, leaks };
}

describe("MCP fetch against an echo in every encoding", () => {
  test("a gzip transfer coding is decoded and masked too, not handed over compressed", async () => {
    const raw = (await client.callTool({ name: "fetch", arguments: { url: "https://api.example.test/forms?te=gzip", secret: "BASIC_PASS" } })) as any;
    const result = raw.structuredContent as Record<string, any>;
    expect(result.body_encoding).toBe("text");
    expect(holds(Buffer.from(JSON.stringify(raw)), VALUE)).toBe(false);
    for (const [kind, text] of Object.entries(JSON.parse(result.body) as Record<string, string>)) expect(holds(readBack(kind, text), VALUE)).toBe(false);
  });

  for (const query of ["", "?compress=gzip&force=1", "?compress=deflate&force=1", "?compress=br&force=1"]) {
    test(`body, Location and Link hold no form of the value${query ? ` (${query.slice(1)})` : ""}`, async () => {
      const { result, leaks } = await fetchForms(query);
      expect(upstream.requests.at(-1)!.headers.authorization).toBe(`Bearer ${VALUE}`);
      expect(result.status).toBe(200);
      expect(leaks).toEqual([]);
      expect(result.note).toContain("BASIC_PASS");
    });
  }
});
