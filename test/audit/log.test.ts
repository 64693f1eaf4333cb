// The keyed chain: records chain across instances, an edit / removal / reordering breaks it at its line,
// and — what a bare SHA-256 chain could not give — a tamperer who removes records and re-computes the
// chain without the key is caught; a wrong key is named as such; unkeyed (legacy) records are refused
// unless asked for, and never accepted after keyed ones. The key file is created once, 0600.

import { afterAll, expect, test } from "bun:test";
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { AuditKey, loadOrCreateAuditKey, readAuditKey } from "../../src/audit/key.ts";
import { AuditLog, GENESIS, checkChain, keyedLink, lineHash, recordLine, verifyChain } from "../../src/audit/log.ts";

const dir = mkdtempSync(join(tmpdir(), "kz-audit-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const key = new AuditKey(randomBytes(32));

function writeLog(name: string, hosts: string[]): string[] {
  const path = join(dir, name);
  const log = new AuditLog(path, key);
  for (const host of hosts) log.append({ event: hosts.indexOf(host) % 2 ? "blind.refusal" : "blind.swap", host });
  log.close();
  return readFileSync(path, "utf8").trim().split("\n");
}

/** What a tamperer without the key writes: each `prev` re-computed as SHA-256 of the line before. */
function rechainSha256(lines: string[]): string[] {
  const out: string[] = [];
  for (const line of lines) {
    const { prev: _drop, time, ...fields } = JSON.parse(line);
    out.push(recordLine(time, fields, out.length ? lineHash(out.at(-1)!) : GENESIS));
  }
  return out;
}

/** The same tamperer, re-using the keyed format with a key of their own choosing. */
function rechainWith(other: AuditKey, lines: string[]): string[] {
  const out: string[] = [];
  for (const line of lines) {
    const { prev: _drop, time, ...fields } = JSON.parse(line);
    out.push(recordLine(time, fields, keyedLink(other, out.at(-1))));
  }
  return out;
}

test("records chain across instances (runs), the file is 0600, and the chain verifies under its key", () => {
  const path = join(dir, "nested", "audit.jsonl");
  new AuditLog(path, key).append({ event: "swap", host: "api.example.test", secrets: ["A"] });
  const second = new AuditLog(path, () => key);
  second.append({ event: "refusal", host: "evil.test", secrets: ["A"], reason: "not bound" });
  second.append({ event: "swap", host: "api.example.test", secrets: ["A", "B"] });
  const text = readFileSync(path, "utf8");
  expect(text.trim().split("\n")).toHaveLength(3);
  expect(statSync(path).mode & 0o777).toBe(0o600);
  expect(JSON.parse(text.split("\n")[0]!).prev).toMatch(new RegExp(`^hmac:${key.id}:[0-9a-f]{64}$`));
  const report = checkChain(text.trim().split("\n"), { key });
  expect([report.problem, report.keyed, report.legacy]).toEqual([undefined, 3, 0]);
});

test("editing, removing or reordering one record breaks the chain at that line", () => {
  const lines = writeLog("tamper.jsonl", ["a.test", "b.test", "c.test"]);
  const opts = { key };
  expect(verifyChain([lines[0], lines[1]!.replace("b.test", "x.test"), lines[2]].join("\n"), opts)).toEqual({ line: 3, reason: expect.stringContaining("chain broken") });
  expect(verifyChain([lines[0], lines[2]].join("\n"), opts)?.line).toBe(2);
  expect(verifyChain([lines[1], lines[0], lines[2]].join("\n"), opts)?.line).toBe(1);
  expect(verifyChain([lines[1], lines[2]].join("\n"), opts)).toEqual({ line: 1, reason: expect.stringContaining("records before it were removed") });
  expect(verifyChain(lines.join("\n"), opts)).toBeUndefined();
});

test("removing the refusals and re-chaining the rest without the key is detected", () => {
  const lines = writeLog("rechain.jsonl", ["a.test", "evil.test", "b.test", "evil2.test", "c.test"]);
  const kept = lines.filter((l) => !l.includes("blind.refusal"));
  expect(kept).toHaveLength(3);
  // As SHA-256 (the old chain): every record is unkeyed, refused by default…
  const sha = rechainSha256(kept);
  expect(verifyChain(sha.join("\n"), { key })).toEqual({ line: 1, reason: expect.stringContaining("unkeyed (legacy SHA-256) record") });
  // …and with the keyed format but the tamperer's own key: named as a different key.
  const forged = rechainWith(new AuditKey(randomBytes(32)), kept);
  expect(verifyChain(forged.join("\n"), { key })).toEqual({ line: 1, reason: expect.stringContaining(`not the key given (${key.id})`) });
  // …even when the forger copies the real key id into the prefix.
  const mimic = forged.map((l) => l.replace(/"prev":"hmac:[0-9a-f]{8}:/, `"prev":"hmac:${key.id}:`));
  expect(verifyChain(mimic.join("\n"), { key })).toEqual({ line: 1, reason: expect.stringContaining("chain broken") });
});

test("a wrong key fails with a line naming both keys; no key at all is named too", () => {
  const lines = writeLog("wrong-key.jsonl", ["a.test", "b.test"]);
  const wrong = new AuditKey(randomBytes(32));
  expect(verifyChain(lines.join("\n"), { key: wrong })?.reason).toBe(`written under audit key ${key.id}, not the key given (${wrong.id}): pass the log's own --key FILE`);
  expect(verifyChain(lines.join("\n"))?.reason).toContain("no audit key was given");
});

test("legacy (unkeyed) logs verify only with legacy: true, and never after keyed records", () => {
  const legacy = rechainSha256(writeLog("legacy.jsonl", ["a.test", "b.test"]));
  const old = checkChain(legacy, { legacy: true });
  expect([old.problem, old.keyed, old.legacy]).toEqual([undefined, 0, 2]);
  expect(checkChain([legacy[1]!, legacy[0]!], { legacy: true }).problem?.line).toBe(1);
  // A keyed writer continuing a legacy log links to its last line: the whole file verifies (with legacy: true).
  const path = join(dir, "continued.jsonl");
  writeFileSync(path, `${legacy.join("\n")}\n`);
  new AuditLog(path, key).append({ event: "swap", host: "c.test" });
  const mixed = readFileSync(path, "utf8").trim().split("\n");
  const both = checkChain(mixed, { key, legacy: true });
  expect([both.problem, both.keyed, both.legacy]).toEqual([undefined, 1, 2]);
  expect(checkChain(mixed, { key }).problem?.line).toBe(1);
  // An unkeyed record after keyed ones is refused even with legacy: true.
  const keyed = writeLog("then-legacy.jsonl", ["a.test"]);
  const appended = [...keyed, recordLine("2030-01-01T00:00:00.000Z", { event: "x" }, lineHash(keyed[0]!))];
  expect(checkChain(appended, { key, legacy: true }).problem).toEqual({ line: 2, reason: "unkeyed record after keyed ones (the log was altered)" });
});

test("the key file is created once (0600, 64 hex), re-read after, and refused when unsafe", () => {
  const path = join(dir, "config", "keyzero", "audit.key");
  const first = loadOrCreateAuditKey(path);
  expect(statSync(path).mode & 0o777).toBe(0o600);
  expect(readFileSync(path, "utf8")).toMatch(/^[0-9a-f]{64}\n$/);
  expect(loadOrCreateAuditKey(path).id).toBe(first.id);
  expect(readAuditKey(path).id).toBe(first.id);
  writeFileSync(join(dir, "short.key"), "abcd\n", { mode: 0o600 });
  expect(() => readAuditKey(join(dir, "short.key"))).toThrow(/must be 32 bytes written as 64 hex characters/);
  writeFileSync(join(dir, "open.key"), `${"ab".repeat(32)}\n`, { mode: 0o644 });
  expect(() => readAuditKey(join(dir, "open.key"))).toThrow(/readable by other users/);
  expect(() => readAuditKey(join(dir, "none.key"))).toThrow(`cannot read audit key ${join(dir, "none.key")} (it does not exist)`);
});

test("a head taken earlier detects records removed from the end; it cannot be forged without the key", () => {
  const lines = writeLog("head.jsonl", ["a.test", "b.test", "c.test", "d.test"]);
  const taken = checkChain(lines.slice(0, 2), { key }).head!; // the head when the log had two records
  expect(checkChain(lines, { key, expectHead: taken })).toMatchObject({ headAt: 2, keyed: 4 });
  expect(checkChain(lines.slice(0, 2), { key, expectHead: taken }).headAt).toBe(2);
  // Truncated to one record: the head is gone.
  expect(checkChain(lines.slice(0, 1), { key, expectHead: taken }).problem).toEqual({ line: 1, reason: expect.stringContaining("the expected head is not in this log") });
  // A head made under another key, or an unkeyed one, is never found.
  const other = new AuditKey(randomBytes(32));
  expect(checkChain(lines, { key, expectHead: keyedLink(other, lines[1]) }).problem?.reason).toContain("not in this log");
  expect(checkChain(lines, { key, expectHead: lineHash(lines[1]!) }).problem?.reason).toContain("not in this log");
});
