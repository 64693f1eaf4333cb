import { afterAll, describe, expect, test } from "bun:test";
import { ConfigError } from "../../src/errors.ts";
import { decide, loadPolicySet, PreparedIdentity, type PolicySet } from "../../src/policy/engine.ts";
import { FAKE_VALUE, ISSUER_YAML, SEED_BUNDLE, tempBundles } from "./helpers.ts";

const bundles = tempBundles("kz-engine-");
afterAll(() => bundles.cleanup());

const SECRETS_YAML = `providers:
  vault: { address: "https://vault.example.test:8200", auth: { method: approle, role_id: ${FAKE_VALUE} } }
secrets:
  DB_PROD: { provider: vault, ref: secret/data/prod/db, field: password }
  API_KEY: { provider: vault, ref: secret/data/shared/api, field: key, hosts: [api.example.test] }
`;

function policySet(policies: string): PolicySet {
  return loadPolicySet(bundles.write({ "bundle.yaml": `${ISSUER_YAML}${SECRETS_YAML}policies:\n${policies}` }));
}

function compileError(policies: string): string {
  try {
    policySet(policies);
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    const message = (e as Error).message;
    expect(message).not.toContain(FAKE_VALUE);
    return message;
  }
  throw new Error("expected the bundle not to compile");
}

describe("the seed's policies", () => {
  const seed = loadPolicySet(SEED_BUNDLE);

  test("the data-pipeline agent may resolve the production database", () => {
    const d = decide(seed, { sub: "agent-7", service: "data-pipeline-agent" }, "DB_PROD", { action: "resolve" });
    expect(d).toMatchObject({ kind: "decided", allow: true, effect: "allow", policy: 0, rule: 0, errors: [] });
    expect(d.reason).toBe("allowed by policy 0 rule 0");
    expect(d.claimsUsed).toEqual(["service"]);
  });

  test("the support agent is denied by the deny rule", () => {
    const d = decide(seed, { sub: "agent-9", service: "support-agent" }, "DB_PROD", { action: "resolve" });
    expect(d).toMatchObject({ allow: false, effect: "deny", policy: 0, rule: 1, errors: [] });
    expect(d.reason).toBe("denied by policy 0 rule 1");
  });

  test("any other service matches the policy but no rule allows it", () => {
    const d = decide(seed, { service: "billing-agent" }, "DB_PROD", { action: "resolve" });
    expect(d).toMatchObject({ allow: false, effect: "deny", errors: [] });
    expect(d.policy).toBeUndefined();
    expect(d.reason).toBe("no rule allowed it (matching policy 0)");
  });

  test("staging is decided by identity.env", () => {
    expect(decide(seed, { env: "staging" }, "DB_STAGING", { action: "resolve" })).toMatchObject({ allow: true, policy: 1, rule: 0 });
    expect(decide(seed, { env: "production" }, "DB_STAGING", { action: "resolve" })).toMatchObject({ allow: false, errors: [] });
    expect(decide(seed, { env: "staging" }, "DB_STAGING", { action: "resolve" }).claimsUsed).toEqual(["env"]);
  });

  test("an identity without the env claim is denied, and the rule error is reported", () => {
    const d = decide(seed, { service: "data-pipeline-agent" }, "DB_STAGING", { action: "resolve" });
    expect(d).toMatchObject({ allow: false, effect: "deny", policy: 1, rule: 0 });
    expect(d.errors).toHaveLength(1);
    expect(d.errors[0]).toMatchObject({ policy: 1, rule: 0 });
    expect(d.errors[0]!.origin).toMatch(/fixtures\/seed\/bundle\.yaml:27$/);
    expect(d.errors[0]!.error).toContain("env");
    expect(d.reason).toContain("counts as a deny");
  });

  test("a secret no policy covers is denied", () => {
    const d = decide(seed, { service: "data-pipeline-agent" }, "DEV_KEY", { action: "resolve" });
    expect(d).toMatchObject({ kind: "decided", allow: false, effect: "deny", errors: [], claimsUsed: [] });
    expect(d.reason).toBe("no policy matches secret/data/dev/key");
  });

  test("an unknown secret is a distinct result, and a deny", () => {
    const d = decide(seed, { service: "data-pipeline-agent" }, "NOPE", { action: "resolve" });
    expect(d).toMatchObject({ kind: "unknown-secret", allow: false, effect: "deny" });
    expect(d.reason).toBe(`no secret named "NOPE" in the bundle`);
  });

  test("a prepared identity decides like the raw claims, across secrets", () => {
    const claims = { sub: "agent-7", service: "data-pipeline-agent", env: "staging" };
    const prepared = new PreparedIdentity(claims);
    for (const name of ["DB_PROD", "DB_STAGING", "ZENDESK_KEY", "DEV_KEY", "NOPE"]) {
      expect(decide(seed, prepared, name, { action: "resolve" })).toEqual(decide(seed, claims, name, { action: "resolve" }));
    }
  });
});

