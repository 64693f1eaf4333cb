// MCP over stdio: the official SDK's StdioClientTransport against a real process (test/mcp/stdio-server.ts
// until the kz command exists), and serveMcpStdio in-process for what a client cannot easily provoke —
// a token that expires mid-session, a token file that rotates, framing errors, a bad token at start.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { KzError } from "../../src/errors.ts";
import { identityTokenSource, serveMcpStdio } from "../../src/mcp/index.ts";
import { NOW, VALUES, startFixture, type Fixture } from "./fixture.ts";

let fx: Fixture;
beforeAll(async () => {
  fx = await startFixture();
});
afterAll(() => fx.stop());

const SERVER = join(import.meta.dir, "stdio-server.ts");

describe("SDK client over stdio", () => {
  test("initialize, list tools, resolve a token, fetch with the real credential; the value never comes back", async () => {
    const transport = new StdioClientTransport({
      command: process.execPath,
      args: [SERVER, fx.open.bundlePath],
      env: { PATH: process.env.PATH ?? "", KZ_IDENTITY_TOKEN: await fx.jwt("agent", { sub: "stdio-agent" }) },
      stderr: "pipe",
    });
    const client = new Client({ name: "kz-stdio-test", version: "1.0.0" });
    try {
      await client.connect(transport);
      expect((await client.listTools()).tools.map((t) => t.name)).toEqual(["list_secrets", "resolve", "fetch", "query"]);
      const resolved = (await client.callTool({ name: "resolve", arguments: { name: "API_KEY" } })) as any;
      expect(resolved.structuredContent.token).toMatch(/^KZ_TOK_/);
      const before = fx.upstream.requests.length;
      const fetched = (await client.callTool({
        name: "fetch",
        arguments: { url: "https://api.example.test/echo", headers: { "X-Key": resolved.structuredContent.token } },
      })) as any;
      expect(fetched.isError).toBeUndefined();
      expect(fx.upstream.requests[before]!.headers["x-key"]).toBe(VALUES.KZ_MCP_TEST_API_KEY);
      expect(JSON.stringify(fetched)).not.toContain(VALUES.KZ_MCP_TEST_API_KEY);
      expect(fx.open.host.auditRecords().filter((r) => r.subject === "stdio-agent").map((r) => [r.action, r.client])).toEqual([
        ["resolve", "stdio"],
        ["fetch", "stdio"],
      ]);
    } finally {
      await client.close();
    }
  });

  test("a process whose token does not verify exits non-zero with one line and never answers", async () => {
    const proc = Bun.spawn([process.execPath, SERVER, fx.open.bundlePath], {
      env: { PATH: process.env.PATH ?? "", KZ_IDENTITY_TOKEN: "not.a.jwt" },
      stdin: "pipe",
      stdout: "pipe",
      stderr: "pipe",
    });
    const [code, out, err] = await Promise.all([proc.exited, new Response(proc.stdout).text(), new Response(proc.stderr).text()]);
    expect(code).toBe(1);
    expect(out).toBe("");
    expect(err.trim().split("\n")).toEqual([expect.stringMatching(/^kz: identity token rejected: malformed token/)]);
  });
});

/** Runs serveMcpStdio over the given input lines; resolves with the answers, parsed. */
async function serveLines(identity: string | (() => string), lines: string[]): Promise<any[]> {
  const out: string[] = [];
  async function* input() {
    for (const line of lines) yield new TextEncoder().encode(line);
  }
  await serveMcpStdio(fx.open.host, identity, input(), (text) => out.push(text));
  const joined = out.join("");
  expect(joined.endsWith("\n") || joined === "").toBe(true);
  return joined.split("\n").filter(Boolean).map((l) => JSON.parse(l));
}

/** An output for serveMcpStdio that keeps the lines and tells when the first one arrived. */
function collector() {
  const first = Promise.withResolvers<void>();
  const lines: string[] = [];
  return {
    lines,
    firstAnswer: first.promise,
    write: (text: string) => {
      lines.push(text);
      first.resolve();
    },
  };
}

