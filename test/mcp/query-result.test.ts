// The query tool's result: cells as JSON, every string masked (nested JSON and hex of bytes too), and the
// row and byte caps with their notes.

import { expect, test } from "bun:test";
import { echoRewriter } from "../../src/blind/rewrite/echo.ts";
import { buildQueryResult, cellToJson } from "../../src/mcp/query-result.ts";
import { SecretValue } from "../../src/secret.ts";

const TOKEN = "KZ_TOK_aaaaaaaaaaaaaaaaaaaaaaaa";
const VALUE = "fake-db-password-31f9c2";
const echo = () => echoRewriter([{ name: "DB", token: TOKEN, value: new SecretValue(VALUE), hosts: [] }]);

test("cells become JSON; strings anywhere in them are masked", () => {
  const mask = echo().header;
  expect(cellToJson(new Date("2026-01-02T03:04:05Z"), mask)).toBe("2026-01-02T03:04:05.000Z");
  expect(cellToJson(12n, mask)).toBe("12");
  expect(cellToJson(Number.NaN, mask)).toBe("NaN");
  expect(cellToJson({ nested: [VALUE, { [VALUE]: 1 }] }, mask)).toEqual({ nested: [expect.stringMatching(/^KZ_TOK_/), { [TOKEN.slice(0, VALUE.length)]: 1 }] });
  const hex = cellToJson(Buffer.from(VALUE), mask) as string;
  expect(hex.startsWith("\\x")).toBe(true);
  expect(hex).not.toContain(Buffer.from(VALUE).toString("hex"));
});

test("row cap and byte cap (counted in UTF-8 bytes) each cut with a note; a masked value is noted", () => {
  const rows = Array.from({ length: 20 }, (_, i) => [i, "é".repeat(100)]);
  const byRows = buildQueryResult({ columns: ["id", "t"], rows: rows.slice(0, 6), more: true }, echo(), { maxRows: 5, maxBytes: 1 << 20 });
  expect(byRows).toMatchObject({ row_count: 5, truncated: true });
  expect(byRows.note).toContain("first 5 rows");
  const byBytes = buildQueryResult({ columns: ["id", "t"], rows, more: false }, echo(), { maxRows: 100, maxBytes: 1024 });
  expect(byBytes.truncated).toBe(true);
  expect(Buffer.byteLength(JSON.stringify(byBytes.rows))).toBeLessThanOrEqual(1024);
  expect(byBytes.note).toContain("1024 bytes");
  const masked = buildQueryResult({ columns: ["v"], rows: [[VALUE]], more: false }, echo(), { maxRows: 5, maxBytes: 4096 });
  expect(JSON.stringify(masked)).not.toContain(VALUE);
  expect(masked.note).toContain("contained the value of DB");
});
