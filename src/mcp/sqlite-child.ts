// `kz __sqlite-query`: one SQLite connection for the MCP `query` tool, in a process of its own (started by
// query-sqlite.ts), so the server's event loop never waits on SQLite and a statement past its timeout
// can be stopped for real — the process is killed; bun:sqlite has no interrupt. JSON lines on stdin
// (first `{open: {path, readonly}}`, then one statement each), one JSON line answer each on stdout. The
// file path comes on stdin, never in argv. For a read: `PRAGMA query_only = ON` and bun:sqlite's own
// check that the statement does not write; the first maxRows + 1 rows, read one by one.

import { Database } from "bun:sqlite";

interface Request {
  statement: string;
  params: (string | number | boolean | null)[];
  write: boolean;
  maxRows: number;
}

/** Bytes travel as {"$bytes": base64}; everything else SQLite returns is JSON already. */
function cell(value: unknown): unknown {
  return value instanceof Uint8Array ? { $bytes: Buffer.from(value).toString("base64") } : value;
}

function run(db: Database, m: Request) {
  if (!m.write) db.run("PRAGMA query_only = ON");
  try {
    const stmt = db.prepare(m.statement);
    try {
      if (!m.write && !stmt.readonly) throw Object.assign(new Error("attempt to write a readonly database"), { code: "SQLITE_READONLY" });
      const params = m.params as never[];
      const columns = stmt.columnNames;
      if (columns.length === 0) return { columns: [], rows: [], more: false, rowsAffected: stmt.run(...params).changes };
      if (new Set(columns).size !== columns.length) {
        // Objects would merge same-named columns: read arrays (all at once) instead.
        const all = stmt.values(...params);
        return { columns, rows: all.slice(0, m.maxRows + 1).map((r) => r.map(cell)), more: all.length > m.maxRows + 1 };
      }
      const rows: unknown[][] = [];
      let more = false;
      for (const row of stmt.iterate(...params) as Iterable<Record<string, unknown>>) {
        if (rows.length > m.maxRows) {
          more = true;
          break;
        }
        rows.push(columns.map((c) => cell(row[c])));
      }
      return { columns, rows, more };
    } finally {
      stmt.finalize();
    }
  } finally {
    if (!m.write) db.run("PRAGMA query_only = OFF");
  }
}

function errorFields(error: unknown) {
  const e = error as { code?: unknown; errno?: unknown; byteOffset?: unknown; message?: unknown };
  return { code: String(e?.code ?? ""), errno: Number(e?.errno ?? 0), byteOffset: typeof e?.byteOffset === "number" ? e.byteOffset : undefined, message: String(e?.message ?? "") };
}

export async function serveSqlite(_args: string[]): Promise<number> {
  let db: Database | undefined;
  const write = (answer: unknown) => process.stdout.write(`${JSON.stringify(answer)}\n`);
  const decoder = new TextDecoder();
  let pending = "";
  for await (const chunk of Bun.stdin.stream() as unknown as AsyncIterable<Uint8Array>) {
    pending += decoder.decode(chunk, { stream: true });
    let cut: number;
    while ((cut = pending.indexOf("\n")) >= 0) {
      const line = pending.slice(0, cut);
      pending = pending.slice(cut + 1);
      try {
        const m = JSON.parse(line) as { open?: { path: string; readonly: boolean } } & Partial<Request>;
        if (m.open) {
          db = m.open.readonly ? new Database(m.open.path, { readonly: true }) : new Database(m.open.path, { readwrite: true, create: false });
          write({ ok: true });
        } else if (!db) {
          write({ ok: false, error: { code: "SQLITE_MISUSE", errno: 21, message: "not open" } });
        } else {
          write({ ok: true, result: run(db, m as Request) });
        }
      } catch (error) {
        write({ ok: false, error: errorFields(error) });
      }
    }
  }
  db?.close(false);
  return 0;
}
