// AWS Signature Version 4 (AWS4-HMAC-SHA256) as the spec defines it, over a RequestHead: parsing and
// formatting the Authorization header, the canonical request, the string to sign, the signing key and
// the signature. Pure; node:crypto's SHA-256 and HMAC only.
//
//   CanonicalRequest = Method \n CanonicalURI \n CanonicalQuery \n CanonicalHeaders \n SignedHeaders \n PayloadHash
//   StringToSign     = "AWS4-HMAC-SHA256" \n AmzDate \n Date/Region/Service/aws4_request \n hex(SHA256(CanonicalRequest))
//   Signature        = hex(HMAC(HMAC(HMAC(HMAC(HMAC("AWS4"+secret, Date), Region), Service), "aws4_request"), StringToSign))
//
// The canonical URI has two forms: every service but S3 normalises the path (drops empty, "." and ".."
// segments) and URI-encodes the wire path once more; S3 signs the path exactly as sent.

import { createHash, createHmac, timingSafeEqual } from "node:crypto";
import type { RequestHead } from "../types.ts";
import { percentDecode, percentEncode } from "./encode.ts";
import { headerValues } from "./head.ts";

export const SIGV4_ALGORITHM = "AWS4-HMAC-SHA256";
export const UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD";

export interface SigV4Authorization {
  accessKeyId: string;
  date: string; // YYYYMMDD
  region: string;
  service: string;
  signedHeaders: string[];
  signature: string;
}

export interface SigV4Credentials {
  accessKeyId: string;
  secretAccessKey: string;
}

export type PathStyle = "double-encoded" | "as-sent";

export function sha256Hex(data: string | Uint8Array): string {
  return createHash("sha256").update(data).digest("hex");
}

/** The parts of an `AWS4-HMAC-SHA256 Credential=…, SignedHeaders=…, Signature=…` header; undefined if malformed. */
export function parseSigV4Authorization(value: string): SigV4Authorization | undefined {
  const m = /^\s*AWS4-HMAC-SHA256\s+(.*)$/.exec(value);
  if (!m) return undefined;
  const fields = new Map<string, string>();
  for (const part of m[1]!.split(",")) {
    const eq = part.indexOf("=");
    if (eq > 0) fields.set(part.slice(0, eq).trim(), part.slice(eq + 1).trim());
  }
  const credential = fields.get("Credential")?.split("/");
  const signedHeaders = fields.get("SignedHeaders");
  const signature = fields.get("Signature");
  if (!credential || credential.length < 5 || credential[credential.length - 1] !== "aws4_request") return undefined;
  if (!signedHeaders || !signature || !/^[0-9a-f]{64}$/.test(signature)) return undefined;
  const [date, region, service] = credential.slice(-4) as [string, string, string];
  return {
    accessKeyId: credential.slice(0, -4).join("/"),
    date,
    region,
    service,
    signedHeaders: signedHeaders.split(";").map((h) => h.trim().toLowerCase()),
    signature,
  };
}

export function formatSigV4Authorization(auth: SigV4Authorization, accessKeyId: string, signature: string): string {
  const scope = `${auth.date}/${auth.region}/${auth.service}/aws4_request`;
  return `${SIGV4_ALGORITHM} Credential=${accessKeyId}/${scope}, SignedHeaders=${auth.signedHeaders.join(";")}, Signature=${signature}`;
}

export function canonicalUri(path: string, style: PathStyle): string {
  if (style === "as-sent") return path || "/";
  const segments: string[] = [];
  for (const segment of path.split("/")) {
    if (segment === "" || segment === ".") continue;
    if (segment === "..") segments.pop();
    else segments.push(segment);
  }
  const trailing = segments.length > 0 && path.endsWith("/") ? "/" : "";
  const normalized = `${path.startsWith("/") ? "/" : ""}${segments.join("/")}${trailing}`;
  return percentEncode(normalized).replace(/%2F/g, "/");
}

/** name=value pairs, each decoded then strictly re-encoded, sorted by name then value. */
export function canonicalQuery(query: string): string {
  const pairs: [string, string][] = [];
  for (const param of query.split("&")) {
    if (!param) continue;
    const eq = param.indexOf("=");
    const name = percentEncode(percentDecode(eq < 0 ? param : param.slice(0, eq)));
    const value = percentEncode(percentDecode(eq < 0 ? "" : param.slice(eq + 1)));
    if (name.toLowerCase() === "x-amz-signature") continue;
    pairs.push([name, value]);
  }
  pairs.sort(([an, av], [bn, bv]) => (an < bn ? -1 : an > bn ? 1 : av < bv ? -1 : av > bv ? 1 : 0));
  return pairs.map(([n, v]) => `${n}=${v}`).join("&");
}

/** "name:value\n" per signed header: values of repeated headers joined by ",", whitespace runs collapsed. */
export function canonicalHeaders(head: RequestHead, signedHeaders: string[]): string {
  return signedHeaders
    .map((name) => {
      const values = headerValues(head, name).map((v) => v.replace(/[\r\n]/g, " ").replace(/[ \t]+/g, " ").replace(/^ | $/g, ""));
      return `${name}:${values.join(",")}\n`;
    })
    .join("");
}

export function canonicalRequest(head: RequestHead, signedHeaders: string[], payloadHash: string, style: PathStyle): string {
  const q = head.target.indexOf("?");
  const path = q < 0 ? head.target : head.target.slice(0, q);
  const query = q < 0 ? "" : head.target.slice(q + 1);
  return [
    head.method,
    canonicalUri(path, style),
    canonicalQuery(query),
    canonicalHeaders(head, signedHeaders),
    signedHeaders.join(";"),
    payloadHash,
  ].join("\n");
}

/** X-Amz-Date, else the Date header in the same basic ISO 8601 form; undefined if neither is usable. */
export function amzDateOf(head: RequestHead): string | undefined {
  const amz = headerValues(head, "x-amz-date")[0]?.trim();
  if (amz) return amz;
  const date = headerValues(head, "date")[0];
  const ms = date ? Date.parse(date) : NaN;
  if (Number.isNaN(ms)) return undefined;
  return new Date(ms).toISOString().replace(/[-:]/g, "").replace(/\.\d{3}/, "");
}

export function signingKey(secretAccessKey: string, date: string, region: string, service: string): Buffer {
  const kDate = hmac(`AWS4${secretAccessKey}`, date);
  return hmac(hmac(hmac(kDate, region), service), "aws4_request");
}

/** The hex signature of head under `auth`'s scope and signed headers; undefined without a date. */
export function sigV4Signature(head: RequestHead, auth: SigV4Authorization, secretAccessKey: string, payloadHash: string, style: PathStyle): string | undefined {
  const amzDate = amzDateOf(head);
  if (!amzDate) return undefined;
  const scope = `${auth.date}/${auth.region}/${auth.service}/aws4_request`;
  const stringToSign = [SIGV4_ALGORITHM, amzDate, scope, sha256Hex(canonicalRequest(head, auth.signedHeaders, payloadHash, style))].join("\n");
  return hmac(signingKey(secretAccessKey, auth.date, auth.region, auth.service), stringToSign).toString("hex");
}

export function sameSignature(a: string, b: string): boolean {
  return a.length === b.length && timingSafeEqual(Buffer.from(a), Buffer.from(b));
}

function hmac(key: string | Buffer, data: string): Buffer {
  return createHmac("sha256", key).update(data, "utf8").digest();
}
