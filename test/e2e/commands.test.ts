// The everyday commands end to end through dist/kz: init, add, put, validate, status, export,
// completion, help — and that no value ever shows up where it should not.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { Sandbox } from "../helpers/kz.ts";
import { PtySession } from "../helpers/pty.ts";

const VALUE = "sk-fake-commands-0123456789";
let box: Sandbox;

beforeAll(() => {
  box = new Sandbox();
});
afterAll(() => box.cleanup());

describe("init and add", () => {
  test("init writes a starter config that validates offline, and never overwrites", async () => {
    const r = await box.kz(["init"]);
    expect(r.code).toBe(0);
    const text = readFileSync(join(box.dir, ".keyzero.toml"), "utf8");
    expect(text).toContain('DEMO_API_KEY = { provider = "local"');
    expect((await box.kz(["validate", "--offline"])).code).toBe(0);
    const again = await box.kz(["init"]);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain("never overwrites");
    expect(readFileSync(join(box.dir, ".keyzero.toml"), "utf8")).toBe(text);
  });

  test("add appends to [secrets], keeps comments, and refuses duplicates and bad input", async () => {
    const r = await box.kz(["add", "API_KEY", "--hosts", "api.example.test,*.example.test"]);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain("next: kz put API_KEY");
    const text = readFileSync(join(box.dir, ".keyzero.toml"), "utf8");
    expect(text).toContain('API_KEY = { provider = "local", hosts = ["api.example.test", "*.example.test"] }');
    expect(text).toContain("# Other backends");
    expect(text.indexOf("API_KEY =")).toBeLessThan(text.indexOf("[providers.vault]"));
    expect((await box.kz(["add", "API_KEY"])).stderr).toContain("already exists");
    const bad = await box.kz(["add", "X", "--provider", "valt", "--ref", "a"]);
    expect(bad.code).toBe(3);
    expect(bad.stderr).toContain('did you mean "vault"');
    expect(readFileSync(join(box.dir, ".keyzero.toml"), "utf8")).toBe(text);
  });
});

