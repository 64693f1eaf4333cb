// Policy test suites: cases listed under a bundle's `tests:` or in `*_test.yaml` files beside it, each
// an identity's claims, a secret, an action and the expected effect. Runs them through the same engine
// the server uses and reports each failure with its inputs, like `opa test` or `cerbos compile`.

import { readdirSync } from "node:fs";
import { join, resolve } from "node:path";
import { readYamlFile, testCases, yamlValidator, type PolicyTestCase, type RuleEffect } from "../config/bundle.ts";
import { displayPath } from "../config/load.ts";
import { decide, type Decision, type PolicySet } from "./engine.ts";

export interface PolicyTestResult {
  case: PolicyTestCase;
  passed: boolean;
  actual: RuleEffect;
  decision: Decision;
}

export interface PolicyTestReport {
  /** Test files read besides the bundle itself, absolute. */
  files: string[];
  results: PolicyTestResult[];
  passed: number;
  failed: number;
}

const TEST_FILE_SUFFIXES = ["_test.yaml", "_test.yml"];

/** `*_test.yaml` files in the bundle's directory, sorted. */
export function findPolicyTestFiles(set: PolicySet): string[] {
  return readdirSync(set.bundle.dir)
    .filter((name) => TEST_FILE_SUFFIXES.some((suffix) => name.endsWith(suffix)))
    .sort()
    .map((name) => join(set.bundle.dir, name));
}

/** Cases of one test file: a list of cases, or a mapping with a `tests:` list. Throws ConfigError. */
export function loadPolicyTestFile(set: PolicySet, path: string, cwd = process.cwd()): PolicyTestCase[] {
  const absolute = resolve(cwd, path);
  const display = displayPath(absolute, cwd);
  const { doc, text } = readYamlFile(absolute, display);
  if (doc === null || doc === undefined) return [];
  const v = yamlValidator(display, text);
  const secretNames = [...set.secrets.keys()];
  if (Array.isArray(doc)) return testCases(v, doc, [], secretNames);
  const top = v.table(doc, []);
  v.onlyKeys(top, ["tests"], []);
  return testCases(v, top.tests, ["tests"], secretNames);
}

/** Runs one case. */
export function runPolicyTest(set: PolicySet, testCase: PolicyTestCase): PolicyTestResult {
  const now = testCase.now === undefined ? new Date() : new Date(testCase.now);
  const decision = decide(set, testCase.identity, testCase.secret, { action: testCase.action, ...testCase.request }, now);
  return { case: testCase, passed: decision.effect === testCase.expect, actual: decision.effect, decision };
}

/** Runs the bundle's own cases, then those of `files` (default: the `*_test.yaml` files beside it). */
export function runPolicyTests(set: PolicySet, files: string[] = findPolicyTestFiles(set), cwd = process.cwd()): PolicyTestReport {
  const cases = [...set.bundle.tests, ...files.flatMap((file) => loadPolicyTestFile(set, file, cwd))];
  const results = cases.map((c) => runPolicyTest(set, c));
  const passed = results.filter((r) => r.passed).length;
  return { files: files.map((f) => resolve(cwd, f)), results, passed, failed: results.length - passed };
}

function describeFailure(set: PolicySet, result: PolicyTestResult): string[] {
  const c = result.case;
  const spec = set.secrets.get(c.secret)?.spec;
  const request = Object.entries(c.request).filter(([, v]) => v !== undefined);
  const lines = [
    `${c.origin}: FAIL ${c.name}`,
    `    secret:   ${c.secret}${spec ? ` (${spec.provider} ${spec.ref})` : ""}`,
    `    action:   ${c.action}${request.length ? ` ${request.map(([k, v]) => `${k}=${v}`).join(" ")}` : ""}`,
    `    identity: ${JSON.stringify(c.identity)}`,
  ];
  if (c.now !== undefined) lines.push(`    now:      ${c.now}`);
  lines.push(`    expected ${c.expect}, got ${result.actual}: ${result.decision.reason}`);
  for (const e of result.decision.errors) lines.push(`    error in policy ${e.policy} rule ${e.rule} (${e.origin}): ${e.error}`);
  return lines;
}

/** The report as text: each failure with its inputs, then PASS/FAIL counts; passes listed when verbose. */
export function formatPolicyTestReport(set: PolicySet, report: PolicyTestReport, opts: { verbose?: boolean } = {}): string {
  const lines: string[] = [];
  for (const result of report.results) {
    if (!result.passed) lines.push(...describeFailure(set, result));
    else if (opts.verbose) lines.push(`${result.case.origin}: PASS ${result.case.name}`);
  }
  const total = report.results.length;
  if (total === 0) lines.push("no policy tests");
  else {
    if (lines.length) lines.push("");
    lines.push(`PASS: ${report.passed}/${total}`);
    if (report.failed) lines.push(`FAIL: ${report.failed}/${total}`);
  }
  return lines.join("\n");
}