describe("serveMcpStdio", () => {
  const ping = (id: number) => `${JSON.stringify({ jsonrpc: "2.0", id, method: "ping" })}\n`;

  test("a bad token at start is a KzError before anything is read", async () => {
    let read = false;
    async function* input() {
      read = true;
      yield "";
    }
    await expect(serveMcpStdio(fx.open.host, "not.a.jwt", input(), () => {})).rejects.toThrow(KzError);
    expect(read).toBe(false);
    expect(() => identityTokenSource({ env: {} })).toThrow("set KZ_IDENTITY_TOKEN");
  });

  test("the token is checked before every message: once it expires, requests get an error, not an answer", async () => {
    const valid = await fx.jwt("agent");
    const expired = await fx.jwt("agent", { iat: NOW - 600, exp: NOW - 300 });
    let calls = 0;
    const answers = await serveLines(() => (calls++ < 2 ? valid : expired), [ping(1), ping(2)]);
    expect(answers).toEqual([
      { jsonrpc: "2.0", id: 1, result: {} },
      { jsonrpc: "2.0", id: 2, error: { code: -32001, message: expect.stringMatching(/^identity token rejected: .*expired.* — renew the token and restart kz$/) } },
    ]);
  });

  test("a token file is re-read for every message, so a rotated token takes effect", async () => {
    const file = join(fx.dir, "identity.jwt");
    writeFileSync(file, `${await fx.jwt("agent")}\n`);
    const source = identityTokenSource({ env: { KZ_IDENTITY_TOKEN: "ignored-when-a-file-is-given" }, file });
    const out = collector();
    const lines = [ping(1), `${JSON.stringify({ jsonrpc: "2.0", id: 2, method: "tools/call", params: { name: "resolve", arguments: { name: "API_KEY" } } })}\n`];
    let rotated = false;
    async function* input() {
      yield lines[0]!;
      await out.firstAnswer; // rotate only once the first message was answered, so the order is certain
      writeFileSync(file, await fx.jwt("blocked"));
      rotated = true;
      yield lines[1]!;
    }
    await serveMcpStdio(fx.open.host, source, input(), out.write);
    expect(rotated).toBe(true);
    const answers = out.lines.map((l) => JSON.parse(l));
    expect(answers[0]).toEqual({ jsonrpc: "2.0", id: 1, result: {} });
    expect(answers[1].result.isError).toBe(true);
    expect(answers[1].result.content[0].text).toContain("not allowed");
  });

  test("framing: lines split across chunks, CRLF, blank lines, parse errors, oversized lines", async () => {
    const valid = await fx.jwt("agent");
    const whole = ping(1) + "\r\n" + ping(2).replace("\n", "\r\n") + "{oops\n";
    const pieces = [whole.slice(0, 7), whole.slice(7, 40), whole.slice(40)];
    const answers = await serveLines(valid, pieces);
    expect(answers).toEqual(
      expect.arrayContaining([
        { jsonrpc: "2.0", id: 1, result: {} },
        { jsonrpc: "2.0", id: 2, result: {} },
        { jsonrpc: "2.0", id: null, error: { code: -32700, message: expect.stringContaining("parse error") } },
      ]),
    );
    expect(answers).toHaveLength(3);

    const out: string[] = [];
    async function* big() {
      yield `{"jsonrpc":"2.0","id":1,"method":"ping","params":{"pad":"${"x".repeat(2000)}`;
      yield `${"x".repeat(2000)}"}}\n`;
      yield ping(3);
    }
    await serveMcpStdio(fx.open.host, valid, big(), (t) => out.push(t), { maxMessageBytes: 1000 });
    expect(out.map((l) => JSON.parse(l))).toEqual([
      { jsonrpc: "2.0", id: null, error: { code: -32600, message: "message larger than 1000 bytes" } },
      { jsonrpc: "2.0", id: 3, result: {} },
    ]);
  });

  test("initialize fixes the session's version: batches only after negotiating 2025-03-26", async () => {
    const valid = await fx.jwt("agent");
    const init = (v: string) => `${JSON.stringify({ jsonrpc: "2.0", id: 0, method: "initialize", params: { protocolVersion: v, capabilities: {}, clientInfo: { name: "t", version: "1" } } })}\n`;
    const batch = `${JSON.stringify([{ jsonrpc: "2.0", id: 1, method: "ping" }])}\n`;
    async function* ordered(first: string, firstAnswer: Promise<void>) {
      yield first;
      await firstAnswer;
      yield batch;
    }
    for (const [version, expected] of [
      ["2025-03-26", [{ jsonrpc: "2.0", id: 1, result: {} }]],
      ["2025-11-25", { jsonrpc: "2.0", id: null, error: { code: -32600, message: expect.stringContaining("batches are not part of MCP 2025-11-25") } }],
    ] as const) {
      const out = collector();
      await serveMcpStdio(fx.open.host, valid, ordered(init(version), out.firstAnswer), out.write);
      expect(JSON.parse(out.lines[0]!).result.protocolVersion).toBe(version);
      expect(JSON.parse(out.lines[1]!)).toEqual(expected);
    }
  });
});
