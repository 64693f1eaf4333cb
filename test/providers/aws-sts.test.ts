// aws-sts provider against test/servers/sts.ts through the real @aws-sdk/client-sts (Query protocol,
// SigV4 verified by the server): the three fields from one AssumeRole per resolution, the session
// policy (inline or file) and policy ARNs as sent, duration, external_id, session name, a role per
// secret through ref; AWS's refusals as one line naming the role, never a key; bad settings caught by
// the config loader as one line naming the file, line and key.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import createAwsStsProvider from "../../src/providers/aws-sts.ts";
import { parseDuration } from "../../src/config/aws-sts-settings.ts";
import { loadConfig } from "../../src/config/load.ts";
import type { KzConfig, SecretSpec } from "../../src/config/types.ts";
import { resolveSecrets } from "../../src/resolve/resolve.ts";
import { LeaseSet } from "../../src/resolve/leases.ts";
import { startStsServer, type StsServer } from "../servers/sts.ts";

const SOURCE = { accessKeyId: "AKIAFAKESTSSOURCE001", secretAccessKey: "fakeStsSourceSecretKey00000000000000000001" };
const ENV = { AWS_ACCESS_KEY_ID: SOURCE.accessKeyId, AWS_SECRET_ACCESS_KEY: SOURCE.secretAccessKey, USER: "tester" };
const ROLE = "arn:aws:iam::123456789012:role/kz-s3-reader";
const OTHER_ROLE = "arn:aws:iam::123456789012:role/kz-other";
const GUARDED = "arn:aws:iam::123456789012:role/kz-guarded";
const POLICY = { Version: "2012-10-17", Statement: [{ Effect: "Allow", Action: "s3:GetObject", Resource: "arn:aws:s3:::kz-bucket/*" }] };

let sts: StsServer;
let dir: string;

beforeAll(() => {
  sts = startStsServer({ sourceCredentials: [SOURCE], roles: [ROLE, OTHER_ROLE, GUARDED], externalIds: { [GUARDED]: "kz-ext-0001" } });
  dir = mkdtempSync(join(tmpdir(), "kz-sts-test-"));
  writeFileSync(join(dir, "policy.json"), JSON.stringify(POLICY, null, 2));
});
afterAll(() => {
  sts.stop();
  rmSync(dir, { recursive: true, force: true });
});

const spec = (name: string, field: string, ref = name): SecretSpec => ({ name, provider: "aws-sts", ref, field, optional: false }) as SecretSpec;
const triple = [spec("AWS_ACCESS_KEY_ID", "access_key_id"), spec("AWS_SECRET_ACCESS_KEY", "secret_access_key"), spec("AWS_SESSION_TOKEN", "session_token")];

function config(settings: Record<string, unknown>): KzConfig {
  return { providers: { "aws-sts": { endpoint: sts.url, ...settings } }, dir } as unknown as KzConfig;
}

async function resolveTriple(settings: Record<string, unknown>, env: Record<string, string> = ENV) {
  const before = sts.calls.length;
  const r = await resolveSecrets(config(settings), triple, { env });
  return { r, calls: sts.calls.slice(before) };
}

