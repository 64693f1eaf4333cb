// AWS SigV4 in blind mode. The child signs with token credentials (its AWS_ACCESS_KEY_ID and
// AWS_SECRET_ACCESS_KEY hold tokens); the signature is an HMAC over the request, so swapping the key id
// is not enough — the request must be signed again with the real pair.
//
// Pairing: the secret whose token is the Credential's key id must be named "<P>ACCESS_KEY_ID"; its
// secret key is the blinded secret "<P>SECRET_ACCESS_KEY" (AWS_ACCESS_KEY_ID ↔ AWS_SECRET_ACCESS_KEY).
// Both must be bound to the destination. A session token in X-Amz-Security-Token is an ordinary header
// swap (headers.ts) that happens before signing, so the new signature covers the real one.
//
// kz re-signs only what the child signed: the child's signature is first verified with the token pair
// over the request as sent. That also tells which canonical URI form the client used (S3 signs the
// path as sent, other services double-encode it), so the re-signed request matches it exactly. Then the
// final head (tokens swapped, body rewritten) is signed with the real pair, same scope, same date, same
// signed headers.
//
// The payload hash is X-Amz-Content-Sha256 when present (a hex hash is recomputed if the body changed;
// UNSIGNED-PAYLOAD and STREAMING-UNSIGNED-PAYLOAD-TRAILER are kept), else the hash of the body — which
// then has to be buffered: a Content-Length body gets a buffer plan whose finishHead signs, a chunked
// one is refused. Refused outright: presigned URLs (X-Amz-Credential=<token> in the query: the
// signature lives in a URL the child built), aws-chunked signed uploads (STREAMING-AWS4-HMAC-SHA256-
// PAYLOAD: every chunk carries a signature made with the secret key), and SigV4a.

import type { BlindSecret, BodyAudit, BodyPlan, Refusal, RequestHead } from "../types.ts";
import { BODY_LIMIT, bodyFraming } from "./body.ts";
import { type SwapContext, isRefusal, refusal } from "./context.ts";
import { percentDecode } from "./encode.ts";
import { headerValues, withHeader } from "./head.ts";
import {
  type PathStyle,
  type SigV4Authorization,
  type SigV4Credentials,
  formatSigV4Authorization,
  parseSigV4Authorization,
  sameSignature,
  sha256Hex,
  sigV4Signature,
} from "./sigv4-sign.ts";

const TRAILER_PAYLOAD = "STREAMING-UNSIGNED-PAYLOAD-TRAILER";
const HEX_HASH = /^[0-9a-f]{64}$/;

/** Refuses a presigned URL whose X-Amz-Credential holds a token. */
export function refusePresignedUrl(target: string, ctx: SwapContext): Refusal | undefined {
  const q = target.indexOf("?");
  if (q < 0) return undefined;
  for (const param of target.slice(q + 1).split("&")) {
    const eq = param.indexOf("=");
    if (eq < 0 || percentDecode(param.slice(0, eq)).toLowerCase() !== "x-amz-credential") continue;
    const secret = ctx.table.findTokens(percentDecode(param.slice(eq + 1)))[0];
    if (secret) {
      return refusal(
        secret.name,
        `${secret.name}: presigned AWS URLs cannot be re-signed by kz (the signature is part of the URL the child built); send header-signed requests instead`,
      );
    }
  }
  return undefined;
}

interface SigV4Job {
  auth: SigV4Authorization;
  keyId: BlindSecret;
  secretKey: BlindSecret;
  /** X-Amz-Content-Sha256 as the child sent it. */
  declared?: string;
}

/**
 * Re-signs a SigV4 request whose key id is a token. `original` is the head as the child sent it, `head`
 * the head after the other processors swapped tokens. Returns undefined when the request is not SigV4
 * with a token key id (nothing to do), else the head and body plan to use, or a Refusal.
 */
