import { afterAll, describe, expect, test } from "bun:test";
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { loadBundle } from "../../src/config/bundle.ts";
import { duplicateYamlKeys, locateYamlKey, scanYamlKeys } from "../../src/config/locate-yaml.ts";
import { ConfigError } from "../../src/errors.ts";
import { applyPreset } from "../../src/identity/presets.ts";
import type { IssuerConfig as IdentityIssuerConfig } from "../../src/identity/verify.ts";
import { FAKE_VALUE, FIXTURE_JWKS, ISSUER_YAML, SEED_BUNDLE, tempBundles } from "../policy/helpers.ts";

const bundles = tempBundles("kz-bundle-");
afterAll(() => bundles.cleanup());

const PASTED_VALUE = "sk-live-fake-pasted-0001";

/** The message of the ConfigError loading `text` throws; it must never contain a fixture credential. */
function loadError(text: string, extra: Record<string, string> = {}): string {
  const path = bundles.write({ "bundle.yaml": text, ...extra });
  try {
    loadBundle(path);
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    const message = (e as Error).message;
    expect(message).not.toContain(FAKE_VALUE);
    expect(message).not.toContain(PASTED_VALUE);
    return message;
  }
  throw new Error("expected a ConfigError");
}

const MINIMAL = `${ISSUER_YAML}policies: []\n`;

