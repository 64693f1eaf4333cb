// The MCP `query` tool end to end: the compiled `kz server start --mcp`, driven by the official MCP SDK
// client, against a real PostgreSQL 15 (one cluster for this file, run as an ordinary user with password
// auth) and a SQLite file. Every result, the audit log and the server's log are checked for the absence
// of every part of every database URL (user, password, host, port, database).

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { Database } from "bun:sqlite";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { Sandbox } from "../helpers/kz.ts";
import { identityKey, identityToken, ServerProcess, writeIssuer, type IdentityKey } from "../helpers/server.ts";
import { freePort, postgresMissing, startPostgres, type Postgres } from "../servers/postgres.ts";

const missing = postgresMissing();
let pg: Postgres;
let sandbox: Sandbox;
let key: IdentityKey;
let server: ServerProcess;
let dir: string;
let litePath: string;
let values: Record<string, string>;
/** Every string that must never reach an agent, an audit record or a log line. */
let forbidden: string[];
const clients: Client[] = [];

const bundleText = (d: string) => `${writeIssuer(d, key)}
providers:
  env: {}
secrets:
  PG: { provider: env, ref: KZQ_PG }
  PG_BADPW: { provider: env, ref: KZQ_PG_BADPW }
  PG_DOWN: { provider: env, ref: KZQ_PG_DOWN }
  PG_NOHOST: { provider: env, ref: KZQ_PG_NOHOST }
  LITE: { provider: env, ref: KZQ_LITE }
  NOT_DB: { provider: env, ref: KZQ_NOT_DB }
query: { timeout_ms: 600, max_rows: 50, max_bytes: 4096 }
audit: { path: ./audit.jsonl }
policies:
- match: "**"
  rules:
  - cel: "identity.service == 'agent' || identity.service == 'writer'"
    effect: allow
  - cel: "request.action == 'query' && has(request.write) && request.write && identity.service != 'writer'"
    effect: deny
`;

beforeAll(async () => {
  if (missing) return;
  pg = await startPostgres({ user: "kzq_role_user", password: "Pg-Secret-pw-4d8e2b", database: "kzq_orders_db" });
  pg.psql(`SET ROLE ${pg.user};
    CREATE TABLE items (id int PRIMARY KEY, name text);
    INSERT INTO items SELECT g, 'item-' || g FROM generate_series(1, 200) g;
    CREATE TABLE creds (k text, v text);
    INSERT INTO creds VALUES ('db', '${pg.password}');`);
  sandbox = new Sandbox();
  key = await identityKey();
  dir = join(sandbox.dir, "srv");
  mkdirSync(dir);
  litePath = join(dir, "lite.db");
  const lite = new Database(litePath);
  lite.run("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)");
  lite.run("INSERT INTO notes (body) VALUES ('first'), ('second')");
  lite.close();
  const downPort = await freePort();
  values = {
    KZQ_PG: pg.url,
    KZQ_PG_BADPW: `postgres://${pg.user}:Wrong-pw-19af@127.0.0.1:${pg.port}/${pg.database}`,
    KZQ_PG_DOWN: `postgres://${pg.user}:${pg.password}@127.0.0.1:${downPort}/${pg.database}`,
    KZQ_PG_NOHOST: `postgres://${pg.user}:${pg.password}@db-kzq-nohost.invalid:5432/${pg.database}`,
    KZQ_LITE: `sqlite://${litePath}`,
    KZQ_NOT_DB: "just-a-token-value-0123456789",
  };
  forbidden = [pg.user, pg.password, pg.database, `127.0.0.1:${pg.port}`, String(pg.port), String(downPort), "db-kzq-nohost", "Wrong-pw-19af", litePath, ...Object.values(values)];
  await Bun.write(join(dir, "bundle.yaml"), bundleText(dir));
  server = await ServerProcess.start(["--bundle", join(dir, "bundle.yaml"), "--mcp"], { cwd: dir, env: values });
}, 60_000);

afterAll(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await server?.stop();
  pg?.cleanup();
  sandbox?.cleanup();
});

