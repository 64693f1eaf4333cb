// Every backend end to end through dist/kz: one .keyzero.toml pulling from Vault (AppRole), AWS Secrets
// Manager (real SDK, SigV4 verified), 1Password (the `op` CLI and Connect), env, file and the local
// store, and `kz run` handing all of them to one child — or starting nothing when one fails.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { Sandbox } from "../helpers/kz.ts";
import { startAwsSmServer, type AwsSmServer } from "../servers/aws-sm.ts";
import { connectId, startFakeConnect, type FakeConnect } from "../servers/onepassword-connect.ts";
import { startVaultServer, type VaultServer } from "../servers/vault.ts";
import { fakeOpDir } from "../servers/fake-op.ts";

const V = {
  vault: "fake-vault-gh-token-0001",
  aws: "fake-aws-slack-token-0002",
  awsField: "fake-aws-db-password-0003",
  op: "fake-op-openai-key-0004",
  connect: "fake-connect-stripe-key-0005",
  env: "fake-env-value-0006",
  file: "fake-file-value-0007",
  local: "fake-local-value-0008",
};
const AWS_CREDS = { accessKeyId: "AKIAFAKE0000EXAMPLE", secretAccessKey: "fakeSecretKeyForTestsOnly0000000000000000" };

let box: Sandbox;
let vault: VaultServer;
let aws: AwsSmServer;
let connect: FakeConnect;

beforeAll(async () => {
  vault = startVaultServer({ kv2Mounts: ["secret"], logins: [{ method: "approle", roleId: "fake-role-id", secretId: "fake-secret-id" }] });
  vault.writeSecret("secret/prod/github", { token: V.vault, user: "kz-bot" });
  aws = startAwsSmServer({
    region: "us-east-1",
    credentials: [AWS_CREDS],
    secrets: [
      { name: "prod/slack-bot-token", versions: [{ versionId: "v1", stages: ["AWSCURRENT"], string: V.aws }] },
      { name: "prod/db", versions: [{ versionId: "v1", stages: ["AWSCURRENT"], string: JSON.stringify({ password: V.awsField }) }] },
    ],
  });
  const vaultId = connectId("Payments");
  connect = startFakeConnect({
    tokens: { "fake-connect-token": "all" },
    vaults: [
      {
        id: vaultId,
        name: "Payments",
        items: [{ id: connectId("Stripe"), title: "Stripe", fields: [{ id: "secret", label: "secret", value: V.connect, type: "CONCEALED" }] }],
      },
    ],
  } as Parameters<typeof startFakeConnect>[0]);

  box = new Sandbox({
    PATH: `${fakeOpDir()}:${process.env.PATH}`, // the fake `op` (runs without a bun on PATH)
    VAULT_ADDR: vault.url,
    VAULT_ROLE_ID: "fake-role-id",
    VAULT_SECRET_ID: "fake-secret-id",
    AWS_ACCESS_KEY_ID: AWS_CREDS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: AWS_CREDS.secretAccessKey,
    AWS_REGION: "us-east-1",
    FROM_SHELL: V.env,
  });
  const fixture = box.write(
    "op-fixture.json",
    JSON.stringify({ signedIn: true, vaults: [{ name: "Dev", items: [{ title: "OpenAI", fields: [{ label: "api-key", value: V.op }] }] }] }),
  );
  box.env.KZ_FAKE_OP_FIXTURE = fixture;
  box.write("token.txt", `${V.file}\n`);
  box.write(
    ".keyzero.toml",
    `[providers.vault]
auth = { method = "approle" }

[providers.aws-sm]
endpoint = "${aws.url}"

[secrets]
GITHUB_TOKEN = { provider = "vault", ref = "secret/data/prod/github", field = "token" }
SLACK_TOKEN  = { provider = "aws-sm", ref = "prod/slack-bot-token" }
DB_PASSWORD  = { provider = "aws-sm", ref = "prod/db", field = "password" }
OPENAI_KEY   = "op://Dev/OpenAI/api-key"
FROM_ENV     = { provider = "env", ref = "FROM_SHELL" }
FROM_FILE    = { provider = "file", ref = "token.txt" }
FROM_LOCAL   = { provider = "local" }
`,
  );
  box.write(
    ".connect.toml",
    `[providers.1password]
connect_host = "${connect.url}"

[secrets]
STRIPE = "op://Payments/Stripe/secret"
`,
  );
  await box.put("FROM_LOCAL", V.local);
});

