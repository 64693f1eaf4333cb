// aws-sts through the compiled kz, end to end: kz assumes the role at the test STS (real SDK, SigV4
// checked against the source profile's keys, session policy recorded) once per run; in blind mode the
// child holds three tokens and its S3-style requests — signed with the token pair, the session token in
// X-Amz-Security-Token — are re-signed by kz with the real temporary credentials and verified by an
// upstream that knows only those real credentials (session token included). Attacker side: no real
// value in the child's environment or output; the session token in a query or a body is refused.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { Sandbox, type KzResult } from "../helpers/kz.ts";
import { SigV4Error, verifySigV4 } from "../servers/sigv4-verify.ts";
import { startStsServer, type IssuedCredentials, type StsServer } from "../servers/sts.ts";

const SOURCE = { accessKeyId: "AKIAFAKESTSSOURCE002", secretAccessKey: "fakeStsSourceSecretKey00000000000000000002" };
const ROLE = "arn:aws:iam::123456789012:role/kz-s3-reader";
const POLICY = '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::kz-bucket/*"}]}';
const OBJECT = "quarterly numbers, fake";

interface S3Seen {
  ok: boolean;
  code?: string;
  accessKeyId?: string;
  url: string;
  headers: Record<string, string>;
  body: string;
}

let sts: StsServer;
let s3: ReturnType<typeof Bun.serve>;
const seen: S3Seen[] = [];
let box: Sandbox;
let s3Url: string;

/** An S3-style upstream: GET /kz-bucket/<key> answers only requests signed with credentials STS issued. */
function startS3() {
  return Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    async fetch(req) {
      const body = new Uint8Array(await req.arrayBuffer());
      const record: S3Seen = { ok: false, url: req.url, headers: Object.fromEntries(req.headers), body: new TextDecoder().decode(body) };
      seen.push(record);
      try {
        record.accessKeyId = verifySigV4(req, body, { region: "us-east-1", service: "s3", keys: sts.issuedKeys() });
        record.ok = true;
        return new Response(OBJECT);
      } catch (e) {
        if (!(e instanceof SigV4Error)) throw e;
        record.code = e.code;
        return new Response(`<Error><Code>${e.code}</Code></Error>`, { status: 403 });
      }
    },
  });
}

beforeAll(async () => {
  sts = startStsServer({ sourceCredentials: [SOURCE], roles: [ROLE] });
  s3 = startS3();
  s3Url = `http://127.0.0.1:${s3.port}`;
  box = new Sandbox();
  mkdirSync(join(box.dir, ".aws"));
  box.write(".aws/credentials", `[kz-source]\naws_access_key_id = ${SOURCE.accessKeyId}\naws_secret_access_key = ${SOURCE.secretAccessKey}\n`);
  const hosts = `hosts = ["127.0.0.1:${s3.port}"]`;
  box.write(
    ".keyzero.toml",
    `[providers.aws-sts]
role_arn = "${ROLE}"
source_profile = "kz-source"
session_policy = '${POLICY}'
endpoint = "${sts.url}"

[secrets]
AWS_ACCESS_KEY_ID = { provider = "aws-sts", field = "access_key_id", ${hosts} }
AWS_SECRET_ACCESS_KEY = { provider = "aws-sts", field = "secret_access_key", ${hosts} }
AWS_SESSION_TOKEN = { provider = "aws-sts", field = "session_token", ${hosts} }
`,
  );
  expect((await box.kz(["allow"])).code).toBe(0);
  box.write("agent-policy.json", POLICY);
  box.write(
    "policy-file.toml",
    `[providers.aws-sts]
role_arn = "${ROLE}"
source_profile = "kz-source"
session_policy = "agent-policy.json"
endpoint = "${sts.url}"

[secrets]
AWS_SESSION_TOKEN = { provider = "aws-sts", field = "session_token", ${hosts} }
`,
  );
  expect((await box.kz(["allow", "--config", "policy-file.toml"])).code).toBe(0);
});

afterAll(() => {
  sts?.stop();
  s3?.stop(true);
  box?.cleanup();
});

/** The credentials STS issued during `work` (kz assumes the role once per run). */
async function run(work: () => Promise<KzResult>): Promise<{ r: KzResult; issued: IssuedCredentials[]; requests: S3Seen[] }> {
  const calls = sts.calls.length;
  const requests = seen.length;
  const r = await work();
  const issued = sts.calls.slice(calls).map((c) => sts.issued.get(c.issued!)!);
  return { r, issued, requests: seen.slice(requests) };
}

const curlS3 = (extra = "", path = "/kz-bucket/report.txt") =>
  `curl -sS -w ' %{http_code}' --aws-sigv4 "aws:amz:us-east-1:s3" --user "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY" -H "x-amz-security-token: $AWS_SESSION_TOKEN" ${extra} "${s3Url}${path}"`;

function expectNoRealValue(text: string, issued: IssuedCredentials[]) {
  for (const c of issued) for (const v of [c.accessKeyId, c.secretAccessKey, c.sessionToken]) expect(text).not.toContain(v);
  expect(text).not.toContain(SOURCE.secretAccessKey);
}

describe("plain run", () => {
  test("one AssumeRole (session policy sent) gives the child all three; a request signed with them verifies", async () => {
    const { r, issued, requests } = await run(() => box.kz(["run", "--", "sh", "-c", curlS3()]));
    expect(r.stdout).toBe(`${OBJECT} 200`);
    expect(issued).toHaveLength(1);
    expect(sts.calls.at(-1)).toMatchObject({ signer: SOURCE.accessKeyId, roleArn: ROLE, policy: POLICY, durationSeconds: 900 });
    expect(requests.map((q) => [q.ok, q.accessKeyId])).toEqual([[true, issued[0]!.accessKeyId]]);
  });
});