async function connect(service: string): Promise<Client> {
  const token = await identityToken(key, { service });
  const client = new Client({ name: "kz-query-e2e", version: "1.0.0" });
  await client.connect(new StreamableHTTPClientTransport(new URL(`${server.url}/mcp`), { requestInit: { headers: { Authorization: `Bearer ${token}` } } }));
  clients.push(client);
  return client;
}

function expectClean(text: string): void {
  for (const f of forbidden) expect(text).not.toContain(f);
}

async function query(client: Client, args: Record<string, unknown>): Promise<any> {
  const result = await client.callTool({ name: "query", arguments: args });
  expectClean(JSON.stringify(result));
  return result;
}

const count = (table = "items") => Number(pg.psql(`SELECT count(*) FROM ${table}`).trim());
const errorText = (r: any): string => {
  expect(r.isError).toBe(true);
  return r.content[0].text as string;
};

describe.skipIf(!!missing)("query on PostgreSQL", () => {
  test("the tool is listed; a read returns columns and rows", async () => {
    const agent = await connect("agent");
    expect((await agent.listTools()).tools.map((t) => t.name)).toContain("query");
    const r = await query(agent, { secret: "PG", sql: "SELECT id, name FROM items WHERE id <= $1 ORDER BY id", params: [3] });
    expect(r.isError).toBeUndefined();
    expect(r.structuredContent).toEqual({ columns: ["id", "name"], rows: [[1, "item-1"], [2, "item-2"], [3, "item-3"]], row_count: 3 });
  });

  test("an INSERT in read-only mode fails cleanly and changes nothing", async () => {
    const agent = await connect("agent");
    const before = count();
    const r = await query(agent, { secret: "PG", sql: "INSERT INTO items VALUES (1000, 'evil')" });
    expect(errorText(r)).toContain("read-only");
    expect(count()).toBe(before);
  });

  test("a write allowed by policy succeeds; write asked but denied changes nothing", async () => {
    const writer = await connect("writer");
    const before = count();
    const ok = await query(writer, { secret: "PG", sql: "INSERT INTO items VALUES ($1, $2)", params: [1001, "written"], write: true });
    expect(ok.isError).toBeUndefined();
    expect(ok.structuredContent).toMatchObject({ rows_affected: 1, row_count: 0 });
    expect(count()).toBe(before + 1);

    const agent = await connect("agent");
    const denied = await query(agent, { secret: "PG", sql: "DELETE FROM items", write: true });
    expect(errorText(denied)).toContain("writing through PG is not allowed");
    expect(count()).toBe(before + 1);
  });

  test("wrong password, down server, unknown host and syntax error: tool errors with no part of the URL", async () => {
    const agent = await connect("agent");
    expect(errorText(await query(agent, { secret: "PG_BADPW", sql: "SELECT 1" }))).toContain("authentication failed");
    expect(errorText(await query(agent, { secret: "PG_DOWN", sql: "SELECT 1" }))).toContain("cannot connect");
    expect(errorText(await query(agent, { secret: "PG_NOHOST", sql: "SELECT 1" }))).toContain("cannot connect");
    expect(errorText(await query(agent, { secret: "PG", sql: "SELEC id FROM items" }))).toContain('syntax error at or near "SELEC"');
    // A driver message that names the database or the role is cut, not passed on.
    const named = errorText(await query(agent, { secret: "PG", sql: "SELECT current_database()::regclass, current_user::regclass" }));
    expect(named).toContain('relation "…" does not exist');
    expect(errorText(await query(agent, { secret: "PG", sql: "SELECT pg_read_file('/etc/passwd')" }))).toContain("permission denied");
    expect(errorText(await query(agent, { secret: "NOT_DB", sql: "SELECT 1" }))).toContain("not a database URL");
  });

  test("the row cap and the byte cap, each with a note", async () => {
    const agent = await connect("agent");
    const rows = await query(agent, { secret: "PG", sql: "SELECT id FROM items ORDER BY id", max_rows: 10 });
    expect(rows.structuredContent).toMatchObject({ row_count: 10, truncated: true });
    expect(rows.structuredContent.note).toContain("first 10 rows");
    const byDefault = await query(agent, { secret: "PG", sql: "SELECT id FROM items" });
    expect(byDefault.structuredContent.row_count).toBe(50); // the bundle's ceiling is below the default of 100
    expect((await query(agent, { secret: "PG", sql: "SELECT 1", max_rows: 51 })).isError).toBe(true);
    const bytes = await query(agent, { secret: "PG", sql: "SELECT repeat('x', 1000) FROM generate_series(1, 20)" });
    expect(bytes.structuredContent.truncated).toBe(true);
    expect(bytes.structuredContent.row_count).toBeLessThan(5);
    expect(bytes.structuredContent.note).toContain("4096 bytes");
  });

  test("a statement longer than the timeout is cancelled", async () => {
    const agent = await connect("agent");
    const r = await query(agent, { secret: "PG", sql: "SELECT pg_sleep(30)" });
    expect(errorText(r)).toContain("timeout of 600 ms");
  });

  test("several statements in one call are refused and nothing runs", async () => {
    const writer = await connect("writer");
    const r = await query(writer, { secret: "PG", sql: "SELECT 1; DROP TABLE items", write: true });
    expect(errorText(r)).toContain("more than one statement");
    const commit = await query(writer, { secret: "PG", sql: "COMMIT" });
    expect(errorText(commit)).toContain("transaction control");
    expect(count()).toBeGreaterThan(0);
  });

  test("a row holding the secret's own password comes back masked", async () => {
    const agent = await connect("agent");
    const r = await query(agent, { secret: "PG", sql: "SELECT v, encode(convert_to(v, 'UTF8'), 'base64') AS b64, upper(v) AS up FROM creds" });
    const [row] = r.structuredContent.rows;
    expect(row[0]).toMatch(/^KZ_TOK_/);
    expect(r.structuredContent.note).toContain("contained the value of PG");
  });

  test("parameters are bound as data, never spliced into the text", async () => {
    const agent = await connect("agent");
    const inj = await query(agent, { secret: "PG", sql: "SELECT id FROM items WHERE name = $1", params: ["x' OR '1'='1"] });
    expect(inj.structuredContent.row_count).toBe(0);
    const echo = await query(agent, { secret: "PG", sql: "SELECT $1::text AS v", params: ["'; DROP TABLE items; --"] });
    expect(echo.structuredContent.rows).toEqual([["'; DROP TABLE items; --"]]);
    expect(count()).toBeGreaterThan(0);
  });

  test("a session setting made in one call does not reach the next (rolled back, or reset before reuse)", async () => {
    const writer = await connect("writer");
    await query(writer, { secret: "PG", sql: "SELECT set_config('kzq.mark', 'leaked', false)", write: true });
    await query(writer, { secret: "PG", sql: "SELECT set_config('kzq.mark2', 'leaked', false)" });
    for (let i = 0; i < 6; i++) {
      const r = await query(writer, { secret: "PG", sql: "SELECT coalesce(current_setting('kzq.mark', true), '') || coalesce(current_setting('kzq.mark2', true), '') AS m" });
      expect(r.structuredContent.rows).toEqual([[""]]);
    }
  });

  test("the server going down under a pooled connection is a clean tool error, and the pool recovers when it is back", async () => {
    const agent = await connect("agent");
    expect((await query(agent, { secret: "PG", sql: "SELECT 1 AS one" })).structuredContent.rows).toEqual([[1]]); // a pooled connection
    pg.stop();
    try {
      const down = errorText(await query(agent, { secret: "PG", sql: "SELECT 1 AS one" }));
      expect(down).toMatch(/cannot connect|connection failed|closed/);
    } finally {
      pg.start();
    }
    expect((await query(agent, { secret: "PG", sql: "SELECT 2 AS two" })).structuredContent.rows).toEqual([[2]]);
  }, 30_000);

  test("the audit log records each query (statement, rows, status) and no part of any URL; nor does the server log", async () => {
    const text = readFileSync(join(dir, "audit.jsonl"), "utf8");
    expectClean(text);
    expectClean(server.lines.join("\n"));
    const records = text.trim().split("\n").map((l) => JSON.parse(l));
    const q = records.filter((r) => r.event === "query");
    expect(q.find((r) => r.statement === "SELECT id, name FROM items WHERE id <= $1 ORDER BY id")).toMatchObject({
      secret: "PG",
      subject: "agent-7",
      status: "ok",
      rows: 3,
      params: 1,
      write: false,
    });
    expect(q.find((r) => r.statement === "SELECT pg_sleep(30)")).toMatchObject({ status: "error", error_class: "timeout" });
    // Parameters are never recorded, only their count.
    expect(text).not.toContain("'; DROP TABLE items; --");
    expect(records.some((r) => r.event === "decision" && r.action === "query" && r.write === true && r.effect === "deny")).toBe(true);
  });
});

