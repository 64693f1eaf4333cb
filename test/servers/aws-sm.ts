// A fake AWS Secrets Manager for tests: speaks the real JSON 1.1 protocol (POST /, X-Amz-Target
// secretsmanager.GetSecretValue) and verifies every request's AWS Signature Version 4 from scratch with
// node:crypto, so the real SDK client talks to it exactly as it would to AWS. Rejections are recorded
// so tests can prove that a bad signature was actually refused by the server.

import { createHash, createHmac, timingSafeEqual } from "node:crypto";

export interface FakeCredentials {
  accessKeyId: string;
  secretAccessKey: string;
}

export interface FakeSecretVersion {
  versionId: string;
  stages: string[];
  string?: string;
  binary?: Uint8Array;
}

export interface FakeSecret {
  name: string;
  versions?: FakeSecretVersion[];
  /** Answer every read of this secret with this service error instead of a value. */
  error?: "AccessDeniedException" | "DecryptionFailure" | "InvalidRequestException";
  /** Never answer (until the server stops): for abort tests. `received` resolves when it is asked. */
  hang?: boolean;
}

export interface Rejection {
  type: string;
  reason: string;
}

export interface AwsSmServer {
  url: string;
  region: string;
  /** SecretIds of requests that passed signature verification. */
  reads: string[];
  /** Requests refused before reaching a secret (bad signature, unknown key…). */
  rejections: Rejection[];
  /** Resolves once a request for a `hang` secret has arrived. */
  received: Promise<void>;
  arnOf(name: string): string;
  stop(): void;
}

class AwsError extends Error {
  constructor(
    readonly type: string,
    message: string,
    readonly status = 400,
  ) {
    super(message);
  }
}

const SERVICE = "secretsmanager";
const ACCOUNT = "123456789012";
const MAX_SKEW_MS = 15 * 60 * 1000;

const serviceErrors: Record<NonNullable<FakeSecret["error"]>, string> = {
  AccessDeniedException: `User: arn:aws:iam::${ACCOUNT}:user/kz-test is not authorized to perform: secretsmanager:GetSecretValue because no identity-based policy allows the secretsmanager:GetSecretValue action`,
  DecryptionFailure: "Secrets Manager can't decrypt the protected secret text using the provided KMS key.",
  InvalidRequestException: "You can't perform this operation on the secret because it was marked for deletion.",
};

const sha256Hex = (data: string | Uint8Array) => createHash("sha256").update(data).digest("hex");
const hmac = (key: string | Buffer, data: string) => createHmac("sha256", key).update(data).digest();

/** Parses `AWS4-HMAC-SHA256 Credential=AKID/DATE/REGION/SERVICE/aws4_request, SignedHeaders=a;b, Signature=hex`. */
function parseAuthorization(header: string | null) {
  const match = header?.match(/^AWS4-HMAC-SHA256 Credential=([^,\s]+),\s*SignedHeaders=([^,\s]+),\s*Signature=([0-9a-f]{64})$/);
  if (!match) throw new AwsError("IncompleteSignatureException", "Authorization header requires Credential, SignedHeaders and Signature.", 403);
  const [accessKeyId, date, region, service, terminator] = match[1]!.split("/");
  return { accessKeyId: accessKeyId!, date, region, service, terminator, signedHeaders: match[2]!, signature: match[3]! };
}

function canonicalQuery(url: URL): string {
  const enc = (s: string) => encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
  return [...url.searchParams].map(([k, v]) => `${enc(k)}=${enc(v)}`).sort().join("&");
}

/** Recomputes the SigV4 signature of `req` and throws the error AWS would return if it does not match. */
function verifySignature(req: Request, body: Uint8Array, region: string, keys: Map<string, string>): string {
  const auth = parseAuthorization(req.headers.get("authorization"));
  const secretKey = keys.get(auth.accessKeyId);
  if (secretKey === undefined) throw new AwsError("UnrecognizedClientException", "The security token included in the request is invalid.", 403);

  const amzDate = req.headers.get("x-amz-date") ?? "";
  if (!/^\d{8}T\d{6}Z$/.test(amzDate)) throw new AwsError("IncompleteSignatureException", "X-Amz-Date is missing or malformed.", 403);
  const when = Date.parse(amzDate.replace(/^(\d{4})(\d\d)(\d\d)T(\d\d)(\d\d)(\d\d)Z$/, "$1-$2-$3T$4:$5:$6Z"));
  if (Math.abs(Date.now() - when) > MAX_SKEW_MS) throw new AwsError("InvalidSignatureException", `Signature expired: ${amzDate} is now earlier or later than allowed.`, 403);
  if (auth.date !== amzDate.slice(0, 8) || auth.region !== region || auth.service !== SERVICE || auth.terminator !== "aws4_request") {
    throw new AwsError("InvalidSignatureException", `Credential should be scoped to ${amzDate.slice(0, 8)}/${region}/${SERVICE}/aws4_request.`, 403);
  }
  const signed = auth.signedHeaders.split(";");
  if (!signed.includes("host") || !signed.includes("x-amz-date")) {
    throw new AwsError("InvalidSignatureException", "Signed headers must include host and x-amz-date.", 403);
  }

  const url = new URL(req.url);
  const canonicalHeaders = signed.map((name) => `${name}:${(req.headers.get(name) ?? "").trim().replace(/\s+/g, " ")}\n`).join("");
  const canonicalRequest = [req.method, url.pathname, canonicalQuery(url), canonicalHeaders, auth.signedHeaders, sha256Hex(body)].join("\n");
  const scope = `${auth.date}/${region}/${SERVICE}/aws4_request`;
  const stringToSign = ["AWS4-HMAC-SHA256", amzDate, scope, sha256Hex(canonicalRequest)].join("\n");
  const signingKey = hmac(hmac(hmac(hmac(`AWS4${secretKey}`, auth.date!), region), SERVICE), "aws4_request");
  const expected = hmac(signingKey, stringToSign);
  if (!timingSafeEqual(expected, Buffer.from(auth.signature, "hex"))) {
    throw new AwsError(
      "InvalidSignatureException",
      "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.",
      403,
    );
  }
  return auth.accessKeyId;
}

