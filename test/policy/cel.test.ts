import { describe, expect, test } from "bun:test";
import { CelCompileError, celRecord, celTimestamp, compileRule, type RuleBindings, type RuleOutcome } from "../../src/policy/cel.ts";

function bindings(identity: Record<string, unknown>, extra: { request?: Record<string, unknown>; now?: Date } = {}): RuleBindings {
  return {
    identity: celRecord(identity),
    secret: celRecord({ name: "DB_PROD", provider: "vault", ref: "secret/data/prod/db" }),
    request: celRecord(extra.request ?? { action: "resolve" }),
    now: celTimestamp(extra.now ?? new Date("2025-06-01T12:00:00Z")),
  };
}

function run(source: string, identity: Record<string, unknown>, extra?: Parameters<typeof bindings>[1]): RuleOutcome {
  return compileRule(source).evaluate(bindings(identity, extra));
}

function compileError(source: string): CelCompileError {
  try {
    compileRule(source);
  } catch (e) {
    expect(e).toBeInstanceOf(CelCompileError);
    return e as CelCompileError;
  }
  throw new Error(`expected ${source} not to compile`);
}

describe("compiling", () => {
  test("a syntax error throws with its column", () => {
    const e = compileError("identity.service ==");
    expect(e.message).toStartWith("syntax error:");
    expect(e.column).toBe(18);
    // cel-es points at the operator whose operand fails to parse
    expect(compileError("identity.a == 'x' && )").column).toBe(19);
    const multiline = compileError("identity.a == 'x' &&\n  identity.b ==");
    expect([multiline.line, multiline.column]).toEqual([2, 14]);
  });

  test("a name kz does not provide fails to compile, with a suggestion and its column", () => {
    const e = compileError("identity.team == 'a' || idenity.team == 'b'");
    expect(e.message).toContain(`unknown name "idenity"`);
    expect(e.message).toContain(`did you mean "identity"?`);
    expect(e.message).toContain("identity, secret, request, now");
    expect(e.column).toBe(25);
    expect(compileError("user.name == 'x'").message).toContain(`unknown name "user"`);
  });

  test("unknown functions and unknown fields of secret/request are refused at compile time", () => {
    expect(compileError("identity.email.endswith('@example.test')").message).toContain(`unknown function "endswith"`);
    expect(compileError("frobnicate(identity.sub)").message).toContain(`unknown function "frobnicate"`);
    const field = compileError("secret.nmae == 'DB_PROD'");
    expect(field.message).toContain(`secret has no field "nmae" — did you mean "name"?`);
    expect(compileError("request.verb == 'GET'").message).toContain("request has no field");
    expect(compileError("secret['reff'] == 'x'").message).toContain(`no field "reff"`);
  });

  test("comprehension variables, macros, type names and extension functions are accepted", () => {
    for (const source of [
      "identity.groups.exists(g, g == 'admins')",
      "identity.groups.all(g, g.startsWith('team-'))",
      "identity.groups.map(g, g.size()).exists(n, n > 3)",
      "has(identity.team) && identity.team == 'data'",
      "type(identity.level) == int",
      "identity.email.lowerAscii().endsWith('@example.test')",
      "secret.ref.startsWith('secret/data/prod/') && request.action in ['resolve', 'fetch']",
      "now < timestamp('2030-01-01T00:00:00Z')",
    ]) {
      expect(() => compileRule(source)).not.toThrow();
    }
  });

  test("reports the identity claims a rule reads by name", () => {
    expect(compileRule("identity.service == 'x' && has(identity.team) && identity['env'] == 'prod' && 'admin' in identity").claims).toEqual([
      "admin",
      "env",
      "service",
      "team",
    ]);
    expect(compileRule("identity.groups.exists(identity, identity == 'x')").claims).toEqual(["groups"]);
    expect(compileRule("request.action == 'resolve'").claims).toEqual([]);
  });
});

describe("evaluating", () => {
  test("a boolean result is the outcome", () => {
    expect(run("identity.service == 'data-pipeline-agent'", { service: "data-pipeline-agent" })).toEqual({ ok: true, value: true });
    expect(run("identity.service == 'data-pipeline-agent'", { service: "support-agent" })).toEqual({ ok: true, value: false });
  });

  test("without a type checker, comparing a string claim to a number is simply false", () => {
    expect(run("identity.service == 1", { service: "data-pipeline-agent" })).toEqual({ ok: true, value: false });
  });

  test("a missing claim is an error value, not a throw; has() guards it", () => {
    const missing = run("identity.team == 'data'", { sub: "x" });
    expect(missing.ok).toBe(false);
    if (!missing.ok) expect(missing.error).toContain("team");
    expect(run("has(identity.team) && identity.team == 'data'", { sub: "x" })).toEqual({ ok: true, value: false });
    expect(run("has(identity.team) && identity.team == 'data'", { team: "data" })).toEqual({ ok: true, value: true });
  });

  test("a non-boolean result is reported as an error, never as a satisfied rule", () => {
    const outcome = run("identity.service", { service: "data-pipeline-agent" });
    expect(outcome).toEqual({ ok: false, error: "the rule gave a string, not true or false" });
    expect(run("identity.level + 1", { level: 2 })).toEqual({ ok: false, error: "the rule gave an int, not true or false" });
  });

  test("claims convert: integral numbers to int, others to double, nested objects and lists", () => {
    const claims = { level: 3, ratio: 0.5, groups: ["a", "b"], org: { team: "data", ids: [1, 2] }, active: true, nothing: null };
    for (const source of [
      "identity.level + 1 == 4",
      "type(identity.level) == int",
      "identity.ratio * 2.0 == 1.0",
      "'b' in identity.groups && identity.groups.size() == 2",
      "identity.org.team == 'data' && identity.org.ids[1] == 2",
      "identity.active",
      "identity.nothing == null",
    ]) {
      expect([source, run(source, claims)]).toEqual([source, { ok: true, value: true }]);
    }
  });

  test("secret, request and now are visible", () => {
    expect(run("secret.name == 'DB_PROD' && secret.provider == 'vault' && secret.ref == 'secret/data/prod/db'", {})).toEqual({ ok: true, value: true });
    const fetch = { action: "fetch", host: "api.example.test", method: "GET", path: "/v1/x" };
    expect(run("request.action == 'fetch' && request.host == 'api.example.test' && request.method == 'GET'", {}, { request: fetch })).toEqual({
      ok: true,
      value: true,
    });
    const rule = "now < timestamp('2026-01-01T00:00:00Z')";
    expect(run(rule, {}, { now: new Date("2025-12-31T23:59:59.500Z") })).toEqual({ ok: true, value: true });
    expect(run(rule, {}, { now: new Date("2026-01-01T00:00:00Z") })).toEqual({ ok: true, value: false });
    expect(run("now.getFullYear() == 2025", {}, { now: new Date("2025-03-04T05:06:07Z") })).toEqual({ ok: true, value: true });
  });

  test("request fields absent outside fetch are errors, guarded by has()", () => {
    expect(run("request.host == 'x'", {}).ok).toBe(false);
    expect(run("!has(request.host) || request.host == 'x'", {})).toEqual({ ok: true, value: true });
  });
});