describe("loading", () => {
  test("the seed bundle becomes a typed Bundle", () => {
    const bundle = loadBundle(SEED_BUNDLE);
    const dir = dirname(SEED_BUNDLE);
    expect(bundle.path).toBe(SEED_BUNDLE);
    expect(bundle.dir).toBe(dir);
    expect(bundle.issuers).toHaveLength(1);
    expect(bundle.issuers[0]).toMatchObject({
      name: "local",
      issuer: "https://idp.example.test",
      audience: ["keyzero"],
      algorithms: ["ES256"],
      jwksFile: join(dir, "jwks.json"),
    });
    expect(bundle.issuers[0]!.clockToleranceSeconds).toBeUndefined(); // the identity layer's default applies
    expect(bundle.providers.vault).toEqual({ address: "https://vault.example.test:8200", auth: { method: "approle", role_id: FAKE_VALUE } });
    expect(bundle.secrets.map((s) => [s.name, s.provider, s.ref, s.field])).toEqual([
      ["DB_PROD", "vault", "secret/data/prod/db", "password"],
      ["DB_STAGING", "vault", "secret/data/staging/db", "password"],
      ["ZENDESK_KEY", "vault", "secret/data/support/zendesk", "token"],
      ["DEV_KEY", "vault", "secret/data/dev/key", "value"],
    ]);
    expect(bundle.secrets[0]!.hosts).toEqual(["db.internal"]);
    expect(bundle.secrets[0]!.origin).toEndWith("seed/bundle.yaml:13");
    expect(bundle.policies.map((p) => [p.match, p.rules.map((r) => [r.cel, r.effect])])).toEqual([
      ["secret/data/prod/**", [["identity.service == 'data-pipeline-agent'", "allow"], ["identity.service == 'support-agent'", "deny"]]],
      ["secret/data/staging/**", [["identity.env == 'staging'", "allow"]]],
      ["secret/data/support/*", [["identity.service == 'support-agent'", "allow"]]],
    ]);
    expect(bundle.policies[0]!.rules[1]!.origin).toEndWith("seed/bundle.yaml:23");
    expect(bundle.audit).toEqual({ path: join(dir, "audit.jsonl"), keyFile: join(dir, "audit.key") });
    expect(bundle.mcp.allowedOrigins).toEqual([]);
    expect(bundle.fetch).toEqual({ upstreamCa: undefined, resolve: {}, allowPrivate: false });
    expect(bundle.tests.map((t) => [t.name, t.secret, t.action, t.expect])).toEqual([
      ["the pipeline agent reads the production database", "DB_PROD", "resolve", "allow"],
      ["the support agent is kept out of production", "DB_PROD", "resolve", "deny"],
    ]);
    expect(bundle.tests[0]!.identity).toEqual({ sub: "agent-7", service: "data-pipeline-agent" });
  });

  test("relative paths are relative to the bundle, not the working directory", () => {
    const path = bundles.write({
      "bundle.yaml": `issuers:
- name: local
  issuer: https://idp.example.test
  audience: [keyzero, keyzero-ci]
  public_key_file: keys/idp.pem
  algorithms: [ES256, EdDSA]
  clock_tolerance: 30s
fetch:
  upstream_ca: certs/ca.pem
  resolve: { "api.example.test:443": "127.0.0.1:9443" }
  allow_private: true
audit: { path: logs/audit.jsonl }
mcp:
  allowed_origins: [https://app.example.test, "http://localhost:5173"]
policies: []
`,
    });
    const dir = dirname(path);
    for (const f of ["keys/idp.pem", "certs/ca.pem"]) {
      mkdirSync(join(dir, dirname(f)), { recursive: true });
      writeFileSync(join(dir, f), "fixture\n");
    }
    const bundle = loadBundle(path, "/");
    expect(bundle.issuers[0]).toMatchObject({ audience: ["keyzero", "keyzero-ci"], publicKeyFile: join(dir, "keys/idp.pem"), clockToleranceSeconds: 30 });
    expect(bundle.issuers[0]!.jwksFile).toBeUndefined();
    expect(bundle.fetch).toEqual({ upstreamCa: join(dir, "certs/ca.pem"), resolve: { "api.example.test:443": "127.0.0.1:9443" }, allowPrivate: true });
    expect(bundle.audit).toEqual({ path: join(dir, "logs/audit.jsonl"), keyFile: join(dir, "logs/audit.key") });
    expect(bundle.mcp.allowedOrigins).toEqual(["https://app.example.test", "http://localhost:5173"]);
    const named = loadBundle(bundles.write({ "bundle.yaml": `${MINIMAL}audit: { path: "-", key_file: secret/chain.key }\n` }), "/");
    expect(named.audit).toEqual({ path: "-", keyFile: join(dirname(named.path), "secret/chain.key") });
  });

  test("audit path - means stdout", () => {
    const bundle = loadBundle(bundles.write({ "bundle.yaml": `${MINIMAL}audit:\n  path: "-"\n` }));
    expect(bundle.audit.path).toBe("-");
  });

  test("with a preset, issuer, algorithms and key source may be left to the identity layer; the audience may not", () => {
    const bundle = loadBundle(bundles.write({ "bundle.yaml": "issuers:\n- name: gha\n  preset: github-actions\n  audience: https://github.com/example\npolicies: []\n" }));
    const issuer = bundle.issuers[0]!;
    expect(issuer).toMatchObject({ name: "gha", preset: "github-actions", audience: ["https://github.com/example"] });
    expect([issuer.issuer, issuer.algorithms, issuer.jwksUrl]).toEqual([undefined, undefined, undefined]);
    // the shape src/identity takes: its preset table completes the entry
    const completed = applyPreset(issuer satisfies IdentityIssuerConfig);
    expect(completed).toMatchObject({ issuer: "https://token.actions.githubusercontent.com", algorithms: ["RS256"] });
    expect(completed.jwksUrl).toStartWith("https://token.actions.githubusercontent.com/");
    expect(loadError("issuers:\n- name: gha\n  preset: github-actions\npolicies: []\n")).toContain(`bundle.yaml:2: issuers.0: missing "audience"`);
    expect(loadError(`issuers:\n- name: k\n  preset: kubernetes\n  audience: a\n  algorithms: [HS256]\n`)).toContain("HS256 is not accepted");
  });
});

