// SigV4 re-signing, checked against an independent signer: @smithy/signature-v4 (the AWS SDK's own)
// signs the child's request with the token credentials, kz re-signs it, and the result must equal what
// the SDK produces when signing the same final request with the real credentials.
import { describe, expect, test } from "bun:test";
import { createHash, createHmac } from "node:crypto";
import { SignatureV4 } from "@smithy/signature-v4";
import { PLACEMENTS } from "../../src/config/placement.ts";
import { SecretValue } from "../../src/secret.ts";
import { TokenTable, mintTokens } from "../../src/blind/tokens.ts";
import { planRequest } from "../../src/blind/rewrite/plan.ts";
import { isRefusal } from "../../src/blind/rewrite/context.ts";
import { percentEncode } from "../../src/blind/rewrite/encode.ts";
import { parseSigV4Authorization, sigV4Signature } from "../../src/blind/rewrite/sigv4-sign.ts";
import type { BodyPlan, Destination, Refusal, RequestHead, RequestPlan } from "../../src/blind/types.ts";

const FAKE = {
  AWS_ACCESS_KEY_ID: "AKIAFAKEKEYID0000001",
  AWS_SECRET_ACCESS_KEY: "fakeSecretAccessKey/0001+abcdefghijklmnopq",
  AWS_SESSION_TOKEN: "FakeSessionToken0001//abc+def==",
  OTHER_SECRET: "fake-other-secret-0001",
  ALT_ACCESS_KEY_ID: "AKIAFAKEALTKEY000002",
  ALT_SECRET_ACCESS_KEY: "fakeAltSecretAccessKey/0002+abcdefghijklm",
  LONE_ACCESS_KEY_ID: "AKIAFAKELONEKEY00003",
  WEIRD_KEY: "AKIAFAKEWEIRDKEY0004",
};
const HOSTS: Record<keyof typeof FAKE, string[]> = {
  AWS_ACCESS_KEY_ID: ["*.amazonaws.com"],
  AWS_SECRET_ACCESS_KEY: ["*.amazonaws.com"],
  AWS_SESSION_TOKEN: ["*.amazonaws.com"],
  OTHER_SECRET: ["*.amazonaws.com"],
  ALT_ACCESS_KEY_ID: ["*.amazonaws.com"],
  ALT_SECRET_ACCESS_KEY: ["other.example"],
  LONE_ACCESS_KEY_ID: ["*.amazonaws.com"],
  WEIRD_KEY: ["*.amazonaws.com"],
};
type Name = keyof typeof FAKE;
const table = new TokenTable(
  mintTokens((Object.keys(FAKE) as Name[]).map((name) => ({ name, value: new SecretValue(FAKE[name]), hosts: HOSTS[name], tokenFormat: "opaque" as const,
    // The AWS pairs keep their default placement (the key id in a header, the secret key nowhere); the other
    // secret opts in everywhere, since these tests put it in a body and a query.
    ...(name === "OTHER_SECRET" ? { swap: PLACEMENTS } : {}),
  }))),
);
const tok = (name: Name) => table.byName(name)!.token;
const SIGNING_DATE = new Date("2026-01-15T10:20:30Z");

class Sha256 {
  private readonly h: ReturnType<typeof createHash> | ReturnType<typeof createHmac>;
  constructor(secret?: string | Uint8Array) {
    this.h = secret ? createHmac("sha256", secret) : createHash("sha256");
  }
  update(data: string | Uint8Array) {
    this.h.update(data);
  }
  async digest() {
    return new Uint8Array(this.h.digest());
  }
  reset() {}
}

interface SdkRequest {
  method: string;
  hostname: string;
  path: string;
  query?: Record<string, string>;
  headers: Record<string, string>;
  body?: string;
}
interface SignOptions {
  service: string;
  keyId: string;
  secret: string;
  s3?: boolean;
}

function signer(o: SignOptions) {
  return new SignatureV4({
    service: o.service,
    region: "us-east-1",
    credentials: { accessKeyId: o.keyId, secretAccessKey: o.secret },
    sha256: Sha256 as never,
    uriEscapePath: !o.s3,
    applyChecksum: !!o.s3,
  });
}

async function sdkSign(req: SdkRequest, o: SignOptions): Promise<SdkRequest> {
  const headers: Record<string, string> = { host: req.hostname, ...req.headers };
  if (req.body !== undefined) headers["content-length"] = String(Buffer.byteLength(req.body));
  return (await signer(o).sign({ protocol: "https:", ...req, headers } as never, { signingDate: SIGNING_DATE })) as unknown as SdkRequest;
}