describe("AssumeRole", () => {
  test("the three fields come from one call, signed by the source credentials; defaults: 15 min, kz-<user>", async () => {
    const { r, calls } = await resolveTriple({ role_arn: ROLE });
    expect(r.failures).toEqual([]);
    expect(calls).toHaveLength(1);
    expect(calls[0]).toMatchObject({ signer: SOURCE.accessKeyId, roleArn: ROLE, sessionName: "kz-tester", durationSeconds: 900, policyArns: [] });
    expect(calls[0]!.policy).toBeUndefined();
    const issued = sts.issued.get(calls[0]!.issued!)!;
    expect(r.values.get("AWS_ACCESS_KEY_ID")!.reveal()).toBe(issued.accessKeyId);
    expect(r.values.get("AWS_SECRET_ACCESS_KEY")!.reveal()).toBe(issued.secretAccessKey);
    expect(r.values.get("AWS_SESSION_TOKEN")!.reveal()).toBe(issued.sessionToken);
    expect(r.leases.size).toBe(0); // STS credentials are no lease: nothing to revoke
    const [expiring] = r.leases.expiries();
    expect(r.leases.expiries()).toHaveLength(1);
    expect(expiring!.secrets.sort()).toEqual(["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"]);
    expect(expiring!.expiry.what).toBe(`role ${ROLE}`);
    expect(Math.abs(expiring!.expiry.expiresAt - (Date.now() + 900_000))).toBeLessThan(5_000); // STS's Expiration
  });

  test("each resolution assumes the role afresh, also through one provider instance (the server)", async () => {
    const provider = await createAwsStsProvider({ settings: { role_arn: ROLE, endpoint: sts.url }, env: ENV, configDir: dir });
    const signal = AbortSignal.timeout(5000);
    const a = await provider.fetch({ name: "K", ref: "K", field: "access_key_id", signal, leases: new LeaseSet() });
    const b = await provider.fetch({ name: "K", ref: "K", field: "access_key_id", signal, leases: new LeaseSet() });
    expect(a.reveal()).not.toBe(b.reveal());
  });

  test("session policy inline (sent minified) and policy_arns; duration, external_id, session_name", async () => {
    const { r, calls } = await resolveTriple({
      role_arn: GUARDED,
      session_policy: JSON.stringify(POLICY, null, 2),
      policy_arns: ["arn:aws:iam::aws:policy/ReadOnlyAccess", "arn:aws:iam::123456789012:policy/kz-extra"],
      duration: "1h30m",
      external_id: "kz-ext-0001",
      session_name: "ci-job-42",
    });
    expect(r.failures).toEqual([]);
    expect(calls).toEqual([
      expect.objectContaining({
        roleArn: GUARDED,
        policy: JSON.stringify(POLICY),
        policyArns: ["arn:aws:iam::aws:policy/ReadOnlyAccess", "arn:aws:iam::123456789012:policy/kz-extra"],
        durationSeconds: 5400,
        externalId: "kz-ext-0001",
        sessionName: "ci-job-42",
      }),
    ]);
  });

  test("session policy from a file relative to the config", async () => {
    const { calls } = await resolveTriple({ role_arn: ROLE, session_policy: "policy.json" });
    expect(JSON.parse(calls[0]!.policy!)).toEqual(POLICY);
  });

  test("a secret's ref names its own role; one call per role", async () => {
    const before = sts.calls.length;
    const specs = [...triple, spec("OTHER_KEY", "access_key_id", OTHER_ROLE), spec("OTHER_SECRET", "secret_access_key", OTHER_ROLE)];
    const r = await resolveSecrets(config({ role_arn: ROLE }), specs, { env: ENV });
    expect(r.failures).toEqual([]);
    expect(sts.calls.slice(before).map((c) => c.roleArn).sort()).toEqual([OTHER_ROLE, ROLE].sort());
  });
});

