// Captured secrets against the server state's failure modes and clock, in process: the MCP fixture's host
// (real policy engine, verifier, audit log, HTTPS upstream) given the server's stateful part over a real
// SQLite state in memory, with a clock the test moves and a switch that makes the state fail like a Redis
// that is down. Driven by the official SDK client.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { randomBytes } from "node:crypto";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { statefulHost } from "../../src/server/mcp-stateful.ts";
import { SqliteState } from "../../src/state/sqlite.ts";
import { StateUnavailableError } from "../../src/state/types.ts";
import { VALUES, startFixture, type Fixture } from "./fixture.ts";

let fixture: Fixture;
let client: Client;
let sqlite: SqliteState;
let clock = Date.now();
let down = false;

beforeAll(async () => {
  fixture = await startFixture();
  sqlite = new SqliteState(":memory:", { now: () => clock });
  const stateful = statefulHost({ state: sqlite, stateKey: randomBytes(32), audit: { append: () => undefined }, publicUrl: "https://kz.example.test", now: () => clock });
  const failing = <T extends unknown[], R>(fn: (...args: T) => Promise<R>) => (...args: T) => (down ? Promise.reject(new StateUnavailableError()) : fn(...args));
  const { put, get, list, take } = stateful.captured;
  stateful.captured = { put: failing(put), get: failing(get), list: failing(list), take: failing(take) };
  stateful.createShare = failing(stateful.createShare);
  fixture.open.host.stateful = () => stateful;
  client = new Client({ name: "kz-test", version: "1.0.0" });
  const jwt = await fixture.jwt("agent", { sub: "agent-capture" });
  await client.connect(new StreamableHTTPClientTransport(new URL(fixture.open.server.url), { requestInit: { headers: { Authorization: `Bearer ${jwt}` } } }));
});

afterAll(async () => {
  await client?.close();
  await sqlite?.close();
  fixture?.stop();
});

const call = async (name: string, args: Record<string, unknown>): Promise<any> => {
  const result = await client.callTool({ name, arguments: args });
  for (const value of fixture.upstream.credentials) expect(JSON.stringify(result)).not.toContain(value);
  return result;
};
const capture = (as: string, ttl = "1h") =>
  call("fetch", { url: "https://api.example.test/credentials", method: "POST", secret: "API_KEY", capture: [{ pointer: "/user/password", as, hosts: ["api.example.test"], ttl }] });
const names = async () => (await call("list_secrets", {})).structuredContent.secrets.map((s: { name: string }) => s.name);