function getSecretValue(secrets: FakeSecret[], region: string, input: { SecretId?: string; VersionStage?: string; VersionId?: string }) {
  const arnOf = (name: string) => `arn:aws:secretsmanager:${region}:${ACCOUNT}:secret:${name}-AbCdEf`;
  const secret = secrets.find((s) => s.name === input.SecretId || arnOf(s.name) === input.SecretId);
  if (!secret) throw new AwsError("ResourceNotFoundException", "Secrets Manager can't find the specified secret.");
  if (secret.error) throw new AwsError(secret.error, serviceErrors[secret.error]);

  const stage = input.VersionId === undefined ? (input.VersionStage ?? "AWSCURRENT") : input.VersionStage;
  const version = secret.versions?.find((v) => (input.VersionId === undefined || v.versionId === input.VersionId) && (stage === undefined || v.stages.includes(stage)));
  if (!version) throw new AwsError("ResourceNotFoundException", `Secrets Manager can't find the specified secret value for staging label: ${stage}`);
  return {
    ARN: arnOf(secret.name),
    Name: secret.name,
    VersionId: version.versionId,
    VersionStages: version.stages,
    CreatedDate: 1_700_000_000.5,
    ...(version.string !== undefined ? { SecretString: version.string } : {}),
    ...(version.binary !== undefined ? { SecretBinary: Buffer.from(version.binary).toString("base64") } : {}),
  };
}

const jsonResponse = (status: number, body: unknown, type?: string) =>
  new Response(JSON.stringify(body), {
    status,
    headers: {
      "content-type": "application/x-amz-json-1.1",
      "x-amzn-requestid": crypto.randomUUID(),
      ...(type ? { "x-amzn-errortype": type } : {}),
    },
  });

export function startAwsSmServer(opts: { region: string; credentials: FakeCredentials[]; secrets: FakeSecret[] }): AwsSmServer {
  const keys = new Map(opts.credentials.map((c) => [c.accessKeyId, c.secretAccessKey]));
  const reads: string[] = [];
  const rejections: Rejection[] = [];
  let signalReceived!: () => void;
  const received = new Promise<void>((resolve) => (signalReceived = resolve));

  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    async fetch(req) {
      const body = new Uint8Array(await req.arrayBuffer());
      try {
        if (req.method !== "POST" || new URL(req.url).pathname !== "/") throw new AwsError("UnknownOperationException", "Only POST / is served.");
        if (req.headers.get("content-type") !== "application/x-amz-json-1.1") throw new AwsError("SerializationException", "Expected application/x-amz-json-1.1.");
        try {
          verifySignature(req, body, opts.region, keys);
        } catch (e) {
          if (e instanceof AwsError) rejections.push({ type: e.type, reason: e.message });
          throw e;
        }
        const target = req.headers.get("x-amz-target");
        if (target !== "secretsmanager.GetSecretValue") throw new AwsError("UnknownOperationException", `Operation ${target} is not served.`);
        const input = JSON.parse(new TextDecoder().decode(body));
        reads.push(input.SecretId);
        if (opts.secrets.find((s) => s.name === input.SecretId)?.hang) {
          signalReceived();
          return new Promise<Response>(() => {}); // answered never; the client must abort
        }
        return jsonResponse(200, getSecretValue(opts.secrets, opts.region, input));
      } catch (e) {
        if (!(e instanceof AwsError)) throw e;
        return jsonResponse(e.status, { __type: e.type, message: e.message }, e.type);
      }
    },
  });

  return {
    url: `http://127.0.0.1:${server.port}`,
    region: opts.region,
    reads,
    rejections,
    received,
    arnOf: (name) => `arn:aws:secretsmanager:${opts.region}:${ACCOUNT}:secret:${name}-AbCdEf`,
    stop: () => server.stop(true),
  };
}