afterAll(async () => {
  vault.stop();
  aws.stop();
  await connect.stop();
  box.cleanup();
});

const names = ["GITHUB_TOKEN", "SLACK_TOKEN", "DB_PASSWORD", "OPENAI_KEY", "FROM_ENV", "FROM_FILE", "FROM_LOCAL"];
const printAll = names.map((n) => `"$${n}"`).join(" ");

describe("kz run with every backend", () => {
  test("the child receives every value, resolved concurrently", async () => {
    const r = await box.kz(["run", "--no-masking", "--", "sh", "-c", `printf "%s\\n" ${printAll}`]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout.trim().split("\n")).toEqual([V.vault, V.aws, V.awsField, V.op, V.env, V.file, V.local]);
    expect(aws.reads).toContain("prod/slack-bot-token"); // signed requests really reached the server
  });

  test("output masking covers every backend's value", async () => {
    const r = await box.kz(["run", "--", "sh", "-c", `printf "%s\\n" ${printAll}`]);
    expect(r.stdout.trim().split("\n")).toEqual(names.map((n) => `[kz:${n}]`));
  });

  test("1Password Connect is used when connect_host is set", async () => {
    const r = await box.kz(["run", "--config", ".connect.toml", "--no-masking", "--", "sh", "-c", 'printf %s "$STRIPE"'], {
      env: { OP_CONNECT_TOKEN: "fake-connect-token" },
    });
    expect(r.stderr).toBe("");
    expect(r.stdout).toBe(V.connect);
  });

  test("status --json lists every backend as ok, with no value in it", async () => {
    const r = await box.kz(["status", "--json"]);
    expect(r.code).toBe(0);
    for (const v of Object.values(V)) expect(r.stdout).not.toContain(v);
    expect(JSON.parse(r.stdout).secrets.every((s: { ok: boolean }) => s.ok)).toBe(true);
  });

  test("one backend failing starts nothing, and each failure is named", async () => {
    vault.setSealed(true);
    try {
      const r = await box.kz(["run", "--", "sh", "-c", "echo started"], { env: { AWS_SECRET_ACCESS_KEY: "wrongFakeSecretKey000000000000000000000" } });
      expect(r.code).toBe(4);
      expect(r.stdout).toBe("");
      expect(r.stderr).toContain("GITHUB_TOKEN (vault secret/data/prod/github#token):");
      expect(r.stderr).toContain("sealed");
      expect(r.stderr).toContain("SLACK_TOKEN (aws-sm prod/slack-bot-token):");
      for (const v of Object.values(V)) expect(r.stderr).not.toContain(v);
    } finally {
      vault.setSealed(false);
    }
  });
});

test("identical refs are fetched once per run", async () => {
  box.write(
    ".dup.toml",
    `[providers.vault]\nauth = { method = "approle" }\n[providers.aws-sm]\nendpoint = "${aws.url}"\n[secrets]\nA = { provider = "aws-sm", ref = "prod/db", field = "password" }\nB = { provider = "aws-sm", ref = "prod/db", field = "password" }\nC = "vault://secret/data/prod/github#token"\nD = "vault://secret/data/prod/github#user"\n`,
  );
  const before = aws.reads.filter((r) => r === "prod/db").length;
  const vaultBefore = vault.countRequests("/v1/secret/data/prod/github");
  const r = await box.kz(["run", "--config", ".dup.toml", "--no-masking", "--", "sh", "-c", 'printf "%s %s %s" "$A" "$B" "$D"']);
  expect(r.stderr).toBe("");
  expect(r.stdout).toBe(`${V.awsField} ${V.awsField} kz-bot`);
  expect(aws.reads.filter((r) => r === "prod/db").length - before).toBe(1);
  expect(vault.countRequests("/v1/secret/data/prod/github") - vaultBefore).toBe(1);
});
