import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { AuditLog, verifyChain } from "../../src/audit/log.ts";

const dir = mkdtempSync(join(tmpdir(), "kz-audit-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

test("records chain across instances (runs), the file is 0600, and the chain verifies", () => {
  const path = join(dir, "nested", "audit.jsonl");
  new AuditLog(path).append({ event: "swap", host: "api.example.test", secrets: ["A"] });
  const second = new AuditLog(path);
  second.append({ event: "refusal", host: "evil.test", secrets: ["A"], reason: "not bound" });
  second.append({ event: "swap", host: "api.example.test", secrets: ["A", "B"] });
  const text = readFileSync(path, "utf8");
  expect(text.trim().split("\n")).toHaveLength(3);
  expect(statSync(path).mode & 0o777).toBe(0o600);
  expect(verifyChain(text)).toBeUndefined();
});

test("editing, removing or reordering one record breaks the chain at that line", () => {
  const path = join(dir, "tamper.jsonl");
  const log = new AuditLog(path);
  for (const host of ["a.test", "b.test", "c.test"]) log.append({ event: "swap", host });
  const lines = readFileSync(path, "utf8").trim().split("\n");
  expect(verifyChain([lines[0], lines[1]!.replace("b.test", "x.test"), lines[2]].join("\n"))).toEqual({ line: 3, reason: expect.stringContaining("chain broken") });
  expect(verifyChain([lines[0], lines[2]].join("\n"))?.line).toBe(2);
  expect(verifyChain([lines[1], lines[0], lines[2]].join("\n"))?.line).toBe(1);
  writeFileSync(path, `${lines.join("\n")}\n`);
  expect(verifyChain(readFileSync(path, "utf8"))).toBeUndefined();
});
