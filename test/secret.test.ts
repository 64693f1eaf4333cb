import { expect, test } from "bun:test";
import { inspect } from "node:util";
import { REDACTED, SecretValue } from "../src/secret.ts";

const RAW = "sk-fake-secretvalue-0001";

test("every way of printing a SecretValue shows the redaction marker", () => {
  const s = new SecretValue(RAW);
  const printed = [String(s), `${s}`, JSON.stringify({ s }), inspect(s), Bun.inspect(s), Bun.inspect({ nested: [s] }), "" + s];
  for (const p of printed) expect(p).not.toContain(RAW);
  expect(String(s)).toBe(REDACTED);
  expect(JSON.parse(JSON.stringify({ s })).s).toBe(REDACTED);
  expect(s.reveal()).toBe(RAW);
});

test("an error built from a SecretValue carries no value", () => {
  const s = new SecretValue(RAW);
  const e = new Error(`failed with ${s}`);
  expect(e.message).not.toContain(RAW);
  expect(Bun.inspect(e)).not.toContain(RAW);
});