describe("put", () => {
  test("reads stdin, strips one trailing newline, stores encrypted with 0600 files", async () => {
    const r = await box.kz(["put", "API_KEY"], { stdin: `${VALUE}\n` });
    expect(r.code).toBe(0);
    const run = await box.kz(["run", "--only", "API_KEY", "--no-masking", "--", "sh", "-c", 'printf "[%s]" "$API_KEY"']);
    expect(run.stdout).toBe(`[${VALUE}]`);
    const store = join(box.dir, "data/keyzero/store.json");
    expect(readFileSync(store, "utf8")).not.toContain(VALUE);
    expect(statSync(store).mode & 0o777).toBe(0o600);
    expect(statSync(join(box.dir, "config/keyzero/local.key")).mode & 0o777).toBe(0o600);
  });

  test("refuses a value on the command line", async () => {
    const r = await box.kz(["put", "API_KEY", "some-value-on-argv"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("never taken from the command line");
    expect(r.stderr).not.toContain("some-value-on-argv");
  });

  test("a wrong KZ_LOCAL_KEY cannot decrypt, and says so without the value", async () => {
    const r = await box.kz(["run", "--only", "API_KEY", "--", "true"], { env: { KZ_LOCAL_KEY: "ab".repeat(32) } });
    expect(r.code).toBe(4);
    expect(r.stderr).toContain("cannot be decrypted");
    expect(r.stderr).not.toContain(VALUE);
  });

  test("prompts without echo on a terminal", async () => {
    const session = new PtySession(["put", "PROMPTED"], { cwd: box.dir, env: box.env });
    await session.waitFor("Value for PROMPTED: ");
    session.type("typed-secret-value-42\r");
    expect(await session.exit()).toBe(0);
    expect(session.screen).not.toContain("typed-secret-value-42");
    box.write(".prompted.toml", `[secrets]\nPROMPTED = { provider = "local" }\n`);
    const r = await box.kz(["export", "--config", ".prompted.toml"]);
    expect(r.stdout).toBe("PROMPTED='typed-secret-value-42'\n");
  });

  test("--missing prompts only for local secrets not yet stored", async () => {
    box.write(".missing.toml", `[secrets]\nAPI_KEY = { provider = "local" }\nNEW_ONE = { provider = "local" }\n`);
    const session = new PtySession(["put", "--missing", "--config", ".missing.toml"], { cwd: box.dir, env: box.env });
    await session.waitFor("Value for NEW_ONE: ");
    session.type("new-one-value-0001\r");
    expect(await session.exit()).toBe(0);
    expect(session.screen).not.toContain("Value for API_KEY");
  });
});

describe("validate, status, export", () => {
  test("validate: warns about short values and secrets without hosts; exit 0", async () => {
    await box.put("SHORT", "abc");
    box.write(".v.toml", `[secrets]\nSHORT = { provider = "local", hosts = ["a.test"] }\nAPI_KEY = { provider = "local" }\n`);
    const r = await box.kz(["validate", "--config", ".v.toml"]);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain("SHORT: value is shorter than 6 characters, so it is not masked");
    expect(r.stderr).toContain('API_KEY: no "hosts"');
    const json = JSON.parse((await box.kz(["validate", "--config", ".v.toml", "--json"])).stdout);
    expect(json.valid).toBe(true);
    expect(json.warnings).toHaveLength(2);
  });

  test("validate: config errors exit 3, unresolvable secrets exit 4", async () => {
    box.write(".e.toml", `[secrets]\nA = { provider = "local", hots = [] }\n`);
    const bad = await box.kz(["validate", "--config", ".e.toml", "--json"]);
    expect(bad.code).toBe(3);
    expect(JSON.parse(bad.stdout).errors[0]).toContain('unknown key "hots"');
    box.write(".f.toml", `[secrets]\nNOPE = { provider = "local" }\n`);
    expect((await box.kz(["validate", "--config", ".f.toml"])).code).toBe(4);
  });

  test("status --json: one document with every secret, never a value", async () => {
    box.write(".s.toml", `[secrets]\nAPI_KEY = { provider = "local" }\nNOPE = { provider = "env", ref = "NOT_SET_X" }\n`);
    const r = await box.kz(["status", "--config", ".s.toml", "--json"]);
    expect(r.code).toBe(4);
    expect(r.stdout).not.toContain(VALUE);
    const doc = JSON.parse(r.stdout);
    expect(doc.ok).toBe(false);
    expect(doc.secrets.map((s: { name: string; ok: boolean }) => [s.name, s.ok])).toEqual([
      ["API_KEY", true],
      ["NOPE", false],
    ]);
    expect(typeof doc.secrets[0].ms).toBe("number");
    const table = await box.kz(["status", "--config", ".s.toml"]);
    expect(table.stdout).toMatch(/API_KEY\s+local\s+API_KEY\s+ok/);
    expect(table.stdout).not.toContain("\x1b["); // NO_COLOR
    expect(table.stdout).not.toContain(VALUE);
  });

  test("export: dotenv and json, with a plaintext warning", async () => {
    box.write(".x.toml", `[secrets]\nAPI_KEY = { provider = "local" }\n`);
    const dotenv = await box.kz(["export", "--config", ".x.toml"]);
    expect(dotenv.stdout).toBe(`API_KEY='${VALUE}'\n`);
    expect(dotenv.stderr).toContain("plaintext");
    const json = await box.kz(["export", "--config", ".x.toml", "--format", "json"]);
    expect(JSON.parse(json.stdout)).toEqual({ API_KEY: VALUE });
    expect((await box.kz(["export", "--config", ".x.toml", "--format", "yaml"])).code).toBe(2);
  });
});

describe("help, version, completion", () => {
  test("--help on every command, and kz help CMD", async () => {
    for (const cmd of ["run", "init", "add", "put", "validate", "status", "export", "completion"]) {
      const r = await box.kz([cmd, "--help"]);
      expect(r.code).toBe(0);
      expect(r.stdout).toStartWith(`kz ${cmd} — `);
      expect(r.stdout).toContain("Usage: kz");
    }
    expect((await box.kz(["help", "run"])).stdout).toContain("--clean-env");
    expect((await box.kz(["--help"])).stdout).toContain("Commands:");
  });

  test("--version prints the package version and the build commit; kz version --json the same and the runtime", async () => {
    const pkg = JSON.parse(readFileSync(join(import.meta.dir, "../../package.json"), "utf8"));
    const line = (await box.kz(["--version"])).stdout;
    expect(line).toMatch(new RegExp(`^kz ${pkg.version.replaceAll(".", "\\.")} \\(([0-9a-f]{7,}(-dirty)?|unknown)\\)\n$`));
    expect((await box.kz(["-V", "--json"])).stdout).toBe(line); // the slow path (cli.ts) prints the same line
    const json = JSON.parse((await box.kz(["version", "--json"])).stdout);
    expect(Object.keys(json)).toEqual(["version", "commit", "bun", "platform"]);
    expect(`kz ${json.version} (${json.commit})\n`).toBe(line);
    expect(json.platform).toBe(`${process.platform}-${process.arch}`);
    const bad = await box.kz(["version", "extra"]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("takes no arguments");
  });

  test("completion scripts are valid for bash and list commands and flags", async () => {
    const bash = await box.kz(["completion", "bash"]);
    const check = Bun.spawnSync(["bash", "-n"], { stdin: new Blob([bash.stdout]) });
    expect(check.exitCode).toBe(0);
    expect(bash.stdout).toContain("--clean-env");
    expect((await box.kz(["completion", "zsh"])).stdout).toContain("#compdef kz");
    expect((await box.kz(["completion", "fish"])).stdout).toContain("complete -c kz");
    expect((await box.kz(["completion", "tcsh"])).code).toBe(2);
  });
});

test("validate rejects a malformed host pattern (exit 3)", async () => {
  box.write(".h.toml", `[secrets]\nA = { provider = "env", ref = "HOME", hosts = ["api.*.example.com"] }\n`);
  const r = await box.kz(["validate", "--config", ".h.toml", "--offline"]);
  expect(r.code).toBe(3);
  expect(r.stderr).toContain("A: ");
});
