// An independent AWS Signature Version 4 verifier for the test servers (STS, the S3-style upstream):
// recomputes a request's signature from scratch with node:crypto under the credentials its key id
// names, and, for temporary credentials, requires X-Amz-Security-Token to be the session token AND
// among the signed headers. The payload hash is X-Amz-Content-Sha256 when sent (S3), else the body's.
// Written apart from src/blind's signer on purpose: a test oracle must not share the code it checks.

import { createHash, createHmac, timingSafeEqual } from "node:crypto";

export interface SigningKey {
  secretAccessKey: string;
  /** Set for temporary (STS) credentials: the request must carry and sign it. */
  sessionToken?: string;
}

export class SigV4Error extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

const MAX_SKEW_MS = 15 * 60 * 1000;
const sha256Hex = (data: string | Uint8Array) => createHash("sha256").update(data).digest("hex");
const hmac = (key: string | Buffer, data: string) => createHmac("sha256", key).update(data).digest();
const strict = (s: string) => encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);

function canonicalQuery(url: URL): string {
  return [...url.searchParams].map(([k, v]) => `${strict(k)}=${strict(v)}`).sort().join("&");
}

/** Verifies `req`; returns the access key id it was signed with, or throws SigV4Error (AWS's codes). */
export function verifySigV4(req: Request, body: Uint8Array, opts: { region: string; service: string; keys: Map<string, SigningKey> }): string {
  const header = req.headers.get("authorization");
  const match = header?.match(/^AWS4-HMAC-SHA256 Credential=([^,\s]+),\s*SignedHeaders=([^,\s]+),\s*Signature=([0-9a-f]{64})$/);
  if (!match) throw new SigV4Error("IncompleteSignature", "Authorization header requires Credential, SignedHeaders and Signature.");
  const [accessKeyId, date, region, service, terminator] = match[1]!.split("/");
  const key = opts.keys.get(accessKeyId!);
  if (!key) throw new SigV4Error("InvalidClientTokenId", "The security token included in the request is invalid.");
  const amzDate = req.headers.get("x-amz-date") ?? "";
  if (!/^\d{8}T\d{6}Z$/.test(amzDate)) throw new SigV4Error("IncompleteSignature", "X-Amz-Date is missing or malformed.");
  const when = Date.parse(amzDate.replace(/^(\d{4})(\d\d)(\d\d)T(\d\d)(\d\d)(\d\d)Z$/, "$1-$2-$3T$4:$5:$6Z"));
  if (Math.abs(Date.now() - when) > MAX_SKEW_MS) throw new SigV4Error("SignatureDoesNotMatch", "Signature expired.");
  if (date !== amzDate.slice(0, 8) || region !== opts.region || service !== opts.service || terminator !== "aws4_request") {
    throw new SigV4Error("SignatureDoesNotMatch", `Credential should be scoped to ${amzDate.slice(0, 8)}/${opts.region}/${opts.service}/aws4_request.`);
  }
  const signed = match[2]!.split(";");
  if (!signed.includes("host") || !signed.includes("x-amz-date")) throw new SigV4Error("SignatureDoesNotMatch", "Signed headers must include host and x-amz-date.");
  if (key.sessionToken !== undefined) {
    if (req.headers.get("x-amz-security-token") !== key.sessionToken) throw new SigV4Error("InvalidToken", "The provided token is malformed or otherwise invalid.");
    if (!signed.includes("x-amz-security-token")) throw new SigV4Error("SignatureDoesNotMatch", "X-Amz-Security-Token must be signed.");
  }
  const url = new URL(req.url);
  const path = service === "s3" ? url.pathname : url.pathname.split("/").map((s) => strict(s)).join("/");
  const payloadHash = req.headers.get("x-amz-content-sha256") ?? sha256Hex(body);
  if (/^[0-9a-f]{64}$/.test(payloadHash) && payloadHash !== sha256Hex(body)) throw new SigV4Error("XAmzContentSHA256Mismatch", "The provided 'x-amz-content-sha256' header does not match what was computed.");
  const headers = signed.map((name) => `${name}:${(req.headers.get(name) ?? "").trim().replace(/\s+/g, " ")}\n`).join("");
  const canonical = [req.method, path, canonicalQuery(url), headers, match[2], payloadHash].join("\n");
  const scope = `${date}/${region}/${service}/aws4_request`;
  const toSign = ["AWS4-HMAC-SHA256", amzDate, scope, sha256Hex(canonical)].join("\n");
  const signingKey = hmac(hmac(hmac(hmac(`AWS4${key.secretAccessKey}`, date!), region!), service!), "aws4_request");
  if (!timingSafeEqual(hmac(signingKey, toSign), Buffer.from(match[3]!, "hex"))) {
    throw new SigV4Error("SignatureDoesNotMatch", "The request signature we calculated does not match the signature you provided.");
  }
  return accessKeyId!;
}