describe("errors name file:line and the key", () => {
  test("an unknown top-level key, with a suggestion", () => {
    expect(loadError(`${ISSUER_YAML}polices: []\n`)).toMatch(/bundle\.yaml:7: polices: unknown key "polices" — did you mean "policies"\?$/);
    expect(loadError(`${ISSUER_YAML}rules: []\n`)).toMatch(/bundle\.yaml:7: rules: unknown key "rules" — valid keys: issuers, providers, secrets, fetch, (query, )?policies, audit, mcp, tests, state, tokens$/);
  });

  test("unknown keys deep in sequences and flow mappings", () => {
    const issuer = ISSUER_YAML.replace("  audience: keyzero\n", "  audiance: keyzero\n");
    expect(loadError(`${issuer}policies: []\n`)).toMatch(/bundle\.yaml:4: issuers\.0\.audiance: unknown key "audiance" — did you mean "audience"\?/);
    const rule = `${ISSUER_YAML}policies:
- match: "**"
  rules:
  - cel: "true"
    effect: allow
  - cel: "false"
    efect: deny
`;
    expect(loadError(rule)).toMatch(/bundle\.yaml:13: policies\.0\.rules\.1\.efect: unknown key "efect" — did you mean "effect"\?/);
    const provider = `${ISSUER_YAML}providers:\n  vault: { adress: "https://vault.example.test", auth: { role_id: ${FAKE_VALUE} } }\n`;
    expect(loadError(provider)).toMatch(/bundle\.yaml:8: providers\.vault\.adress: unknown key "adress" — did you mean "address"\?/);
    const secret = `${ISSUER_YAML}secrets:\n  A: { provider: env, ref: X }\n  B:\n    provider: vault\n    reff: secret/data/b\n`;
    expect(loadError(secret)).toMatch(/bundle\.yaml:11: secrets\.B\.reff: unknown key "reff" — did you mean "ref"\?/);
  });

  test("a secret pasted where a ref belongs is refused without echoing it", () => {
    const message = loadError(`${ISSUER_YAML}secrets:\n  STRIPE_KEY: "${PASTED_VALUE}"\n`);
    expect(message).toMatch(/bundle\.yaml:8: secrets\.STRIPE_KEY: a string must be a ref with a scheme/);
  });

  test("issuers: asymmetric algorithms only, exactly one key source, pinned audience", () => {
    const issuer = (lines: string) => `issuers:\n- name: local\n  issuer: https://idp.example.test\n${lines}policies: []\n`;
    expect(loadError(issuer(`  audience: keyzero\n  algorithms: [HS256]\n  jwks_file: ${FIXTURE_JWKS}\n`))).toMatch(
      /bundle\.yaml:5: issuers\.0\.algorithms: HS256 is not accepted: use an asymmetric algorithm/,
    );
    expect(loadError(issuer(`  audience: keyzero\n  algorithms: [none]\n  jwks_file: ${FIXTURE_JWKS}\n`))).toContain("none is not accepted");
    expect(loadError(issuer(`  audience: keyzero\n  algorithms: [ES265]\n  jwks_file: ${FIXTURE_JWKS}\n`))).toContain(`unknown algorithm — did you mean "ES256"?`);
    expect(loadError(issuer(`  audience: keyzero\n  algorithms: [ES256]\n`))).toContain("missing a key source");
    expect(loadError(issuer(`  audience: keyzero\n  algorithms: [ES256]\n  jwks_file: ${FIXTURE_JWKS}\n  jwks_url: https://idp.example.test/jwks\n`))).toContain(
      "give exactly one of jwks_file, jwks_url, public_key_file",
    );
    expect(loadError(issuer(`  algorithms: [ES256]\n  jwks_file: ${FIXTURE_JWKS}\n`))).toMatch(/bundle\.yaml:2: issuers\.0: missing "audience"/);
    expect(loadError(issuer(`  audience: keyzero\n  jwks_file: ${FIXTURE_JWKS}\n`))).toContain(`missing "algorithms"`);
    expect(loadError(issuer(`  audience: keyzero\n  algorithms: [ES256]\n  jwks_file: ${FIXTURE_JWKS}\n  clock_tolerance: 1 minute\n`))).toContain("must be whole seconds");
    expect(loadError(issuer(`  audience: keyzero\n  algorithms: [ES256]\n  jwks_url: http://idp.example.test/jwks\n`))).toMatch(
      /bundle\.yaml:6: issuers\.0\.jwks_url: must be an https:\/\/ URL/,
    );
    expect(loadError(issuer(`  audience: keyzero\n  algorithms: [ES256]\n  jwks_file: missing.json\n`))).toMatch(/bundle\.yaml:6: issuers\.0\.jwks_file: no such file/);
    expect(loadError(issuer(`  audience: keyzero\n  algorithms: [ES256]\n  jwks_file: ${FIXTURE_JWKS}\n  clock_tolerance: 600\n`))).toContain("at most 300 seconds");
    expect(loadError("policies: []\n")).toContain("a bundle needs at least one issuer");
    const twice = `${ISSUER_YAML}${ISSUER_YAML.replace("issuers:\n", "").replace("idp.example.test", "idp2.example.test")}policies: []\n`;
    expect(loadError(twice)).toMatch(/bundle\.yaml:7: issuers\.1\.name: issuer name "local" is used twice/);
  });

  test("an http JWKS URL is accepted on loopback", () => {
    const bundle = loadBundle(
      bundles.write({ "bundle.yaml": "issuers:\n- { name: l, issuer: i, audience: a, algorithms: [ES256], jwks_url: http://127.0.0.1:8999/jwks }\npolicies: []\n" }),
    );
    expect(bundle.issuers[0]!.jwksUrl).toBe("http://127.0.0.1:8999/jwks");
  });

  test("policies: a rule needs cel and an effect of allow or deny", () => {
    const policy = (rule: string) => `${ISSUER_YAML}policies:\n- match: "**"\n  rules:\n${rule}`;
    expect(loadError(policy(`  - cel: "true"\n    effect: permit\n`))).toMatch(/bundle\.yaml:11: policies\.0\.rules\.0\.effect: must be allow or deny/);
    expect(loadError(policy(`  - effect: allow\n`))).toMatch(/bundle\.yaml:10: policies\.0\.rules\.0\.cel: missing "cel"/);
    expect(loadError(`${ISSUER_YAML}policies:\n- match: "**"\n  rules: []\n`)).toMatch(/bundle\.yaml:9: policies\.0\.rules: a policy needs at least one rule/);
    expect(loadError(`${ISSUER_YAML}policies:\n- rules: [{ cel: "true", effect: allow }]\n`)).toMatch(/bundle\.yaml:8: policies\.0\.match: missing "match"/);
    expect(loadError(`${ISSUER_YAML}policies:\n  match: "**"\n`)).toMatch(/bundle\.yaml:7: policies: must be a list/);
  });

  test("fetch, mcp and tests are validated", () => {
    expect(loadError(`${MINIMAL}fetch:\n  inspect: all\n`)).toMatch(/bundle\.yaml:9: fetch\.inspect: unknown key "inspect"/);
    expect(loadError(`${MINIMAL}fetch:\n  allow_private: yes\n`)).toContain("fetch.allow_private: must be true or false, not a string");
    expect(loadError(`${MINIMAL}fetch:\n  resolve: { api.example.test: 127.0.0.1 }\n`)).toContain(`pins "host:port" to "address:port"`);
    expect(loadError(`${MINIMAL}mcp:\n  allowed_origins: ["https://app.example.test/"]\n`)).toMatch(/bundle\.yaml:9: mcp\.allowed_origins: each entry is an origin/);
    const tests = `${ISSUER_YAML}secrets:\n  A: { provider: env, ref: FAKE_A }\npolicies: []\ntests:\n- name: t\n  secret: A\n  action: delete\n  expect: deny\n`;
    expect(loadError(tests)).toMatch(/bundle\.yaml:13: tests\.0\.action: must be one of resolve, fetch, decide, mint/);
    expect(loadError(tests.replace("action: delete", "now: yesterday"))).toContain("tests.0.now: must be an RFC 3339 time");
  });

  test("YAML syntax errors name the line Bun.YAML gives none for", () => {
    expect(loadError(`${ISSUER_YAML}policies: [\n  { match: "**" \n`)).toMatch(/bundle\.yaml:\d+: invalid YAML: /);
    expect(loadError(`${ISSUER_YAML}secrets:\n  A: { provider: env, ref: [X }\npolicies: []\n`)).toMatch(/bundle\.yaml:8: invalid YAML: /);
  });

  test("a key written twice is refused instead of silently keeping the last", () => {
    const text = `${ISSUER_YAML}policies: []\nsecrets:\n  A: { provider: env, ref: FAKE_A }\npolicies:\n- match: "**"\n  rules: [{ cel: "true", effect: allow }]\n`;
    expect(loadError(text)).toMatch(/bundle\.yaml:10: policies: duplicate key/);
    expect(loadError(`${ISSUER_YAML}secrets:\n  A: { provider: env, ref: X, ref: Y }\n`)).toMatch(/bundle\.yaml:8: secrets\.A\.ref: duplicate key/);
  });

  test("an empty bundle says what it needs", () => {
    expect(loadError("# nothing yet\n")).toContain("the bundle is empty");
  });
});