describe("semantics", () => {
  test("deny overrides allow, across policies and within one, whatever the order", () => {
    const set = policySet(`- match: "**"
  rules:
  - cel: "identity.team == 'data'"
    effect: allow
- match: "secret/data/prod/**"
  rules:
  - cel: "has(identity.contractor) && identity.contractor"
    effect: deny
- match: "secret/data/shared/*"
  rules:
  - cel: "true"
    effect: allow
  - cel: "identity.team == 'data'"
    effect: deny
`);
    expect(decide(set, { team: "data" }, "DB_PROD", { action: "resolve" })).toMatchObject({ allow: true, policy: 0, rule: 0 });
    expect(decide(set, { team: "data", contractor: true }, "DB_PROD", { action: "resolve" })).toMatchObject({ allow: false, policy: 1, rule: 0 });
    expect(decide(set, { team: "data" }, "API_KEY", { action: "resolve" })).toMatchObject({ allow: false, policy: 2, rule: 1 });
    expect(decide(set, { team: "web" }, "API_KEY", { action: "resolve" })).toMatchObject({ allow: true, policy: 2, rule: 0 });
    expect(decide(set, { team: "data" }, "API_KEY", { action: "resolve" }).claimsUsed).toEqual(["team"]);
    expect(decide(set, { team: "data" }, "DB_PROD", { action: "resolve" }).claimsUsed).toEqual(["contractor", "team"]);
  });

  test("a rule erroring at evaluation denies even though its effect is allow, and every error is reported", () => {
    const set = policySet(`- match: "**"
  rules:
  - cel: "identity.level > 2"
    effect: allow
  - cel: "true"
    effect: allow
  - cel: "identity.region == 'eu'"
    effect: allow
`);
    const d = decide(set, { sub: "x" }, "DB_PROD", { action: "resolve" });
    expect(d).toMatchObject({ allow: false, effect: "deny", policy: 0, rule: 0 });
    expect(d.errors.map((e) => [e.rule, e.error.includes("level") || e.error.includes("region")])).toEqual([
      [0, true],
      [2, true],
    ]);
    expect(decide(set, { level: 3, region: "us" }, "DB_PROD", { action: "resolve" })).toMatchObject({ allow: true, errors: [] });
  });

  test("only a literal true satisfies a rule: a string result is an error, hence a deny", () => {
    const set = policySet(`- match: "**"
  rules:
  - cel: "identity.service"
    effect: allow
`);
    const d = decide(set, { service: "data-pipeline-agent" }, "DB_PROD", { action: "resolve" });
    expect(d.allow).toBe(false);
    expect(d.errors[0]!.error).toContain("not true or false");
  });

  test("identity.service == 1 is just false (no type checker), so nothing allows", () => {
    const set = policySet(`- match: "**"
  rules:
  - cel: "identity.service == 1"
    effect: allow
`);
    expect(decide(set, { service: "data-pipeline-agent" }, "DB_PROD", { action: "resolve" })).toMatchObject({ allow: false, errors: [] });
    expect(decide(set, { service: 1 }, "DB_PROD", { action: "resolve" })).toMatchObject({ allow: true });
  });

  test("has(identity.team) && … tests for a claim without erroring", () => {
    const set = policySet(`- match: "**"
  rules:
  - cel: "has(identity.team) && identity.team == 'data'"
    effect: allow
`);
    expect(decide(set, { sub: "x" }, "DB_PROD", { action: "resolve" })).toMatchObject({ allow: false, errors: [] });
    expect(decide(set, { team: "data" }, "DB_PROD", { action: "resolve" })).toMatchObject({ allow: true });
  });

  test("rules see the secret, the request and the time", () => {
    const set = policySet(`- match: "**"
  rules:
  - cel: "secret.name == 'API_KEY' && request.action == 'fetch' && request.host == 'api.example.test' && request.method == 'GET'"
    effect: allow
  - cel: "now >= timestamp('2030-01-01T00:00:00Z')"
    effect: deny
`);
    const fetch = { action: "fetch" as const, host: "api.example.test", method: "GET", path: "/v1/x" };
    const before = new Date("2029-12-31T23:59:59Z");
    expect(decide(set, {}, "API_KEY", fetch, before)).toMatchObject({ allow: true });
    expect(decide(set, {}, "API_KEY", fetch, new Date("2030-01-01T00:00:00Z"))).toMatchObject({ allow: false, policy: 0, rule: 1 });
    expect(decide(set, {}, "API_KEY", { ...fetch, host: "evil.example.test" }, before)).toMatchObject({ allow: false });
    expect(decide(set, {}, "API_KEY", { action: "resolve" }, before)).toMatchObject({ allow: false, errors: [] });
    expect(decide(set, {}, "DB_PROD", fetch, before)).toMatchObject({ allow: false });
  });

  test("match sees the ref alone, not the field", () => {
    const set = policySet(`- match: "secret/data/prod/db"
  rules:
  - cel: "true"
    effect: allow
`);
    expect(decide(set, {}, "DB_PROD", { action: "resolve" }).allow).toBe(true);
  });
});

describe("compile errors stop the bundle from loading", () => {
  test("a CEL syntax error names file:line, the policy, the rule and the column", () => {
    const message = compileError(`- match: "**"
  rules:
  - cel: "true"
    effect: allow
- match: "secret/**"
  rules:
  - cel: "identity.team =="
    effect: allow
`);
    expect(message).toMatch(/bundle\.yaml:19: policy 1, rule 0: column 15: syntax error: /);
  });

  test("a name kz does not provide is rejected at load with a suggestion", () => {
    const message = compileError(`- match: "**"
  rules:
  - cel: "idenity.team == 'data'"
    effect: allow
`);
    expect(message).toMatch(/bundle\.yaml:15: policy 0, rule 0: column 1: unknown name "idenity" — did you mean "identity"\?/);
  });

  test("a bad match glob names the policy", () => {
    const message = compileError(`- match: "secret/data/prod-*"
  rules:
  - cel: "true"
    effect: allow
`);
    expect(message).toMatch(/bundle\.yaml:13: policy 0: match: segment "prod-\*"/);
  });
});
