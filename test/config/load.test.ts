import { afterAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { findConfig, loadConfig } from "../../src/config/load.ts";
import { ConfigError } from "../../src/errors.ts";

const root = mkdtempSync(join(tmpdir(), "kz-config-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

let n = 0;
function project(files: Record<string, string>): string {
  const dir = join(root, `p${n++}`);
  mkdirSync(dir, { recursive: true });
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  return dir;
}

function loadError(dir: string, opts: { envName?: string } = {}): string {
  try {
    loadConfig({ cwd: dir, env: {}, ...opts });
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return (e as Error).message;
  }
  throw new Error("expected a ConfigError");
}

describe("discovery", () => {
  test("finds .keyzero.toml in a parent directory", () => {
    const dir = project({ ".keyzero.toml": "[secrets]\nA = { provider = \"env\" }\n" });
    const nested = join(dir, "a", "b");
    mkdirSync(nested, { recursive: true });
    expect(findConfig({ cwd: nested, env: {} })).toBe(join(dir, ".keyzero.toml"));
  });

  test("KZ_CONFIG and --config override discovery", () => {
    const dir = project({ "other.toml": "[secrets]\nB = { provider = \"env\" }\n" });
    expect(loadConfig({ cwd: dir, env: { KZ_CONFIG: "other.toml" } }).secrets.map((s) => s.name)).toEqual(["B"]);
    expect(loadConfig({ cwd: root, env: {}, configPath: join(dir, "other.toml") }).secrets[0]!.name).toBe("B");
  });

  test("no config says how to create one", () => {
    const dir = project({});
    expect(loadError(dir)).toContain("kz init");
  });
});

describe("merging", () => {
  test(".keyzero.local.toml overrides per secret and per provider key", () => {
    const dir = project({
      ".keyzero.toml": `[providers.vault]\naddress = "https://a.test"\nnamespace = "team"\n[secrets]\nA = { provider = "env", ref = "X" }\nB = { provider = "local" }\n`,
      ".keyzero.local.toml": `[providers.vault]\naddress = "https://b.test"\n[secrets]\nA = { provider = "file", ref = "a.txt" }\n`,
    });
    const config = loadConfig({ cwd: dir, env: {} });
    expect(config.providers.vault).toEqual({ address: "https://b.test", namespace: "team" });
    const a = config.secrets.find((s) => s.name === "A")!;
    expect([a.provider, a.ref]).toEqual(["file", "a.txt"]);
    expect(config.files).toHaveLength(2);
  });

  test("--env applies [env.NAME.secrets] and KZ_ENV selects it too", () => {
    const dir = project({
      ".keyzero.toml": `[secrets]\nA = { provider = "env", ref = "DEV_A" }\n[env.prod.secrets]\nA = { provider = "env", ref = "PROD_A" }\nP = { provider = "local" }\n`,
    });
    expect(loadConfig({ cwd: dir, env: {}, envName: "prod" }).secrets.map((s) => `${s.name}:${s.ref}`)).toEqual(["A:PROD_A", "P:P"]);
    expect(loadConfig({ cwd: dir, env: { KZ_ENV: "prod" } }).env).toBe("prod");
    expect(loadError(dir, { envName: "prdo" })).toContain('did you mean "prod"');
  });

  test("shorthand refs infer the provider from the scheme", () => {
    const dir = project({
      ".keyzero.toml": `[secrets]\nA = "op://Dev/OpenAI/api-key"\nB = "vault://secret/data/prod/github#token"\nC = "arn:aws:secretsmanager:us-east-1:123456789012:secret:x"\nD = "env://HOME"\n`,
    });
    const s = Object.fromEntries(loadConfig({ cwd: dir, env: {} }).secrets.map((x) => [x.name, x]));
    expect([s.A!.provider, s.A!.ref]).toEqual(["1password", "op://Dev/OpenAI/api-key"]);
    expect([s.B!.provider, s.B!.ref, s.B!.field]).toEqual(["vault", "secret/data/prod/github", "token"]);
    expect(s.C!.provider).toBe("aws-sm");
    expect([s.D!.provider, s.D!.ref]).toEqual(["env", "HOME"]);
  });
});

describe("validation errors name the file, line and key", () => {
  test("malformed TOML gives line and column without echoing the source", () => {
    const dir = project({ ".keyzero.toml": `[secrets]\nA = { provider = "env", ref = "sk-live-PASTED-VALUE-1234" \n` });
    const msg = loadError(dir);
    expect(msg).toMatch(/^\.keyzero\.toml:[23]:\d+: invalid TOML/);
    expect(msg).not.toContain("sk-live-PASTED-VALUE-1234");
    expect(msg.split("\n")).toHaveLength(1);
  });

  test("unknown key suggests the nearest one", () => {
    const dir = project({ ".keyzero.toml": `# comment\n[secrets]\nA = { provider = "env", ref = "X" }\nB = { provider = "vault", reff = "secret/x" }\n` });
    expect(loadError(dir)).toBe('.keyzero.toml:4: secrets.B.reff: unknown key "reff" — did you mean "ref"?');
  });

  test("unknown provider suggests a known one", () => {
    const dir = project({ ".keyzero.toml": `[secrets]\nA = { provider = "vualt", ref = "x" }\n` });
    expect(loadError(dir)).toBe('.keyzero.toml:2: secrets.A.provider: invalid value: not a known provider — did you mean "vault"?');
  });

  test("a credential pasted into provider, auth.method, a provider's name or a Vault address is never echoed", () => {
    const pasted = "sk-live-PASTEDCREDENTIAL0123456789";
    const cases: [string, string][] = [
      [`[secrets]\nA = { provider = "${pasted}", ref = "x" }\n`, ".keyzero.toml:2: secrets.A.provider: invalid value: not a known provider — known providers: "],
      [`[providers.vault]\nauth = { method = "${pasted}" }\n`, ".keyzero.toml:2: providers.vault.auth.method: invalid value: not a known auth method — use one of token, approle, jwt, kubernetes"],
      [`[providers."${pasted}"]\ntimeout_ms = 5\n`, ".keyzero.toml:1: providers: invalid value for a provider's name: not a known provider"],
      [`[secrets]\nA = { provider = "env", ref = "X", token_format = "${pasted}" }\n`, 'secrets.A.token_format: must be "opaque" or "preserve"'],
      [`[blind]\ninspect = "${pasted}"\n`, 'blind.inspect: must be "bound" (default) or "all"'],
    ];
    for (const [toml, expected] of cases) {
      const message = loadError(project({ ".keyzero.toml": toml }));
      expect(message).toContain(expected);
      expect(message).not.toContain("PASTEDCREDENTIAL");
    }
  });

  test("a misspelt key beside a missing one is named as the unknown key, on its own line", () => {
    const inline = project({ ".keyzero.toml": `[secrets]\nA = { provder = "env", ref = "X" }\n` });
    expect(loadError(inline)).toBe('.keyzero.toml:2: secrets.A.provder: unknown key "provder" — did you mean "provider"?');
    const table = project({ ".keyzero.toml": `[secrets.A]\nref = "X"\nprovder = "env"\n` });
    expect(loadError(table)).toBe('.keyzero.toml:3: secrets.A.provder: unknown key "provder" — did you mean "provider"?');
    // With no misspelling, a missing provider is still named as such.
    expect(loadError(project({ ".keyzero.toml": `[secrets]\nA = { ref = "X" }\n` }))).toContain('secrets.A: missing "provider"');
  });

  test("unknown provider settings key and wrong type", () => {
    const a = project({ ".keyzero.toml": `[providers.vault]\nadress = "https://v.test"\n` });
    expect(loadError(a)).toBe('.keyzero.toml:2: providers.vault.adress: unknown key "adress" — did you mean "address"?');
    const b = project({ ".keyzero.toml": `[secrets]\nA = { provider = "env", hosts = "api.test" }\n` });
    expect(loadError(b)).toContain(".keyzero.toml:2: secrets.A.hosts: must be a list");
  });

  test("unknown top-level table and bad vault auth method", () => {
    expect(loadError(project({ ".keyzero.toml": `[secret]\nA = "env://X"\n` }))).toBe(
      '.keyzero.toml:1: secret: unknown key "secret" — did you mean "secrets"?',
    );
    expect(loadError(project({ ".keyzero.toml": `[providers.vault]\nauth = { method = "ldap" }\n` }))).toContain(
      "providers.vault.auth.method: invalid value: not a known auth method — use one of",
    );
  });

  test("a pasted value in place of a ref is rejected without being echoed", () => {
    const dir = project({ ".keyzero.toml": `[secrets]\nOPENAI_API_KEY = "sk-proj-REALLOOKINGVALUE0000"\n` });
    const msg = loadError(dir);
    expect(msg).toContain("kz put OPENAI_API_KEY");
    expect(msg).not.toContain("REALLOOKINGVALUE");
  });

  test("duplicate secret names are a TOML error with a line", () => {
    const dir = project({ ".keyzero.toml": `[secrets]\nA = "env://X"\nA = "env://Y"\n` });
    expect(loadError(dir)).toMatch(/^\.keyzero\.toml:3:\d+: invalid TOML/);
  });

  test("secret names must be valid environment variable names", () => {
    const dir = project({ ".keyzero.toml": `[secrets]\n"MY-KEY" = "env://X"\n` });
    expect(loadError(dir)).toContain("letters, digits and _");
  });

  test("errors in the local override name that file", () => {
    const dir = project({ ".keyzero.toml": `[secrets]\nA = "env://X"\n`, ".keyzero.local.toml": `[secrets]\nA = { provider = "env", optonal = true }\n` });
    expect(loadError(dir)).toStartWith(".keyzero.local.toml:2: secrets.A.optonal");
  });
});

describe("inject", () => {
  const load = (inject: string) =>
    loadConfig({ cwd: project({ ".keyzero.toml": `[secrets]\nK = { provider = "env", hosts = ["api.example.test"], inject = ${JSON.stringify(inject)} }\n` }) });
  test("a header template with one {} is kept", () => {
    expect(load("X-API-Key: {}").secrets[0]!.inject).toBe("X-API-Key: {}");
  });
  test("templates without a header name or {} are refused with an example", () => {
    for (const bad of ["X-API-Key", "X-API-Key: static", ": {}", "Bad Header: {}", "A: {} {}"]) {
      expect(() => load(bad)).toThrow(/inject: must be "Header-Name: text with \{\}/);
    }
  });
});

describe("origin", () => {
  test("each secret's origin is its file and line, from the local override too, and survives a copy", () => {
    const dir = project({
      ".keyzero.toml": '# team config\n[secrets]\nA = { provider = "env" }\n\nB = "op://vault/item/field"\n[secrets.C]\nprovider = "local"\n',
      ".keyzero.local.toml": '[secrets]\n\nB = { provider = "env" }\n',
    });
    const secrets = loadConfig({ cwd: dir, env: {} }).secrets;
    expect(secrets.map((s) => `${s.name} ${s.origin}`)).toEqual(["A .keyzero.toml:3", "B .keyzero.local.toml:3", "C .keyzero.toml:6"]);
    expect({ ...secrets[0]! }.origin).toBe(".keyzero.toml:3");
    expect(JSON.parse(JSON.stringify(secrets[2]))).toMatchObject({ name: "C", origin: ".keyzero.toml:6" });
  });
});