/** The request as it goes on the wire (the SDK's query serialisation: strict percent-encoding). */
function toHead(req: SdkRequest): RequestHead {
  const query = Object.entries(req.query ?? {})
    .map(([k, v]) => `${percentEncode(k)}=${percentEncode(v)}`)
    .join("&");
  return { method: req.method, target: query ? `${req.path}?${query}` : req.path, version: "HTTP/1.1", headers: Object.entries(req.headers) };
}

const dest = (host: string): Destination => ({ host, port: 443, tls: true });
const header = (h: RequestHead, name: string) => h.headers.find(([n]) => n.toLowerCase() === name)?.[1];
const tokenCreds = { keyId: tok("AWS_ACCESS_KEY_ID"), secret: tok("AWS_SECRET_ACCESS_KEY") };
const realCreds = { keyId: FAKE.AWS_ACCESS_KEY_ID, secret: FAKE.AWS_SECRET_ACCESS_KEY };
const ALL = Object.values(FAKE);

function plan(p: RequestPlan | Refusal): RequestPlan {
  if (isRefusal(p)) throw new Error(`unexpected refusal: ${p.reason}`);
  return p;
}
function refused(p: RequestPlan | Refusal | Uint8Array | RequestHead): Refusal {
  if (!isRefusal(p)) throw new Error("expected a refusal");
  expect(ALL.some((v) => p.reason.includes(v))).toBe(false);
  return p;
}
type Buffered = Extract<BodyPlan, { kind: "buffer" }>;
function finish(p: RequestPlan, body: string): { head: RequestHead; body: string } {
  expect(p.body.kind).toBe("buffer");
  const b = p.body as Buffered;
  const out = b.rewrite(new TextEncoder().encode(body));
  if (isRefusal(out)) throw new Error(out.reason);
  const h = b.finishHead!(out);
  if (isRefusal(h)) throw new Error(h.reason);
  return { head: h, body: new TextDecoder().decode(out) };
}

describe("SigV4 signing (spec)", () => {
  test("reproduces AWS's published example signature (IAM ListUsers)", () => {
    const h: RequestHead = {
      method: "GET",
      target: "/?Action=ListUsers&Version=2010-05-08",
      version: "HTTP/1.1",
      headers: [
        ["Content-Type", "application/x-www-form-urlencoded; charset=utf-8"],
        ["Host", "iam.amazonaws.com"],
        ["X-Amz-Date", "20150830T123600Z"],
      ],
    };
    const auth = parseSigV4Authorization(
      "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/iam/aws4_request, SignedHeaders=content-type;host;x-amz-date, Signature=" + "0".repeat(64),
    )!;
    const emptyHash = createHash("sha256").update("").digest("hex");
    expect(sigV4Signature(h, auth, "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", emptyHash, "double-encoded")).toBe(
      "5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7",
    );
  });
});

