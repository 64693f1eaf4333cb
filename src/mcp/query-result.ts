// What `query` hands back: {columns, rows, row_count, truncated?, note?} built from a driver's rows.
// Every cell becomes JSON (dates as ISO text, 64-bit integers and numerics as text, bytes as "\x…" hex,
// JSON values as they are) and every string in it — cells, nested JSON, column names — goes through
// blind mode's echo masker (the same one `fetch` uses on bodies), so a real value comes back as its
// token in any encoding the masker knows. Rows are capped by count and by the size of their JSON.

import type { EchoRewriter } from "../blind/rewrite/echo.ts";

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

export interface QueryResult {
  columns: string[];
  rows: Json[][];
  row_count: number;
  /** Rows an INSERT/UPDATE/DELETE wrote (when it returned none). */
  rows_affected?: number;
  truncated?: boolean;
  note?: string;
  [key: string]: unknown;
}

const MAX_DEPTH = 32;

/** One cell as JSON, every string masked. */
export function cellToJson(value: unknown, mask: (text: string) => string, depth = 0): Json {
  if (value === null || value === undefined) return null;
  if (typeof value === "string") return mask(value);
  if (typeof value === "boolean") return value;
  if (typeof value === "number") return Number.isFinite(value) ? value : String(value);
  if (typeof value === "bigint") return value.toString();
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? null : value.toISOString();
  if (value instanceof Uint8Array) return mask(`\\x${Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString("hex")}`);
  if (depth >= MAX_DEPTH) return mask(String(value));
  if (Array.isArray(value)) return value.map((v) => cellToJson(v, mask, depth + 1));
  if (typeof value === "object") {
    const out: { [key: string]: Json } = {};
    for (const [k, v] of Object.entries(value as Record<string, unknown>)) out[mask(k)] = cellToJson(v, mask, depth + 1);
    return out;
  }
  return mask(String(value));
}

export interface RawRows {
  columns: string[];
  /** Each row as an array, in column order; at most maxRows + 1 (one more says "there were more"). */
  rows: unknown[][];
  /** More rows existed than were read. */
  more: boolean;
  rowsAffected?: number;
}

export interface Caps {
  maxRows: number;
  maxBytes: number;
}

/** Builds the result; the note names the secret when a value was masked. Sizes are UTF-8 bytes of the JSON. */
export function buildQueryResult(raw: RawRows, echo: EchoRewriter, caps: Caps): QueryResult {
  const mask = echo.header;
  const columns = raw.columns.map((c) => mask(c));
  const rows: Json[][] = [];
  let bytes = Buffer.byteLength(JSON.stringify(columns)) + 64;
  const notes: string[] = [];
  let truncated = false;
  for (const row of raw.rows) {
    if (rows.length >= caps.maxRows) {
      truncated = true;
      notes.push(`only the first ${caps.maxRows} rows are returned (max_rows); add LIMIT or narrow the query`);
      break;
    }
    const cells = row.map((v) => cellToJson(v, mask));
    const size = Buffer.byteLength(JSON.stringify(cells)) + 1;
    if (bytes + size > caps.maxBytes) {
      truncated = true;
      notes.push(`rows cut at ${rows.length}: the result would pass ${caps.maxBytes} bytes; select fewer or shorter columns`);
      break;
    }
    bytes += size;
    rows.push(cells);
  }
  if (!truncated && raw.more) {
    truncated = true;
    notes.push(`only the first ${caps.maxRows} rows are returned (max_rows); add LIMIT or narrow the query`);
  }
  const result: QueryResult = { columns, rows, row_count: rows.length };
  if (raw.rowsAffected !== undefined) result.rows_affected = raw.rowsAffected;
  if (truncated) result.truncated = true;
  const masked = echo.masked();
  if (masked.length > 0) notes.push(`the result contained the value of ${masked.join(", ")}; it was replaced by its token`);
  if (notes.length > 0) result.note = notes.join("; ");
  return result;
}
