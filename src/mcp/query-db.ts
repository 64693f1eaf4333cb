// The `query` tool's connections: a database URL parsed into its parts (which are also the needles no
// message may contain), and one pool per secret — Bun's SQL client for PostgreSQL and MySQL, bun:sqlite
// in a worker for SQLite files (query-sqlite.ts) — that runs ONE statement in its own transaction: read-only unless the call may
// write (`BEGIN READ ONLY` / `START TRANSACTION READ ONLY`; `PRAGMA query_only` for SQLite), with a
// statement timeout, parameters bound by the driver (never spliced into the text), then rolled back
// (reads) or committed (writes). A PostgreSQL connection is reset (`DISCARD ALL`) before it goes back to
// the pool, so nothing one call sets (a role, a setting, an advisory lock) reaches the next caller.
// This module is loaded with the first query; `bun`'s SQL client loads with it.

import { SQL } from "bun";
import type { Dialect } from "./sql-text.ts";
import type { RawRows } from "./query-result.ts";
import { SqlitePool } from "./query-sqlite.ts";

export interface DatabaseUrl {
  dialect: Dialect;
  /** PostgreSQL/MySQL connection options; undefined for SQLite. */
  server?: { hostname: string; port: number; username: string; password: string; database: string; url: string };
  /** SQLite: the file, and whether the URL asked for read-only (`?mode=ro`). */
  file?: { path: string; readonly: boolean };
  /** Every part of the URL that may never appear in a message (raw and percent-decoded). */
  needles: string[];
}

const decode = (text: string) => {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
};

/** The secret's value read as a database URL, or a reason (which never quotes the value). */
export function parseDatabaseUrl(value: string): DatabaseUrl | string {
  const text = value.trim();
  const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(text)?.[1]?.toLowerCase();
  if (scheme === "sqlite" || scheme === "file") {
    let rest = text.slice(scheme.length + 1);
    if (rest.startsWith("//")) rest = rest.slice(2);
    const q = rest.indexOf("?");
    const query = new URLSearchParams(q >= 0 ? rest.slice(q + 1) : "");
    const path = decode(q >= 0 ? rest.slice(0, q) : rest);
    if (path === "") return "a sqlite: URL needs a file path (sqlite:/abs/path.db)";
    if (path !== ":memory:" && !path.startsWith("/")) return "a sqlite: URL needs an absolute file path (sqlite:///srv/app.db)";
    const mode = query.get("mode");
    const parts = path.split("/").filter((p) => p.length >= 3);
    return { dialect: "sqlite", file: { path, readonly: mode === "ro" }, needles: [...new Set([text, path, ...parts])] };
  }
  let dialect: Dialect;
  if (scheme === "postgres" || scheme === "postgresql") dialect = "postgres";
  else if (scheme === "mysql" || scheme === "mariadb") dialect = "mysql";
  else return "its value is not a database URL (postgres://, postgresql://, mysql:// or sqlite:)";
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return "its value is not a valid database URL";
  }
  const hostname = url.hostname.replace(/^\[|\]$/g, "");
  if (!hostname) return "its database URL has no host";
  const port = url.port ? Number(url.port) : dialect === "postgres" ? 5432 : 3306;
  const username = decode(url.username);
  const password = decode(url.password);
  const database = decode(url.pathname.replace(/^\//, ""));
  const needles = [text, url.username, username, url.password, password, hostname, url.host, database, url.pathname.replace(/^\//, ""), url.port].filter((n) => n !== "");
  return { dialect, server: { hostname, port, username, password, database, url: text }, needles: [...new Set(needles)] };
}

export interface RunRequest {
  statement: string;
  params: unknown[];
  write: boolean;
  timeoutMs: number;
  maxRows: number;
}

/** A statement the client gave up on after the timeout (the server may have been asked to cancel). */
export class ClientTimeout extends Error {
  constructor() {
    super("client-side timeout");
    this.name = "ClientTimeout";
  }
}

export interface QueryPool {
  run(request: RunRequest): Promise<RawRows>;
  close(): Promise<void>;
}

/** A frozen one-string template object: Bun then runs the text as ONE prepared statement with no parameters (the extended protocol), never as a multi-statement simple query. */
function template(text: string): TemplateStringsArray {
  const strings: string[] = [text];
  Object.defineProperty(strings, "raw", { value: [text] });
  return Object.freeze(strings) as unknown as TemplateStringsArray;
}

/** The rows of a driver result, at most maxRows + 1 kept. */
function rawRows(result: unknown[] & { columns?: { name: string }[] | null; count?: number; command?: string | null }, maxRows: number): RawRows {
  const columns = (result.columns ?? []).map((c) => c.name);
  const rows = result.slice(0, maxRows + 1) as unknown[][];
  if (columns.length === 0) return { columns, rows: [], more: false, ...(typeof result.count === "number" ? { rowsAffected: result.count } : {}) };
  return { columns, rows, more: result.length > maxRows + 1 };
}

class ServerPool implements QueryPool {
  readonly #sql: SQL;

  constructor(
    private readonly dialect: "postgres" | "mysql",
    server: NonNullable<DatabaseUrl["server"]>,
  ) {
    // Explicit fields: the environment (PGDATABASE, …) must not redirect a secret's connection.
    this.#sql = new SQL({
      adapter: dialect,
      url: server.url,
      hostname: server.hostname,
      port: server.port,
      username: server.username,
      password: server.password,
      database: server.database,
      max: 4,
      idleTimeout: 60,
      connectionTimeout: 10,
      ...(dialect === "postgres" ? { prepare: false, connection: { application_name: "kz-query" } } : {}),
    });
  }

  async run(request: RunRequest): Promise<RawRows> {
    const conn = await this.#sql.reserve();
    let reset = this.dialect === "postgres";
    try {
      if (this.dialect === "postgres") {
        await conn.unsafe(request.write ? "BEGIN READ WRITE" : "BEGIN READ ONLY");
        await conn.unsafe(`SET LOCAL statement_timeout = ${Math.floor(request.timeoutMs)}`);
      } else {
        await conn.unsafe(`SET SESSION max_execution_time = ${Math.floor(request.timeoutMs)}`);
        await conn.unsafe(request.write ? "START TRANSACTION READ WRITE" : "START TRANSACTION READ ONLY");
      }
      const query = request.params.length > 0 ? conn.unsafe(request.statement, request.params) : conn(template(request.statement));
      const result = await withDeadline(query.values(), request.timeoutMs + 2_000, () => query.cancel());
      await conn.unsafe(request.write ? "COMMIT" : "ROLLBACK");
      return rawRows(result as never, request.maxRows);
    } catch (error) {
      await conn.unsafe("ROLLBACK").catch(() => {});
      throw error;
    } finally {
      if (reset) await conn.unsafe("DISCARD ALL").catch(() => (reset = false));
      conn.release();
    }
  }

  close(): Promise<void> {
    return this.#sql.close({ timeout: 1 });
  }
}

/** A bound on a promise the driver should have settled by itself (its own timeout failed to fire). */
async function withDeadline<T>(promise: Promise<T>, ms: number, onTimeout: () => void): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      onTimeout();
      reject(new ClientTimeout());
    }, ms);
  });
  try {
    return await Promise.race([promise, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

export function openPool(url: DatabaseUrl): QueryPool {
  if (url.dialect === "sqlite") return new SqlitePool(url.file!);
  return new ServerPool(url.dialect, url.server!);
}