export function planSigV4(
  original: RequestHead,
  head: RequestHead,
  body: BodyPlan,
  ctx: SwapContext,
  limit = BODY_LIMIT,
): { head: RequestHead; body: BodyPlan } | Refusal | undefined {
  const job = sigV4Job(original, ctx);
  if (job === undefined || isRefusal(job)) return job;
  ctx.swapped.add(job.keyId.name);
  ctx.swapped.add(job.secretKey.name);
  const { declared } = job;

  if (body.kind === "none") return signed(job, original, head, declared ?? sha256Hex(""));
  if (body.kind === "passthrough" || body.kind === "stream") {
    if (declared === undefined) {
      if (body.kind === "passthrough" && bodyFraming(head) === "length") {
        return { head, body: hashingBufferPlan(job, original, head, limit, (b) => b) };
      }
      return refusal(job.keyId.name, `${job.keyId.name}: kz must hash this AWS request's body to re-sign it, but the body is streamed; set X-Amz-Content-Sha256 or send a Content-Length body`);
    }
    // A body whose hash is signed must reach AWS byte for byte: it passes through unrewritten.
    const plan: BodyPlan = HEX_HASH.test(declared) ? { kind: "passthrough" } : body;
    return signed(job, original, head, declared, plan);
  }
  return { head, body: hashingBufferPlan(job, original, head, body.limit, body.rewrite, body.audit) };
}

/** Finds the token pair behind a SigV4 Authorization header, checking both may go to this destination. */
function sigV4Job(original: RequestHead, ctx: SwapContext): SigV4Job | Refusal | undefined {
  const values = headerValues(original, "authorization").filter((v) => /^\s*AWS4-/i.test(v));
  const withToken = values.filter((v) => ctx.table.findTokens(v).length > 0);
  if (withToken.length === 0) return undefined;
  const first = ctx.table.findTokens(withToken[0]!)[0]!;
  if (withToken.length > 1 || values.length > 1) return refusal(first.name, `${first.name}: the request carries more than one AWS Authorization header`);
  const auth = parseSigV4Authorization(withToken[0]!);
  if (!auth) return refusal(first.name, `${first.name}: kz re-signs only AWS4-HMAC-SHA256 Authorization headers (not SigV4a, not malformed ones)`);
  const keyId = ctx.table.byToken(auth.accessKeyId);
  if (!keyId) return refusal(first.name, `${first.name}: an AWS Authorization header carries a token somewhere other than the access key id`);
  const refusedKey = ctx.check([keyId], "header"); // the key id sits in the Authorization header
  if (refusedKey) return refusedKey;
  if (!keyId.name.endsWith("ACCESS_KEY_ID")) {
    return refusal(keyId.name, `${keyId.name} is used as an AWS access key id; kz pairs keys by name, so it must be called <P>ACCESS_KEY_ID next to a blinded <P>SECRET_ACCESS_KEY`);
  }
  const pairName = `${keyId.name.slice(0, -"ACCESS_KEY_ID".length)}SECRET_ACCESS_KEY`;
  const secretKey = ctx.table.byName(pairName);
  if (!secretKey) {
    return refusal(keyId.name, `${keyId.name} is blinded but no blinded ${pairName} pairs with it, so kz cannot re-sign the request`);
  }
  // The secret key is never placed in the request (kz signs with it): only its host binding is checked.
  const refusedSecret = ctx.checkBinding([secretKey]);
  if (refusedSecret) return refusedSecret;
  const declared = headerValues(original, "x-amz-content-sha256")[0]?.trim();
  if (declared?.startsWith("STREAMING-") && declared !== TRAILER_PAYLOAD) {
    return refusal(
      keyId.name,
      `${keyId.name}: aws-chunked signed uploads (${declared}) sign every chunk with the secret key and cannot be re-signed by kz; turn off chunked signing in the client (e.g. a Content-Length upload)`,
    );
  }
  return { auth, keyId, secretKey, declared };
}

