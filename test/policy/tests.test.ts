import { afterAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { ConfigError } from "../../src/errors.ts";
import { loadPolicySet } from "../../src/policy/engine.ts";
import { findPolicyTestFiles, formatPolicyTestReport, runPolicyTests } from "../../src/policy/tests.ts";
import { FIXTURES, ISSUER_YAML, SEED_BUNDLE, tempBundles } from "./helpers.ts";

const bundles = tempBundles("kz-policy-tests-");
afterAll(() => bundles.cleanup());

describe("policy test runner", () => {
  test("runs the bundle's cases and the *_test.yaml files beside it; the seed's all pass", () => {
    const set = loadPolicySet(SEED_BUNDLE);
    expect(findPolicyTestFiles(set)).toEqual([join(FIXTURES, "seed", "staging_test.yaml")]);
    const report = runPolicyTests(set);
    expect(report.results.map((r) => [r.case.name, r.passed])).toEqual([
      ["the pipeline agent reads the production database", true],
      ["the support agent is kept out of production", true],
      ["a staging identity reads the staging database", true],
      ["an identity without an env claim is refused", true],
      ["the support agent reaches Zendesk", true],
      ["nothing covers the dev key", true],
    ]);
    expect([report.passed, report.failed]).toEqual([6, 0]);
    expect(formatPolicyTestReport(set, report)).toBe("PASS: 6/6");
  });

  test("reports each failure with its inputs and why the decision came out as it did", () => {
    const set = loadPolicySet(join(FIXTURES, "failing", "bundle.yaml"));
    const report = runPolicyTests(set);
    expect([report.passed, report.failed]).toEqual([2, 2]);
    const failed = report.results.filter((r) => !r.passed);
    expect(failed.map((r) => [r.case.name, r.case.expect, r.actual])).toEqual([
      ["interns are kept out", "deny", "allow"],
      ["a team claim of another type still must be allowed", "allow", "deny"],
    ]);
    const text = formatPolicyTestReport(set, report);
    expect(text).toContain(
      [
        "more_test.yaml:2: FAIL interns are kept out",
        "    secret:   DB_PROD (env FAKE_DB_PROD)",
        "    action:   resolve",
        `    identity: {"team":"data","intern":true}`,
        "    expected deny, got allow: allowed by policy 0 rule 0",
      ].join("\n"),
    );
    expect(text).toContain("more_test.yaml:10: FAIL a team claim of another type still must be allowed");
    expect(text).toContain("expected allow, got deny: no rule allowed it (matching policy 0)");
    expect(text).not.toContain("no team claim is a deny");
    expect(text).toEndWith("PASS: 2/4\nFAIL: 2/4");
    expect(formatPolicyTestReport(set, report, { verbose: true })).toContain("more_test.yaml:6: PASS no team claim is a deny");
  });

  test("a failing case shows rule errors, request fields and a fixed time", () => {
    const path = bundles.write({
      "bundle.yaml": `${ISSUER_YAML}secrets:
  API_KEY: { provider: env, ref: FAKE_API_KEY, hosts: [api.example.test] }
policies:
- match: "**"
  rules:
  - cel: "request.host == 'api.example.test' && identity.team == 'web'"
    effect: allow
tests:
- name: web team fetches before the cut-off
  identity: { sub: ci }
  secret: API_KEY
  action: fetch
  request: { host: api.example.test, method: POST, path: /v1/charges }
  now: "2025-01-31T12:00:00Z"
  expect: allow
`,
    });
    const set = loadPolicySet(path);
    const report = runPolicyTests(set, []);
    expect(report.failed).toBe(1);
    const text = formatPolicyTestReport(set, report);
    expect(text).toContain("    action:   fetch host=api.example.test method=POST path=/v1/charges");
    expect(text).toContain("    now:      2025-01-31T12:00:00Z");
    expect(text).toMatch(/error in policy 0 rule 0 \(.*bundle\.yaml:12\): .*team/);
  });

  test("explicit files replace discovery; an empty run says so", () => {
    const path = bundles.write({
      "bundle.yaml": `${ISSUER_YAML}secrets:\n  A: { provider: env, ref: FAKE_A }\npolicies: []\n`,
      "a_test.yaml": "- { name: nothing allows A, identity: {}, secret: A, expect: deny }\n",
    });
    const set = loadPolicySet(path);
    expect(runPolicyTests(set).passed).toBe(1);
    const none = runPolicyTests(set, []);
    expect(none.results).toHaveLength(0);
    expect(formatPolicyTestReport(set, none)).toBe("no policy tests");
  });

  test("a test file naming an unknown secret or key is a ConfigError with file:line", () => {
    const path = bundles.write({
      "bundle.yaml": `${ISSUER_YAML}secrets:\n  DB_PROD: { provider: env, ref: FAKE_DB }\npolicies: []\n`,
      "x_test.yaml": "tests:\n- name: typo\n  identity: {}\n  secret: DB_PORD\n  expect: deny\n",
      "y_test.yaml": "tests:\n- name: typo\n  identity: {}\n  secret: DB_PROD\n  expected: deny\n",
    });
    const set = loadPolicySet(path);
    const dir = set.bundle.dir;
    expect(() => runPolicyTests(set, [join(dir, "x_test.yaml")])).toThrow(ConfigError);
    expect(() => runPolicyTests(set, [join(dir, "x_test.yaml")])).toThrow(/x_test\.yaml:4: tests\.0\.secret: no secret "DB_PORD" in the bundle — did you mean "DB_PROD"\?/);
    expect(() => runPolicyTests(set, [join(dir, "y_test.yaml")])).toThrow(/y_test\.yaml:5: tests\.0\.expected: unknown key "expected" — did you mean "expect"\?/);
  });
});

test("query cases can say request.write, so a bundle can test who may write through the broker", () => {
  const path = bundles.write({
    "bundle.yaml": `${ISSUER_YAML}secrets:
  ORDERS_DB: { provider: env, ref: FAKE_ORDERS_DB_URL }
policies:
- match: "**"
  rules:
  - cel: "request.action == 'query' && identity.team == 'analytics'"
    effect: allow
  - cel: "request.action == 'query' && has(request.write) && request.write && identity.team != 'orders'"
    effect: deny
tests:
- name: analytics reads
  identity: { team: analytics }
  secret: ORDERS_DB
  action: query
  request: { write: false }
  expect: allow
- name: analytics may not write
  identity: { team: analytics }
  secret: ORDERS_DB
  action: query
  request: { write: true }
  expect: deny
`,
  });
  const report = runPolicyTests(loadPolicySet(path), []);
  expect(report.results.map((r) => [r.case.name, r.passed])).toEqual([
    ["analytics reads", true],
    ["analytics may not write", true],
  ]);
});
