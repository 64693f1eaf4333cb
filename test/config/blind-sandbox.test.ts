// [blind] sandbox, network and allow_tcp: defaults, values, and one-line errors naming the key.

import { afterAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadConfig } from "../../src/config/load.ts";
import { ConfigError } from "../../src/errors.ts";

const root = mkdtempSync(join(tmpdir(), "kz-config-sandbox-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let n = 0;

function load(blind: string) {
  const dir = join(root, `p${n++}`);
  mkdirSync(dir);
  writeFileSync(join(dir, ".keyzero.toml"), `[blind]\n${blind}\n\n[secrets]\nA = { provider = "env", hosts = ["a.test"] }\n`);
  return loadConfig({ cwd: dir, env: {} });
}

function error(blind: string): string {
  try {
    load(blind);
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return (e as Error).message;
  }
  throw new Error("expected a ConfigError");
}

describe("[blind] sandbox settings", () => {
  test("defaults: sandbox on, network open, nothing relayed", () => {
    expect(load("").blind).toMatchObject({ sandbox: true, network: "open", allowTcp: [] });
  });

  test("values", () => {
    expect(load('sandbox = false\nnetwork = "proxy"\nallow_tcp = ["127.0.0.1:5432", "[::1]:6379", "localhost:3306"]').blind).toMatchObject({
      sandbox: false,
      network: "proxy",
      allowTcp: ["127.0.0.1:5432", "[::1]:6379", "localhost:3306"],
    });
  });

  test("errors name the key and the fix", () => {
    expect(error('sandbox = "no"')).toMatch(/:2: blind\.sandbox: must be true or false/);
    expect(error('network = "closed"')).toMatch(/blind\.network: must be "open" \(default\) or "proxy"/);
    expect(error('allow_tcp = ["db.internal:5432"]')).toMatch(/blind\.allow_tcp: entries must be a loopback address and port/);
    expect(error('allow_tcp = ["127.0.0.1:70000"]')).toContain("blind.allow_tcp");
    expect(error('allow_tcp = ["127.0.0.1"]')).toContain("blind.allow_tcp");
    expect(error("sandbx = true")).toContain('did you mean "sandbox"');
  });
});