/** The path style under which the child's own signature verifies with the token pair, if any. */
function verifiedPathStyle(job: SigV4Job, original: RequestHead, payloadHash: string): PathStyle | undefined {
  const styles: PathStyle[] = job.auth.service.startsWith("s3") ? ["as-sent", "double-encoded"] : ["double-encoded", "as-sent"];
  return styles.find((style) => {
    const expected = sigV4Signature(original, job.auth, job.secretKey.token, payloadHash, style);
    return expected !== undefined && sameSignature(expected, job.auth.signature);
  });
}

/** Verifies the child's signature, then signs `head` with the real pair. */
function signedHead(job: SigV4Job, original: RequestHead, originalHash: string, head: RequestHead, finalHash: string): RequestHead | Refusal {
  const style = verifiedPathStyle(job, original, originalHash);
  if (!style) {
    return refusal(
      job.keyId.name,
      `${job.keyId.name}: the request's AWS signature does not verify with its token credentials, so kz will not re-sign it (was the request changed after it was signed?)`,
    );
  }
  return resignSigV4(head, finalHash, job.auth, { accessKeyId: job.keyId.value.reveal(), secretAccessKey: job.secretKey.value.reveal() }, style);
}

/**
 * `head` signed with `creds` under `auth`'s scope and signed headers: the Authorization header replaced.
 * `payload` is the payload hash, or the body to hash.
 */
export function resignSigV4(head: RequestHead, payload: string | Uint8Array, auth: SigV4Authorization, creds: SigV4Credentials, style: PathStyle): RequestHead | Refusal {
  const payloadHash = typeof payload === "string" ? payload : sha256Hex(payload);
  const signature = sigV4Signature(head, auth, creds.secretAccessKey, payloadHash, style);
  if (signature === undefined) return refusal("", "the AWS request has neither X-Amz-Date nor Date, so it cannot be signed");
  if (/[\r\n\0]/.test(creds.accessKeyId)) return refusal("", "the AWS access key id contains a line break and cannot go in a header");
  return withHeader(head, "authorization", formatSigV4Authorization(auth, creds.accessKeyId, signature));
}

function signed(job: SigV4Job, original: RequestHead, head: RequestHead, payloadHash: string, body: BodyPlan = { kind: "none" }): { head: RequestHead; body: BodyPlan } | Refusal {
  const result = signedHead(job, original, payloadHash, head, payloadHash);
  return isRefusal(result) ? withSecretName(result, job) : { head: result, body };
}

/** A buffer plan that rewrites the body, then (finishHead) fixes Content-Length and the payload hash and signs. */
function hashingBufferPlan(
  job: SigV4Job,
  original: RequestHead,
  head: RequestHead,
  limit: number,
  rewrite: (body: Uint8Array) => Uint8Array | Refusal,
  audit?: () => BodyAudit,
): BodyPlan {
  let originalHash: string | undefined;
  return {
    kind: "buffer",
    limit,
    ...(audit ? { audit } : {}),
    rewrite: (body) => {
      originalHash = job.declared ?? sha256Hex(body);
      return rewrite(body);
    },
    finishHead: (body) => {
      if (originalHash === undefined) throw new Error("finishHead called before rewrite");
      let final = headerValues(head, "content-length").length ? withHeader(head, "content-length", String(body.length)) : head;
      let finalHash = job.declared ?? sha256Hex(body);
      if (job.declared !== undefined && HEX_HASH.test(job.declared)) {
        finalHash = sha256Hex(body);
        final = withHeader(final, "x-amz-content-sha256", finalHash);
      }
      const result = signedHead(job, original, originalHash, final, finalHash);
      return isRefusal(result) ? withSecretName(result, job) : result;
    },
  };
}

function withSecretName(r: Refusal, job: SigV4Job): Refusal {
  return r.secret ? r : { ...r, secret: job.keyId.name, reason: `${job.keyId.name}: ${r.reason}` };
}