describe("SigV4 re-signing", () => {
  test("JSON POST with a session token and another token in the body: body hashed, re-signed like the SDK would", async () => {
    const host = "secretsmanager.us-east-1.amazonaws.com";
    const make = (session: string, secret: string): SdkRequest => ({
      method: "POST",
      hostname: host,
      path: "/",
      headers: { "content-type": "application/x-amz-json-1.1", "x-amz-target": "secretsmanager.GetSecretValue", "x-amz-security-token": session },
      body: JSON.stringify({ SecretId: "fake/secret", ClientRequestToken: secret }),
    });
    const child = await sdkSign(make(tok("AWS_SESSION_TOKEN"), tok("OTHER_SECRET")), { service: "secretsmanager", ...tokenCreds });
    const p = plan(planRequest(dest(host), toHead(child), table));
    expect(p.swapped.sort()).toEqual(["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"]);
    const out = finish(p, child.body!);

    const expected = await sdkSign(make(FAKE.AWS_SESSION_TOKEN, FAKE.OTHER_SECRET), { service: "secretsmanager", ...realCreds });
    expect(out.body).toBe(expected.body!);
    expect(header(out.head, "authorization")).toBe(expected.headers.authorization!);
    expect(header(out.head, "x-amz-security-token")).toBe(FAKE.AWS_SESSION_TOKEN);
    expect(header(out.head, "content-length")).toBe(expected.headers["content-length"]!);
    expect((p.body as Buffered).audit!().swapped).toEqual(["OTHER_SECRET"]);
  });

  test("S3 GET: the path is signed as sent (single-encoded), the declared payload hash kept, signed at once", async () => {
    const host = "fake-bucket.s3.us-east-1.amazonaws.com";
    const req: SdkRequest = { method: "GET", hostname: host, path: "/dir/my%20file%2Bv1.txt", query: { "versionId": "fake v1" }, headers: {} };
    const child = await sdkSign(req, { service: "s3", s3: true, ...tokenCreds });
    expect(child.headers["x-amz-content-sha256"]).toMatch(/^[0-9a-f]{64}$/);
    const p = plan(planRequest(dest(host), toHead(child), table));
    expect(p.body.kind).toBe("none");
    const expected = await sdkSign(req, { service: "s3", s3: true, ...realCreds });
    expect(header(p.head, "authorization")).toBe(expected.headers.authorization!);
  });

  test("a non-S3 service double-encodes the path; a token in the query is swapped before signing", async () => {
    const host = "abc123.execute-api.us-east-1.amazonaws.com";
    const make = (v: string): SdkRequest => ({ method: "GET", hostname: host, path: "/prod/a%20b/c", query: { key: v, z: "1 2" }, headers: {} });
    const child = await sdkSign(make(tok("OTHER_SECRET")), { service: "execute-api", ...tokenCreds });
    const p = plan(planRequest(dest(host), toHead(child), table));
    const expected = await sdkSign(make(FAKE.OTHER_SECRET), { service: "execute-api", ...realCreds });
    expect(p.head.target).toBe(toHead(expected).target);
    expect(header(p.head, "authorization")).toBe(expected.headers.authorization!);
  });

  test("S3 PUT of a text body with a token: body rewritten, X-Amz-Content-Sha256 recomputed, re-signed", async () => {
    const host = "fake-bucket.s3.amazonaws.com";
    const make = (v: string): SdkRequest => ({ method: "PUT", hostname: host, path: "/config.env", headers: { "content-type": "text/plain" }, body: `TOKEN=${v}\n` });
    const child = await sdkSign(make(tok("OTHER_SECRET")), { service: "s3", s3: true, ...tokenCreds });
    const p = plan(planRequest(dest(host), toHead(child), table));
    const out = finish(p, child.body!);
    const expected = await sdkSign(make(FAKE.OTHER_SECRET), { service: "s3", s3: true, ...realCreds });
    expect(out.body).toBe(expected.body!);
    expect(header(out.head, "x-amz-content-sha256")).toBe(expected.headers["x-amz-content-sha256"]!);
    expect(header(out.head, "authorization")).toBe(expected.headers.authorization!);
  });

  test("a chunked body with UNSIGNED-PAYLOAD is signed at once and keeps streaming", async () => {
    const host = "fake-bucket.s3.amazonaws.com";
    const req: SdkRequest = {
      method: "PUT",
      hostname: host,
      path: "/log.txt",
      headers: { "content-type": "text/plain", "transfer-encoding": "chunked", "x-amz-content-sha256": "UNSIGNED-PAYLOAD" },
    };
    const child = await sdkSign(req, { service: "s3", s3: true, ...tokenCreds });
    const p = plan(planRequest(dest(host), toHead(child), table));
    expect(p.body.kind).toBe("stream");
    const expected = await sdkSign(req, { service: "s3", s3: true, ...realCreds });
    expect(header(p.head, "authorization")).toBe(expected.headers.authorization!);
  });

  test("a binary Content-Length body without a declared hash is buffered to be hashed, and left byte for byte", async () => {
    const host = "lambda.us-east-1.amazonaws.com";
    const body = `\u0001binary ${tok("OTHER_SECRET")}`;
    const req: SdkRequest = { method: "POST", hostname: host, path: "/2015-03-31/functions/f/invocations", headers: { "content-type": "application/octet-stream" }, body };
    const child = await sdkSign(req, { service: "lambda", ...tokenCreds });
    const p = plan(planRequest(dest(host), toHead(child), table));
    const out = finish(p, body);
    expect(out.body).toBe(body); // not textual: the token stays inert
    const expected = await sdkSign(req, { service: "lambda", ...realCreds });
    expect(header(out.head, "authorization")).toBe(expected.headers.authorization!);
  });
});