describe("state and tokens", () => {
  test("state defaults to state.db and state.key beside the bundle; no minting key file", () => {
    const bundle = loadBundle(bundles.write({ "bundle.yaml": MINIMAL }));
    expect(bundle.state).toEqual({ kind: "sqlite", path: join(bundle.dir, "state.db"), keyFile: join(bundle.dir, "state.key") });
    expect(bundle.tokens).toEqual({});
  });

  test("state.path, state.redis, state.key_file and tokens.signing_key_file resolve against the bundle", () => {
    const sqlite = loadBundle(bundles.write({ "bundle.yaml": `${MINIMAL}state:\n  path: data/kz.db\n  key_file: keys/state.key\n` }));
    expect(sqlite.state).toEqual({ kind: "sqlite", path: join(sqlite.dir, "data/kz.db"), keyFile: join(sqlite.dir, "keys/state.key") });
    const redis = loadBundle(bundles.write({ "bundle.yaml": `${MINIMAL}state: { redis: "redis://:pw@127.0.0.1:6379/2" }\ntokens:\n  signing_key_file: ./mint-key.pem\n`, "mint-key.pem": "x" }));
    expect(redis.state).toEqual({ kind: "redis", url: "redis://:pw@127.0.0.1:6379/2", keyFile: join(redis.dir, "state.key") });
    expect(redis.tokens).toEqual({ signingKeyFile: join(redis.dir, "mint-key.pem") });
  });

  test("errors name file:line and the key, and never echo a Redis URL (it may hold a password)", () => {
    expect(loadError(`${MINIMAL}state:\n  redis: "http://:hunter2-secret@cache:6379"\n`)).toMatch(/bundle\.yaml:9: state\.redis: must be a redis:\/\/ or rediss:\/\/ URL/);
    expect(loadError(`${MINIMAL}state:\n  redis: "http://:hunter2-secret@cache:6379"\n`)).not.toContain("hunter2");
    expect(loadError(`${MINIMAL}state:\n  redis: "not a url hunter2"\n`)).not.toContain("hunter2");
    expect(loadError(`${MINIMAL}state:\n  path: ./a.db\n  redis: redis://127.0.0.1:6379\n`)).toMatch(/bundle\.yaml:8: state: give either path \(SQLite\) or redis, not both/);
    expect(loadError(`${MINIMAL}state:\n  file: ./a.db\n`)).toMatch(/bundle\.yaml:9: state\.file: unknown key "file"/);
    expect(loadError(`${MINIMAL}state: ./a.db\n`)).toMatch(/bundle\.yaml:8: state: must be a table/);
    expect(loadError(`${MINIMAL}tokens:\n  signing_key_file: ./missing.pem\n`)).toMatch(/bundle\.yaml:9: tokens\.signing_key_file: no such file/);
    expect(loadError(`${MINIMAL}tokens:\n  signing_key: x\n`)).toMatch(/tokens\.signing_key: unknown key "signing_key" — valid keys: signing_key_file/);
  });
});