describe("failures: one line naming the role or setting, never a key", () => {
  const reasons = async (settings: Record<string, unknown>, env: Record<string, string> = ENV, specs = triple) => {
    const r = await resolveSecrets(config(settings), specs, { env });
    const errors = [...new Set(r.outcomes.map((o) => o.error))];
    for (const e of errors) {
      expect(e).not.toContain(SOURCE.secretAccessKey);
      expect(e ?? "").not.toContain("\n");
    }
    return errors;
  };

  test("a role the caller may not assume", async () => {
    expect(await reasons({ role_arn: "arn:aws:iam::123456789012:role/not-allowed" })).toEqual([
      "AWS refused AssumeRole of arn:aws:iam::123456789012:role/not-allowed — the caller needs sts:AssumeRole on it and the role's trust policy must allow the caller (and the external_id, if it asks for one)",
    ]);
  });

  test("a wrong external id is refused like AWS does", async () => {
    expect((await reasons({ role_arn: GUARDED, external_id: "wrong-id" }))[0]).toStartWith("AWS refused AssumeRole of");
  });

  test("wrong source credentials: the server's SigV4 check refuses them", async () => {
    const before = sts.rejections.length;
    expect(await reasons({ role_arn: ROLE }, { ...ENV, AWS_SECRET_ACCESS_KEY: "fakeWrongSecretKey000000000000000000000000" })).toEqual([
      "AWS rejected the AssumeRole signature — the secret access key does not match the access key ID (check source_profile or AWS_SECRET_ACCESS_KEY)",
    ]);
    expect(sts.rejections.slice(before).map((r) => r.code)).toEqual(["SignatureDoesNotMatch"]);
  });

  test("field missing or unknown; no role", async () => {
    expect(await reasons({ role_arn: ROLE }, ENV, [spec("X", "password")])).toEqual([
      'X: unknown field — an aws-sts secret takes field = "access_key_id", "secret_access_key", "session_token"',
    ]);
    expect(await reasons({}, ENV, [spec("X", "session_token")])).toEqual(["no role to assume: set [providers.aws-sts] role_arn (or the secret's ref to a role ARN)"]);
    expect(await reasons({ role_arn: ROLE }, ENV, [spec("X", "session_token", "not-an-arn")])).toEqual([
      "X: ref must be a role ARN (arn:aws:iam::<account id>:role/<name>) or left out to use [providers.aws-sts] role_arn",
    ]);
  });

  test("a session policy file that is missing or not a policy", async () => {
    writeFileSync(join(dir, "bad.json"), "{ not json");
    expect(await reasons({ role_arn: ROLE, session_policy: "missing.json" })).toEqual([`[providers.aws-sts] session_policy: cannot read ${join(dir, "missing.json")} (it does not exist)`]);
    expect((await reasons({ role_arn: ROLE, session_policy: "bad.json" }))[0]).toStartWith(`[providers.aws-sts] session_policy file ${join(dir, "bad.json")} is not valid JSON`);
  });
});

describe("settings checked when the config loads", () => {
  const load = (providerToml: string) => {
    const path = join(dir, "kz.toml");
    writeFileSync(path, `[providers.aws-sts]\n${providerToml}\n\n[secrets]\nAWS_SESSION_TOKEN = { provider = "aws-sts", field = "session_token" }\n`);
    try {
      loadConfig({ configPath: path, env: {} });
      return "";
    } catch (e) {
      return (e as Error).message;
    }
  };

  test.each([
    ['role_arn = "arn:aws:iam::123456789012:role/ok"\nduration = "5m"', 'kz.toml:3: providers.aws-sts.duration: must be between 15m and 12h'],
    ['duration = "13h"', "providers.aws-sts.duration: must be between 15m and 12h"],
    ['duration = "soon"', 'providers.aws-sts.duration: is not a duration — write e.g. "15m", "1h" or "1h30m"'],
    ['role_arn = "arn:aws:iam::12:user/x"', "providers.aws-sts.role_arn: is not a role ARN — write arn:aws:iam::<account id>:role/<role name>"],
    ['session_policy = "{ nope"', "providers.aws-sts.session_policy: is not valid JSON"],
    ['policy_arns = ["arn:aws:iam::aws:policy/Ok", "oops"]', "providers.aws-sts.policy_arns: entry 2 is not a managed policy ARN"],
    ["policy_arns = \"arn:aws:iam::aws:policy/Ok\"", "providers.aws-sts.policy_arns: must be a list of non-empty strings"],
    ['rolearn = "x"', 'providers.aws-sts.rolearn: unknown key "rolearn"'],
  ])("%s", (toml, message) => {
    const error = load(toml);
    expect(error).toContain(message);
    expect(error).toContain("kz.toml:");
    expect(error.split("\n")).toHaveLength(1);
  });

  test("a good table loads", () => {
    expect(load('role_arn = "arn:aws:iam::123456789012:role/ok"\nduration = "1h"\npolicy_arns = ["arn:aws:iam::aws:policy/ReadOnlyAccess"]')).toBe("");
  });

  test("durations", () => {
    expect([parseDuration("900"), parseDuration("15m"), parseDuration("1h"), parseDuration("1h30m"), parseDuration("90s"), parseDuration("x"), parseDuration("")]).toEqual([
      900, 900, 3600, 5400, 90, undefined, undefined,
    ]);
  });
});
