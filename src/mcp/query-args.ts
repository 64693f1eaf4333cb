// The `query` tool as a client sees it — its name, a description written for a model, the JSON Schemas —
// and the check that turns a call's arguments into QueryArgs. Pure data and validation, loaded with the
// tool list; running a query (query.ts and the drivers) loads on the first call.

export const DEFAULT_QUERY_TIMEOUT_MS = 10_000;
export const DEFAULT_MAX_ROWS = 100;
export const MAX_ROWS_CEILING = 1_000;
const MAX_SQL_CHARS = 64 * 1024;
const MAX_PARAMS = 1_000;

export interface QueryArgs {
  secret: string;
  sql: string;
  params: (string | number | boolean | null)[];
  maxRows?: number;
  write: boolean;
}

export const queryToolDefinition = (maxRows = MAX_ROWS_CEILING) => ({
  name: "query",
  title: "Run one SQL statement on a database",
  description:
    "Run ONE SQL statement on a database whose connection URL is a kz secret (see list_secrets); kz connects with the real " +
    "credentials and returns only rows — you never see the URL, user or password. Read-only by default: the statement runs in a " +
    "read-only transaction and any write fails. Pass write: true to write; that needs its own policy permission. Bind values with " +
    "`params` and placeholders ($1, $2 … for PostgreSQL; ? for MySQL and SQLite) instead of putting them in the text. " +
    `Returns {columns, rows, row_count}; at most max_rows rows (default ${DEFAULT_MAX_ROWS}, up to ${maxRows}) and a size cap, ` +
    "marked truncated with a note. A statement that runs too long is cancelled. Transaction control (BEGIN, COMMIT …), SET and " +
    "several statements in one call are refused. Any credential value in the rows comes back as its token.",
  inputSchema: {
    type: "object",
    properties: {
      secret: { type: "string", description: "Name of a database secret (its value is a postgres://, mysql:// or sqlite: URL)." },
      sql: { type: "string", description: "One SQL statement; no trailing statements." },
      params: {
        type: "array",
        items: { type: ["string", "number", "boolean", "null"] },
        description: "Values for the placeholders, in order ($1 is params[0]).",
      },
      max_rows: { type: "integer", minimum: 1, maximum: maxRows, description: `Most rows to return (default ${DEFAULT_MAX_ROWS}).` },
      write: { type: "boolean", description: "Allow the statement to write (INSERT, UPDATE, DDL …). Default false." },
    },
    required: ["secret", "sql"],
    additionalProperties: false,
  },
  outputSchema: {
    type: "object",
    properties: {
      columns: { type: "array", items: { type: "string" } },
      rows: { type: "array", items: { type: "array" } },
      row_count: { type: "integer" },
      rows_affected: { type: "integer" },
      truncated: { type: "boolean" },
      note: { type: "string" },
    },
    required: ["columns", "rows", "row_count"],
  },
  annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: false, openWorldHint: true },
});

type Parsed<T> = { ok: true; args: T } | { ok: false; message: string };

export function parseQueryArgs(value: unknown, maxRowsCeiling = MAX_ROWS_CEILING): Parsed<QueryArgs> {
  const fail = (message: string): Parsed<QueryArgs> => ({ ok: false, message: `query: ${message}` });
  if (typeof value !== "object" || value === null || Array.isArray(value)) return fail("arguments must be an object");
  const args = value as Record<string, unknown>;
  const allowed = ["secret", "sql", "params", "max_rows", "write"];
  const extra = Object.keys(args).filter((k) => !allowed.includes(k));
  if (extra.length > 0) return fail(`unknown argument ${extra.map((k) => JSON.stringify(k.slice(0, 40))).join(", ")} (it takes ${allowed.join(", ")})`);
  if (typeof args.secret !== "string" || args.secret === "") return fail('"secret" must be a secret name (see list_secrets)');
  if (typeof args.sql !== "string" || args.sql.trim() === "") return fail('"sql" must be one SQL statement');
  if (args.sql.length > MAX_SQL_CHARS) return fail(`"sql" is longer than ${MAX_SQL_CHARS} characters`);
  let params: QueryArgs["params"] = [];
  if (args.params !== undefined) {
    if (!Array.isArray(args.params)) return fail('"params" must be an array of values for the placeholders');
    if (args.params.length > MAX_PARAMS) return fail(`at most ${MAX_PARAMS} params`);
    for (const [i, p] of args.params.entries()) {
      if (p !== null && typeof p !== "string" && typeof p !== "boolean" && !(typeof p === "number" && Number.isFinite(p))) {
        return fail(`params[${i}] must be a string, number, boolean or null`);
      }
    }
    params = args.params as QueryArgs["params"];
  }
  let maxRows: number | undefined;
  if (args.max_rows !== undefined) {
    if (typeof args.max_rows !== "number" || !Number.isInteger(args.max_rows) || args.max_rows < 1 || args.max_rows > maxRowsCeiling) {
      return fail(`"max_rows" must be an integer from 1 to ${maxRowsCeiling}`);
    }
    maxRows = args.max_rows;
  }
  if (args.write !== undefined && typeof args.write !== "boolean") return fail('"write" must be true or false');
  return { ok: true, args: { secret: args.secret, sql: args.sql, params, ...(maxRows !== undefined ? { maxRows } : {}), write: args.write === true } };
}