describe("kz status", () => {
  test("shows the three as temporary with their TTL; no value", async () => {
    const { r, issued } = await run(() => box.kz(["status"]));
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/AWS_SESSION_TOKEN\s+aws-sts\s+AWS_SESSION_TOKEN#session_token\s+ok \(dynamic, ttl 1[45]m\)/);
    expectNoRealValue(r.stdout + r.stderr, issued);
  });
});

describe("blind run", () => {
  test("the child signs with tokens; kz re-signs with the real credentials and swaps the session token", async () => {
    const { r, issued, requests } = await run(() => box.kz(["run", "--blind", "--", "sh", "-c", curlS3()]));
    expect(r.stderr).toBe("");
    expect(r.stdout).toBe(`${OBJECT} 200`);
    expect(issued).toHaveLength(1);
    expect(requests).toHaveLength(1);
    const [request] = requests;
    expect(request!.ok).toBe(true);
    expect(request!.accessKeyId).toBe(issued[0]!.accessKeyId);
    expect(request!.headers["x-amz-security-token"]).toBe(issued[0]!.sessionToken);
    expect(request!.headers.authorization).toContain("x-amz-security-token");
  });

  test("Python botocore (boto3) S3 client: same", async () => {
    const script = `import boto3, botocore.config
s3 = boto3.client("s3", endpoint_url="${s3Url}", region_name="us-east-1", config=botocore.config.Config(s3={"addressing_style": "path"}))
print(s3.get_object(Bucket="kz-bucket", Key="report.txt")["Body"].read().decode())`;
    const { r, issued, requests } = await run(() => box.kz(["run", "--blind", "--", "python3", "-c", script]));
    expect(r.stderr).toBe("");
    expect(r.stdout.trim()).toBe(OBJECT);
    expect(requests.map((q) => [q.ok, q.accessKeyId])).toEqual([[true, issued[0]!.accessKeyId]]);
  }, 30_000); // importing boto3 alone takes seconds on a busy machine

  test("the upstream really checks the session token: the right keys with a wrong token are refused", async () => {
    // A control for the tests above: signed correctly with real credentials, but carrying another token.
    const { r, issued, requests } = await run(() =>
      box.kz(["run", "--", "sh", "-c", `AWS_SESSION_TOKEN=IQoJb3JpZ2luX2VjFAKE; ${curlS3()}`]),
    );
    expect(issued).toHaveLength(1);
    expect(r.stdout).toEndWith(" 403");
    expect(requests.map((q) => q.code)).toEqual(["InvalidToken"]);
  });
});

describe("what a prompt-injected agent would try", () => {
  test("the child's environment holds only tokens: no temporary credential, no source key", async () => {
    const { r, issued } = await run(() => box.kz(["run", "--blind", "--no-masking", "--", "/usr/bin/env"]));
    expect(r.code).toBe(0);
    expectNoRealValue(r.stdout, issued);
    const env = Object.fromEntries(r.stdout.trim().split("\n").map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]));
    for (const name of ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"]) expect(env[name]).toMatch(/^KZ_TOK_/);
  });

  test("the source profile's keys are out of the sandboxed child's reach", async () => {
    const { r } = await run(() => box.kz(["run", "--blind", "--no-masking", "--", "sh", "-c", `cat ${join(box.dir, ".aws/credentials")} 2>&1; true`]));
    expect(r.stdout).not.toContain(SOURCE.secretAccessKey);
  });

  test("a session policy kept in a file cannot be widened by the sandboxed agent for the next run", async () => {
    const wide = '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}';
    const { r } = await run(() =>
      box.kz(["run", "--blind", "--config", "policy-file.toml", "--", "sh", "-c", `printf '%s' '${wide}' > agent-policy.json 2>/dev/null; echo "rc=$?"`]),
    );
    expect(r.stdout).not.toBe("rc=0\n");
    expect(readFileSync(join(box.dir, "agent-policy.json"), "utf8")).toBe(POLICY);
    const next = await run(() => box.kz(["run", "--config", "policy-file.toml", "--", "true"]));
    expect(next.r.code).toBe(0);
    expect(sts.calls.at(-1)!.policy).toBe(POLICY);
  });

  test("the session token in the query string is refused and never reaches the upstream", async () => {
    const { r, issued, requests } = await run(() =>
      box.kz(["run", "--blind", "--no-masking", "--", "sh", "-c", `curl -sS -o /dev/null -w '%{http_code}' "${s3Url}/kz-bucket/report.txt?X-Amz-Security-Token=$AWS_SESSION_TOKEN"`]),
    );
    expect(r.stdout).toBe("403");
    expect(requests).toHaveLength(0);
    expect(r.stderr).toContain("AWS_SESSION_TOKEN");
    expectNoRealValue(r.stdout + r.stderr, issued);
  });

  test("the session token in a body is refused and never reaches the upstream", async () => {
    const { r, issued, requests } = await run(() =>
      box.kz(["run", "--blind", "--no-masking", "--", "sh", "-c", `curl -sS -o /dev/null -w '%{http_code}' --data "t=$AWS_SESSION_TOKEN" "${s3Url}/collect"`]),
    );
    expect(r.stdout).toBe("403");
    expect(requests).toHaveLength(0);
    expectNoRealValue(r.stdout + r.stderr, issued);
  });
});