describe("SigV4 refusals", () => {
  const host = "sts.amazonaws.com";
  const get = (query: Record<string, string> = { Action: "GetCallerIdentity", Version: "2011-06-15" }): SdkRequest => ({ method: "GET", hostname: host, path: "/", query, headers: {} });

  test("a presigned URL with a token as X-Amz-Credential", async () => {
    const presigned = (await signer({ service: "sts", ...tokenCreds }).presign({ protocol: "https:", ...get(), headers: { host } } as never, {
      signingDate: SIGNING_DATE,
      expiresIn: 300,
    })) as unknown as SdkRequest;
    const r = refused(planRequest(dest(host), toHead(presigned), table));
    expect(r.secret).toBe("AWS_ACCESS_KEY_ID");
    expect(r.reason).toContain("presigned");
  });

  test("aws-chunked signed uploads (STREAMING-AWS4-HMAC-SHA256-PAYLOAD)", async () => {
    const req: SdkRequest = {
      method: "PUT",
      hostname: "b.s3.amazonaws.com",
      path: "/k",
      headers: { "content-encoding": "aws-chunked", "x-amz-content-sha256": "STREAMING-AWS4-HMAC-SHA256-PAYLOAD", "x-amz-decoded-content-length": "10", "transfer-encoding": "chunked" },
    };
    const child = await sdkSign(req, { service: "s3", s3: true, ...tokenCreds });
    const r = refused(planRequest(dest("b.s3.amazonaws.com"), toHead(child), table));
    expect(r.reason).toContain("STREAMING-AWS4-HMAC-SHA256-PAYLOAD");
  });

  test("a key pair headed to a host it is not bound to", async () => {
    const child = await sdkSign({ ...get(), hostname: "evil.test" }, { service: "sts", ...tokenCreds });
    const r = refused(planRequest(dest("evil.test"), toHead(child), table));
    expect(r.secret).toBe("AWS_ACCESS_KEY_ID");
    expect(r.reason).toContain("may only be sent to *.amazonaws.com");
  });

  test("a secret key bound elsewhere than its key id", async () => {
    const child = await sdkSign(get(), { service: "sts", keyId: tok("ALT_ACCESS_KEY_ID"), secret: tok("ALT_SECRET_ACCESS_KEY") });
    expect(refused(planRequest(dest(host), toHead(child), table)).secret).toBe("ALT_SECRET_ACCESS_KEY");
  });

  test("a key id with no blinded secret key to pair with", async () => {
    const child = await sdkSign(get(), { service: "sts", keyId: tok("LONE_ACCESS_KEY_ID"), secret: "fake-unblinded-secret" });
    const r = refused(planRequest(dest(host), toHead(child), table));
    expect(r.reason).toContain("no blinded LONE_SECRET_ACCESS_KEY");
  });

  test("a key id whose secret's name does not end in ACCESS_KEY_ID", async () => {
    const child = await sdkSign(get(), { service: "sts", keyId: tok("WEIRD_KEY"), secret: tok("AWS_SECRET_ACCESS_KEY") });
    expect(refused(planRequest(dest(host), toHead(child), table)).reason).toContain("ACCESS_KEY_ID");
  });

  test("a request changed after it was signed is not re-signed", async () => {
    const child = await sdkSign(get(), { service: "sts", ...tokenCreds });
    const h = toHead(child);
    const tampered = { ...h, target: h.target.replace("GetCallerIdentity", "AssumeRole") };
    expect(plan(planRequest(dest(host), h, table)).swapped.length).toBe(2); // the untouched one is fine
    expect(refused(planRequest(dest(host), tampered, table)).reason).toContain("does not verify");
  });

  test("SigV4a (AWS4-ECDSA-P256-SHA256) with a token key id", () => {
    const value = `AWS4-ECDSA-P256-SHA256 Credential=${tok("AWS_ACCESS_KEY_ID")}/20260115/s3/aws4_request, SignedHeaders=host;x-amz-date, Signature=3045`;
    const h: RequestHead = { method: "GET", target: "/", version: "HTTP/1.1", headers: [["Host", host], ["X-Amz-Date", "20260115T102030Z"], ["Authorization", value]] };
    const r = refused(planRequest(dest(host), h, table));
    expect(r.secret).toBe("AWS_ACCESS_KEY_ID");
    expect(r.reason).toContain("only AWS4-HMAC-SHA256");
  });

  test("a chunked body without a declared payload hash cannot be hashed in advance", async () => {
    const req: SdkRequest = { method: "POST", hostname: host, path: "/", headers: { "content-type": "application/json", "transfer-encoding": "chunked" } };
    const child = await sdkSign(req, { service: "sts", ...tokenCreds });
    expect(refused(planRequest(dest(host), toHead(child), table)).reason).toContain("streamed");
  });
});
