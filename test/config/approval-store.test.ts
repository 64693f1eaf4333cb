// The approval store (src/commands/approval.ts): an approved set is recorded per config and --env, read
// back, and anything unusable — a malformed file, a file about another config — counts as no approval.
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { approvalFile, approvalState, recordApproval } from "../../src/commands/approval.ts";
import { loadConfig } from "../../src/config/load.ts";

const root = mkdtempSync(join(tmpdir(), "kz-approval-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const env = { XDG_CONFIG_HOME: join(root, "config"), HOME: root };
writeFileSync(
  join(root, ".keyzero.toml"),
  `[secrets]\nA = { provider = "env", hosts = ["a.test"] }\n[env.prod.secrets]\nA = { provider = "env", hosts = ["prod.a.test"] }\n`,
);
const load = (envName?: string) => loadConfig({ cwd: root, env: {}, envName });

describe("approval store", () => {
  test("nothing recorded: not approved, every secret added; recorded: approved, per --env", () => {
    const first = approvalState(load(), env);
    expect(first.upToDate).toBe(false);
    expect(first.changes.map((c) => c.key)).toEqual(["secrets.A"]);
    recordApproval(first, env);
    expect(approvalState(load(), env).upToDate).toBe(true);
    expect(approvalState(load("prod"), env).upToDate).toBe(false);
    recordApproval(approvalState(load("prod"), env), env);
    expect(approvalState(load("prod"), env).upToDate).toBe(true);
    expect(approvalState(load(), env).upToDate).toBe(true); // approving prod kept the default's approval
  });

  test("a malformed approval file, or one about another config, approves nothing", () => {
    const file = approvalFile(load().path, env);
    writeFileSync(file, "{ not json");
    const broken = approvalState(load(), env);
    expect(broken.upToDate).toBe(false);
    expect(broken.problem).toBe("malformed");
    writeFileSync(file, JSON.stringify({ config: "/elsewhere/.keyzero.toml", envs: { "": approvalState(load(), env) } }));
    expect(approvalState(load(), env).upToDate).toBe(false);
    writeFileSync(file, JSON.stringify({ config: load().path, envs: { "": { fingerprint: approvalState(load(), env).fingerprint, bindings: { secrets: {}, settings: {} } } } }));
    expect(approvalState(load(), env).upToDate).toBe(false); // a fingerprint that does not match its bindings
  });
});
