// A record's line is built by string assembly (no per-record object copy); it must be exactly the text
// JSON.stringify({ time, ...fields, prev }) gives, including the edge cases (no fields, fields named
// time or prev, values that need escaping), and a log written that way must still verify.

import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { AuditKey } from "../../src/audit/key.ts";
import { AuditLog, GENESIS, lineHash, recordLine, verifyChain, type AuditFields } from "../../src/audit/log.ts";

const dir = mkdtempSync(join(tmpdir(), "kz-audit-line-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const TIME = "2030-03-17T17:46:40.123Z";
const cases: AuditFields[] = [
  {},
  { event: "decision", claims: { service: "data-pipeline-agent", groups: '["a","b"]' }, errors: [], host: null, policy: 0 },
  { event: "odd", reason: 'quotes " and \\ backslash, newline \n, unicode é \u2028', "weird key\"": 1 },
  { time: "a field named time", event: "x" },
  { event: "x", prev: "a field named prev" },
];

test.each(cases.map((fields) => [fields]))("recordLine(%j) is JSON.stringify({time, ...fields, prev})", (fields) => {
  expect(recordLine(TIME, fields, GENESIS)).toBe(JSON.stringify({ time: TIME, ...fields, prev: GENESIS }));
});

test("lineHash is the SHA-256 of the line, in hex", () => {
  expect(lineHash("abc")).toBe("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
});

test("a log of many records, several per millisecond, verifies and keeps times in order", () => {
  const path = join(dir, "burst.jsonl");
  const key = new AuditKey(randomBytes(32));
  const log = new AuditLog(path, key);
  for (let i = 0; i < 500; i++) log.append({ event: "decision", n: i });
  log.close();
  const text = readFileSync(path, "utf8");
  expect(verifyChain(text, { key })).toBeUndefined();
  const records = text.trim().split("\n").map((line) => JSON.parse(line) as { time: string; n: number });
  expect(records.map((r) => r.n)).toEqual([...Array(500).keys()]);
  const times = records.map((r) => Date.parse(r.time));
  expect(times.every((t, i) => Number.isFinite(t) && (i === 0 || t >= times[i - 1]!))).toBe(true);
});
