// `swap` in .keyzero.toml and in a bundle: parsed into SecretSpec.swap, unknown places are one-line errors
// naming the key (with a did-you-mean), never echoing what was written.
import { afterAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadBundle } from "../../src/config/bundle.ts";
import { loadConfig } from "../../src/config/load.ts";
import { swapOf } from "../../src/config/placement.ts";
import { ConfigError } from "../../src/errors.ts";
import { ISSUER_YAML } from "../policy/helpers.ts";

const root = mkdtempSync(join(tmpdir(), "kz-placement-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
function write(name: string, text: string): string {
  const dir = join(root, `p${n++}`);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, name), text);
  return dir;
}
function errorOf(load: () => unknown): string {
  try {
    load();
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return (e as Error).message;
  }
  throw new Error("expected a ConfigError");
}

describe(".keyzero.toml", () => {
  test("swap is read; absent means the default", () => {
    const dir = write(
      ".keyzero.toml",
      `[secrets]\nA = { provider = "env", hosts = ["a.test"] }\nTG = { provider = "env", hosts = ["api.telegram.org"], swap = ["path", "path", "query"] }\nNONE = { provider = "env", hosts = ["a.test"], swap = [] }\n`,
    );
    const specs = Object.fromEntries(loadConfig({ cwd: dir, env: {} }).secrets.map((s) => [s.name, s]));
    expect(specs.A!.swap).toBeUndefined();
    expect(swapOf(specs.A!)).toEqual(["header"]);
    expect(specs.TG!.swap).toEqual(["path", "query"]);
    expect(specs.NONE!.swap).toEqual([]);
  });

  test("an unknown place is one line naming file, line and key, with a did-you-mean and without the entry", () => {
    const dir = write(".keyzero.toml", `[secrets]\nA = { provider = "env", hosts = ["a.test"], swap = ["header", "sk-bodyy"] }\n`);
    const message = errorOf(() => loadConfig({ cwd: dir, env: {} }));
    expect(message).toBe(".keyzero.toml:2: secrets.A.swap: entry 2 is not a place a token can go — places: header, query, path, body");
    expect(message).not.toContain("sk-bodyy");
    const near = write(".keyzero.toml", `[secrets]\nA = { provider = "env", hosts = ["a.test"], swap = ["bodyy"] }\n`);
    expect(errorOf(() => loadConfig({ cwd: near, env: {} }))).toBe('.keyzero.toml:2: secrets.A.swap: entry 1 is not a place a token can go — did you mean "body"?');
  });

  test("a string instead of a list, and a misspelt key, are errors", () => {
    expect(errorOf(() => loadConfig({ cwd: write(".keyzero.toml", `[secrets]\nA = { provider = "env", swap = "body" }\n`), env: {} }))).toContain(
      'secrets.A.swap: must be a list drawn from "header", "query", "path", "body"',
    );
    expect(errorOf(() => loadConfig({ cwd: write(".keyzero.toml", `[secrets]\nA = { provider = "env", swapp = ["body"] }\n`), env: {} }))).toContain(
      'unknown key "swapp" — did you mean "swap"?',
    );
  });
});

describe("bundle.yaml", () => {
  test("a bundle secret takes swap, and rejects an unknown place", () => {
    const ok = write("bundle.yaml", `${ISSUER_YAML}policies: []\nsecrets:\n  S: { provider: env, ref: X, hosts: [a.test], swap: [header, body] }\n`);
    expect(loadBundle(join(ok, "bundle.yaml")).secrets[0]!.swap).toEqual(["header", "body"]);
    const bad = write("bundle.yaml", `${ISSUER_YAML}policies: []\nsecrets:\n  S: { provider: env, ref: X, hosts: [a.test], swap: [quary] }\n`);
    expect(errorOf(() => loadBundle(join(bad, "bundle.yaml")))).toMatch(/bundle\.yaml:\d+: secrets\.S\.swap: entry 1 is not a place a token can go — did you mean "query"\?$/);
  });
});