describe.skipIf(!!missing)("query on SQLite", () => {
  const rows = () => {
    const db = new Database(litePath, { readonly: true });
    try {
      return (db.query("SELECT count(*) AS n FROM notes").get() as { n: number }).n;
    } finally {
      db.close();
    }
  };

  test("reads rows; an INSERT in read-only mode fails and changes nothing; a permitted write succeeds", async () => {
    const agent = await connect("agent");
    const r = await query(agent, { secret: "LITE", sql: "SELECT id, body FROM notes WHERE id >= ? ORDER BY id", params: [1] });
    expect(r.structuredContent).toEqual({ columns: ["id", "body"], rows: [[1, "first"], [2, "second"]], row_count: 2 });
    const before = rows();
    expect(errorText(await query(agent, { secret: "LITE", sql: "INSERT INTO notes (body) VALUES ('evil')" }))).toContain("read-only");
    expect(rows()).toBe(before);
    const writer = await connect("writer");
    const w = await query(writer, { secret: "LITE", sql: "INSERT INTO notes (body) VALUES (?)", params: ["third"], write: true });
    expect(w.structuredContent).toMatchObject({ rows_affected: 1 });
    expect(rows()).toBe(before + 1);
  });

  test("multiple statements, ATTACH and pragma changes are refused", async () => {
    const writer = await connect("writer");
    const before = rows();
    expect(errorText(await query(writer, { secret: "LITE", sql: "SELECT 1; DELETE FROM notes", write: true }))).toContain("more than one statement");
    expect(errorText(await query(writer, { secret: "LITE", sql: `ATTACH DATABASE '${join(dir, "state.db")}' AS s` }))).toContain("ATTACH");
    expect(errorText(await query(writer, { secret: "LITE", sql: "PRAGMA query_only = 0" }))).toContain("PRAGMA");
    expect(rows()).toBe(before);
  });

  test("a statement longer than the timeout is stopped (its SQLite process killed), and the next call works", async () => {
    const agent = await connect("agent");
    const slow = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 1000000000) SELECT count(*) FROM c";
    expect(errorText(await query(agent, { secret: "LITE", sql: slow }))).toContain("timeout of 600 ms");
    expect((await query(agent, { secret: "LITE", sql: "SELECT count(*) AS n FROM notes" })).structuredContent.columns).toEqual(["n"]);
    // The runaway statement's process is gone: only the fresh one serves the pool.
    const children = Bun.spawnSync(["pgrep", "-P", String(server.proc.pid), "-f", "__sqlite-query"], { stdout: "pipe" }).stdout.toString().trim().split("\n").filter(Boolean);
    expect(children).toHaveLength(1);
  }, 20_000);

  test("a syntax error names the agent's token, not the file", async () => {
    const agent = await connect("agent");
    expect(errorText(await query(agent, { secret: "LITE", sql: "SELEC body FROM notes" }))).toContain('syntax error at or near "SELEC"');
    // Bytes cross from the SQLite process and come back as "\x…" hex.
    expect((await query(agent, { secret: "LITE", sql: "SELECT x'00ff' AS b, 1.5 AS f, NULL AS n" })).structuredContent.rows).toEqual([["\\x00ff", 1.5, null]]);
  });
});