describe("captured secrets and the server's state", () => {
  test("they expire with their ttl on the server's clock", async () => {
    expect((await capture("BRIEF", "5m")).isError).toBeUndefined();
    expect(await names()).toContain("BRIEF");
    clock += 5 * 60_000 - 1;
    expect((await call("fetch", { url: "https://api.example.test/echo", secret: "BRIEF" })).isError).toBeUndefined();
    clock += 1;
    expect(await names()).not.toContain("BRIEF");
    const late = await call("fetch", { url: "https://api.example.test/echo", secret: "BRIEF" });
    expect(late.isError).toBe(true);
    expect(late.content[0].text).toContain("no secret named");
  });

  test("state down: plain fetches still work; capture, captured use and share are refused before anything is sent", async () => {
    expect((await capture("KEPT")).isError).toBeUndefined();
    down = true;
    try {
      expect((await call("fetch", { url: "https://api.example.test/echo", secret: "API_KEY" })).isError).toBeUndefined();
      const before = fixture.upstream.requests.length;
      for (const result of [await capture("DURING_OUTAGE"), await call("fetch", { url: "https://api.example.test/echo", secret: "KEPT" })]) {
        expect(result.isError).toBe(true);
        expect(result.content[0].text).toContain("server state is unavailable");
      }
      expect(fixture.upstream.requests.length).toBe(before);
      const listed = (await call("list_secrets", {})).structuredContent;
      expect(listed.secrets.map((s: { name: string }) => s.name)).toContain("API_KEY");
      expect(listed.note).toContain("unavailable");
      expect((await call("share", { secret: "KEPT" })).isError).toBe(true);
    } finally {
      down = false;
    }
    expect(await names()).toContain("KEPT");
  });

  test("a gzip-compressed response is decoded, captured and masked like a plain one", async () => {
    const result = await call("fetch", {
      url: "https://api.example.test/credentials?gzip=1",
      method: "POST",
      secret: "API_KEY",
      capture: [{ pointer: "/user/password", as: "FROM_GZIP" }],
    });
    expect(result.isError).toBeUndefined();
    const password = fixture.upstream.credentials.at(-1)!;
    expect(result.structuredContent.body_encoding).toBe("text");
    expect(JSON.parse(result.structuredContent.body).user.password).toBe(result.structuredContent.captured[0].token);
    for (const form of [password, encodeURIComponent(password), Buffer.from(password).toString("base64")]) expect(JSON.stringify(result)).not.toContain(form);
  });

  test("all or nothing: a store that fails part-way takes back what it stored, and the body stays withheld", async () => {
    const { stateful } = fixture.open.host;
    const captured = stateful!()!.captured;
    const realPut = captured.put;
    let puts = 0;
    captured.put = (secret) => (++puts === 2 ? Promise.reject(new StateUnavailableError()) : realPut(secret));
    try {
      const result = await call("fetch", {
        url: "https://api.example.test/credentials",
        method: "POST",
        secret: "API_KEY",
        capture: [
          { pointer: "/user/password", as: "FIRST_HALF" },
          { pointer: "/connection", as: "SECOND_HALF" },
        ],
      });
      expect(result.isError).toBe(true);
      expect(result.content[0].text).toContain("withheld");
    } finally {
      captured.put = realPut;
    }
    expect(puts).toBe(2);
    const listed = await names();
    expect(listed).not.toContain("FIRST_HALF");
    expect(listed).not.toContain("SECOND_HALF");
  });

  test("a share that cannot be stored leaves the captured secret in place (handed off only with a link)", async () => {
    expect((await capture("HANDOFF")).isError).toBeUndefined();
    const { stateful } = fixture.open.host;
    const real = stateful!()!.createShare;
    stateful!()!.createShare = () => Promise.reject(new StateUnavailableError());
    try {
      const result = await call("share", { secret: "HANDOFF" });
      expect(result.isError).toBe(true);
      expect(result.content[0].text).toContain("no link was made");
    } finally {
      stateful!()!.createShare = real;
    }
    expect(await names()).toContain("HANDOFF");
    const shared = await call("share", { secret: "HANDOFF" });
    expect(shared.structuredContent.link).toMatch(/^https:\/\/kz\.example\.test\/s\/[A-Za-z0-9_-]{22}#[A-Za-z0-9_-]{43}$/);
    expect(await names()).not.toContain("HANDOFF");
  });

  test("a bundle secret too large for a share is refused, and no link is made", async () => {
    const original = VALUES.KZ_MCP_TEST_ANY_KEY;
    (VALUES as Record<string, string>).KZ_MCP_TEST_ANY_KEY = "x".repeat(49 * 1024);
    try {
      const result = await call("share", { secret: "ANY_KEY" });
      expect(result.isError).toBe(true);
      expect(result.content[0].text).toContain("larger than a share may hold");
    } finally {
      (VALUES as Record<string, string>).KZ_MCP_TEST_ANY_KEY = original;
    }
    expect((await call("share", { secret: "ANY_KEY" })).structuredContent.link).toStartWith("https://kz.example.test/s/");
  });

  test("capturing a name again replaces it: the old token goes inert, the new one works", async () => {
    const first = (await capture("REPLACED")).structuredContent.captured[0].token;
    const second = (await capture("REPLACED")).structuredContent.captured[0].token;
    expect(second).not.toBe(first);
    const old = await call("fetch", { url: "https://api.example.test/echo", headers: { "X-Db-Password": first } });
    expect(old.isError).toBe(true);
    expect(old.content[0].text).toContain("uses no secret");
    const before = fixture.upstream.requests.length;
    expect((await call("fetch", { url: "https://api.example.test/echo", headers: { "X-Db-Password": second } })).isError).toBeUndefined();
    expect(fixture.upstream.requests[before]!.headers["x-db-password"]).toBe(fixture.upstream.credentials.at(-1)!);
    expect((await names()).filter((n: string) => n === "REPLACED")).toHaveLength(1);
  });
});