describe("YAML key locator", () => {
  const source = `# comment: not a key
issuers:
- name: a   # trailing comment
  issuer: "https://x"
-   name: b
    notes: |
      name: inside a block scalar
      - not: an item
    audience: [x, y]
"quoted key": 1
'it''s': 2
providers: { vault: { address: "h:1", auth: {
    method: approle } } }
policies:
  - match: "**"
    rules:
      - { cel: "a: b", effect: allow }
      - cel: >-
          folded
        effect: deny
nested:
- - inner: 1
`;
  const lines = Object.fromEntries(scanYamlKeys(source).map((e) => [e.path.join("."), e.line]));

  test("finds keys in block mappings, sequences, flow collections, and skips block scalars", () => {
    expect(lines).toMatchObject({
      issuers: 2,
      "issuers.0": 3,
      "issuers.0.name": 3,
      "issuers.0.issuer": 4,
      "issuers.1": 5,
      "issuers.1.name": 5,
      "issuers.1.notes": 6,
      "issuers.1.audience": 9,
      "quoted key": 10,
      "it's": 11,
      "providers.vault.address": 12,
      "providers.vault.auth.method": 13,
      "policies.0.match": 15,
      "policies.0.rules.0.cel": 17,
      "policies.0.rules.0.effect": 17,
      "policies.0.rules.1.cel": 18,
      "policies.0.rules.1.effect": 20,
      "nested.0.0.inner": 22,
    });
    expect(Object.keys(lines).filter((k) => k.endsWith(".not") || k.startsWith("issuers.1.notes."))).toEqual([]);
    expect(lines["issuers.1.name"]).toBe(5);
  });

  test("falls back to the nearest enclosing key; reports no duplicates in a clean document", () => {
    expect(locateYamlKey(source, ["policies", "0", "rules", "1", "missing"])).toBe(18);
    expect(locateYamlKey(source, ["nothing"])).toBeUndefined();
    expect(duplicateYamlKeys(source)).toEqual([]);
  });
});
