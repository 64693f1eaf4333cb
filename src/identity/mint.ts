// Minting short-lived, scoped tokens for sub-agents (POST /v1/tokens). The server signs with its own ES256
// key — generated in memory at start, or loaded from a PKCS#8 PEM file so that replicas and restarts share
// it — and publishes the public half as a JWKS (GET /.well-known/jwks.json). A minted token is derived from
// the verified token of the agent that asked for it (the parent) and can never reach further than it: the
// same `sub` and identity claims (so the same policies apply), secrets limited to the requested ones and,
// if the parent was itself scoped, to the parent's scope; it expires no later than the parent and within
// the server's TTL cap, and its audience is one this server accepts. It also carries its ancestry — the
// jtis of the tokens it descends from, root first, at most MAX_MINT_DEPTH — so that revoking any ancestor
// refuses it at once (the verifier checks every one on every request), and a deeper mint is refused.

import { randomBytes } from "node:crypto";
import { readFile } from "node:fs/promises";
import { isAbsolute, resolve } from "node:path";
import {
  calculateJwkThumbprint,
  createLocalJWKSet,
  exportJWK,
  generateKeyPair,
  importPKCS8,
  SignJWT,
  type CryptoKey,
  type JSONWebKeySet,
  type JWK,
  type JWTPayload,
} from "jose";
import { ConfigError } from "../errors.ts";
import type { KeyResolver } from "./jwks.ts";

/** Claim listing what a token may reach: `{ secrets: [NAME, …] }`. Absent means "whatever policy allows". */
export const SCOPE_CLAIM = "kz_scope";
/** Claim naming the token a minted token was derived from: `{ iss, sub, jti? }`. */
export const PARENT_CLAIM = "kz_parent";
/** Claim listing the jtis of a minted token's ancestors, root first (its parent's last). */
export const ANCESTRY_CLAIM = "kz_ancestry";
/** The most ancestors a minted token may have: a mint that would go deeper is refused. */
export const MAX_MINT_DEPTH = 8;
const MAX_JTI_LENGTH = 256;
/** `typ` header of minted tokens; the verifier requires it, so no other JWT can pass for one. */
export const MINTED_TOKEN_TYPE = "kz+jwt";
export const MINT_ALGORITHM = "ES256";

const DEFAULT_MAX_TTL_SECONDS = 3600;
const DEFAULT_TTL_SECONDS = 900;
const MAX_SCOPE_SECRETS = 100;
const MAX_SECRET_NAME_LENGTH = 200;
/** Registered claims the minter sets itself; never copied from the parent. */
const OWN_CLAIMS = new Set(["iss", "sub", "aud", "exp", "nbf", "iat", "jti"]);

export interface TokenScope {
  secrets: string[];
}

// ---------------------------------------------------------------- scope

/** Why a scope value is not a valid scope, or undefined when it is. */
function scopeValueProblem(value: unknown): string | undefined {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return "must be an object";
  const { secrets } = value as { secrets?: unknown };
  if (!Array.isArray(secrets)) return 'must have a "secrets" array';
  if (secrets.length > MAX_SCOPE_SECRETS) return `lists more than ${MAX_SCOPE_SECRETS} secrets`;
  for (const name of secrets) {
    if (typeof name !== "string" || name === "" || name.length > MAX_SECRET_NAME_LENGTH || /[\p{Cc}]/u.test(name)) {
      return "must list secret names (non-empty strings without control characters)";
    }
  }
  return undefined;
}

/** Why the claims' scope claim is malformed, or undefined when it is absent or well-formed. */
export function scopeClaimProblem(claims: JWTPayload): string | undefined {
  if (!Object.hasOwn(claims, SCOPE_CLAIM)) return undefined;
  const problem = scopeValueProblem(claims[SCOPE_CLAIM]);
  return problem && `${SCOPE_CLAIM} claim ${problem}`;
}

/** The token's scope; undefined when it carries none (then policies alone decide). */
export function scopeOf(claims: JWTPayload): TokenScope | undefined {
  if (!Object.hasOwn(claims, SCOPE_CLAIM)) return undefined;
  const problem = scopeClaimProblem(claims);
  if (problem) throw new MintError(`the caller's token has a malformed ${problem}`);
  return { secrets: [...(claims[SCOPE_CLAIM] as TokenScope).secrets] };
}

/** Whether a token's scope lets it reach `secret`. A malformed scope reaches nothing. */
export function scopeAllows(claims: JWTPayload, secret: string): boolean {
  if (!Object.hasOwn(claims, SCOPE_CLAIM)) return true;
  if (scopeClaimProblem(claims)) return false;
  return (claims[SCOPE_CLAIM] as TokenScope).secrets.includes(secret);
}

// ---------------------------------------------------------------- ancestry

/** Why the claims' ancestry claim is malformed, or undefined when it is absent or well-formed. */
export function ancestryClaimProblem(claims: JWTPayload): string | undefined {
  if (!Object.hasOwn(claims, ANCESTRY_CLAIM)) return undefined;
  const value = claims[ANCESTRY_CLAIM];
  if (!Array.isArray(value) || value.length > MAX_MINT_DEPTH) return `${ANCESTRY_CLAIM} claim must be a list of at most ${MAX_MINT_DEPTH} token ids`;
  if (value.some((jti) => typeof jti !== "string" || jti === "" || jti.length > MAX_JTI_LENGTH)) return `${ANCESTRY_CLAIM} claim must list token ids (non-empty strings)`;
  return undefined;
}

/** The jtis a token descends from (root first); empty when it carries none. Assumes a verified claim. */
export function ancestryOf(claims: JWTPayload): string[] {
  const value = claims[ANCESTRY_CLAIM];
  return Array.isArray(value) ? value.filter((jti): jti is string => typeof jti === "string") : [];
}

/** Every jti whose revocation refuses this token: its ancestors' and its own. */
export function revocationIds(claims: JWTPayload): string[] {
  const ids = ancestryOf(claims);
  return typeof claims.jti === "string" ? [...ids, claims.jti] : ids;
}

// ---------------------------------------------------------------- minter

/** A mint request the server must refuse; the message is safe to return to the caller. */
export class MintError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "MintError";
  }
}

export interface MinterOptions {
  /** This server's issuer URL: the `iss` of every minted token. */
  issuer: string;
  /** The audience(s) this server accepts on minted tokens; the default audience of a minted token. */
  audience: string | string[];
  /** Issuer name in verify results and audit records. Default "keyzero". */
  name?: string;
  /** PKCS#8 PEM P-256 private key; when absent a fresh key is generated (tokens die with the process). */
  signingKeyFile?: string;
  /** Directory a relative signingKeyFile is resolved against. */
  baseDir?: string;
  /** The longest lifetime a minted token may have. Default 3600. */
  maxTtlSeconds?: number;
  /** Lifetime when the request names none. Default 900 (capped by maxTtlSeconds). */
  defaultTtlSeconds?: number;
  /** Clock in milliseconds; tests pass a fake one. */
  now?: () => number;
}

export interface MintRequest {
  /** The verified claims of the token that asked; the new token is derived from them. */
  parentClaims: JWTPayload;
  scope: TokenScope;
  ttlSeconds?: number;
  audience?: string | string[];
}

export interface MintedToken {
  token: string;
  jti: string;
  sub: string;
  /** `exp`, in seconds since the epoch. */
  expiresAt: number;
  scope: TokenScope;
  audience: string[];
  /** The jtis of its ancestors, root first. */
  ancestry: string[];
}

export interface TokenMinter {
  readonly name: string;
  readonly issuer: string;
  readonly audience: readonly string[];
  readonly maxTtlSeconds: number;
  /** The public signing key(s), for GET /.well-known/jwks.json. */
  readonly jwks: JSONWebKeySet;
  /** Resolves this minter's verification key, for the verifier's built-in issuer. */
  readonly getKey: KeyResolver;
  mint(request: MintRequest): Promise<MintedToken>;
}

interface SigningKey {
  privateKey: CryptoKey;
  publicJwk: JWK;
}

async function loadSigningKey(path: string): Promise<SigningKey> {
  let pem: string;
  try {
    pem = await readFile(path, "utf8");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new ConfigError(`cannot read signing key file ${path}: ${code === "ENOENT" ? "no such file" : code}`);
  }
  if (pem.includes("-----BEGIN EC PRIVATE KEY-----")) {
    throw new ConfigError(
      `signing key file ${path} is a SEC1 EC key; convert it to PKCS#8 (openssl pkcs8 -topk8 -nocrypt)`,
    );
  }
  let publicJwk: JWK;
  let privateKey: CryptoKey;
  try {
    const extractable = await importPKCS8(pem, MINT_ALGORITHM, { extractable: true });
    const { kty, crv, x, y } = await exportJWK(extractable); // the public half only: `d` is left behind
    publicJwk = { kty, crv, x, y };
    privateKey = await importPKCS8(pem, MINT_ALGORITHM);
  } catch {
    throw new ConfigError(`signing key file ${path} is not a PKCS#8 PEM P-256 (ES256) private key`);
  }
  return { privateKey, publicJwk };
}

async function generateSigningKey(): Promise<SigningKey> {
  const { privateKey, publicKey } = await generateKeyPair(MINT_ALGORITHM);
  const { kty, crv, x, y } = await exportJWK(publicKey);
  return { privateKey, publicJwk: { kty, crv, x, y } };
}

function audienceList(value: string | string[], what: string): string[] {
  const list = typeof value === "string" ? [value] : value;
  if (!Array.isArray(list) || list.length === 0 || list.some((a) => typeof a !== "string" || a === "")) {
    throw new ConfigError(`${what} must be a non-empty string or list of strings`);
  }
  return [...new Set(list)];
}

function wholeSeconds(value: number | undefined, fallback: number, what: string): number {
  const seconds = value ?? fallback;
  if (!Number.isInteger(seconds) || seconds < 1) throw new ConfigError(`${what} must be a whole number ≥ 1`);
  return seconds;
}

/** Requested secret names, checked and de-duplicated (order kept). */
function requestedSecrets(scope: unknown): string[] {
  const problem = scopeValueProblem(scope);
  if (problem) throw new MintError(`scope ${problem}`);
  const secrets = [...new Set((scope as TokenScope).secrets)];
  if (secrets.length === 0) throw new MintError("scope must name at least one secret");
  return secrets;
}

/** The parent's own claims that a minted token carries over: everything but the registered and kz_ ones. */
function inheritedClaims(parent: JWTPayload): JWTPayload {
  const claims: JWTPayload = {};
  for (const [name, value] of Object.entries(parent)) {
    if (!OWN_CLAIMS.has(name) && !name.startsWith("kz_")) claims[name] = value;
  }
  return claims;
}

export async function createMinter(options: MinterOptions): Promise<TokenMinter> {
  try {
    new URL(options.issuer);
  } catch {
    throw new ConfigError("the server's issuer URL is not a URL");
  }
  const name = options.name ?? "keyzero";
  const issuer = options.issuer;
  const audience = audienceList(options.audience, "the server's token audience");
  const maxTtlSeconds = wholeSeconds(options.maxTtlSeconds, DEFAULT_MAX_TTL_SECONDS, "max token TTL");
  const defaultTtlSeconds = Math.min(
    wholeSeconds(options.defaultTtlSeconds, DEFAULT_TTL_SECONDS, "default token TTL"),
    maxTtlSeconds,
  );
  const now = options.now ?? Date.now;

  const keyPath =
    options.signingKeyFile === undefined
      ? undefined
      : isAbsolute(options.signingKeyFile)
        ? options.signingKeyFile
        : resolve(options.baseDir ?? process.cwd(), options.signingKeyFile);
  const { privateKey, publicJwk } = keyPath ? await loadSigningKey(keyPath) : await generateSigningKey();
  const kid = await calculateJwkThumbprint(publicJwk);
  const jwks: JSONWebKeySet = { keys: [{ ...publicJwk, kid, alg: MINT_ALGORITHM, use: "sig" }] };
  const getKey: KeyResolver = createLocalJWKSet(jwks);

  async function mint(request: MintRequest): Promise<MintedToken> {
    const parent = request.parentClaims;
    const nowSeconds = Math.floor(now() / 1000);
    if (typeof parent.sub !== "string" || parent.sub === "") {
      throw new MintError("the caller's token has no sub claim, so no sub-agent identity can be derived");
    }
    if (typeof parent.exp !== "number" || parent.exp <= nowSeconds) {
      throw new MintError("the caller's token has expired");
    }

    const requested = requestedSecrets(request.scope);
    const parentScope = scopeOf(parent);
    const granted = parentScope ? requested.filter((s) => parentScope.secrets.includes(s)) : requested;
    if (granted.length === 0) {
      throw new MintError(`none of the requested secrets (${requested.join(", ")}) is within the caller's scope`);
    }

    const ttl = request.ttlSeconds ?? defaultTtlSeconds;
    if (!Number.isInteger(ttl) || ttl < 1) throw new MintError("ttl_seconds must be a whole number ≥ 1");
    const expiresAt = Math.min(nowSeconds + Math.min(ttl, maxTtlSeconds), parent.exp);

    const tokenAudience = request.audience === undefined ? audience : [request.audience].flat();
    for (const aud of tokenAudience) {
      if (typeof aud !== "string" || !audience.includes(aud)) {
        throw new MintError(`audience ${JSON.stringify(aud)} is not one this server accepts (${audience.join(", ")})`);
      }
    }

    // Ancestry: the parent's own (when this server minted it, so the claim is ours) plus the parent's jti.
    const ancestry = [...(parent.iss === issuer ? ancestryOf(parent) : []), ...(typeof parent.jti === "string" ? [parent.jti] : [])];
    if (ancestry.length > MAX_MINT_DEPTH) {
      throw new MintError(`the caller's token is ${MAX_MINT_DEPTH} mints deep already; a minted token may have at most ${MAX_MINT_DEPTH} ancestors`);
    }

    const jti = randomBytes(16).toString("base64url");
    const parentRef = {
      iss: parent.iss,
      sub: parent.sub,
      ...(typeof parent.jti === "string" ? { jti: parent.jti } : {}),
    };
    const token = await new SignJWT({
      ...inheritedClaims(parent),
      [SCOPE_CLAIM]: { secrets: granted },
      [PARENT_CLAIM]: parentRef,
      [ANCESTRY_CLAIM]: ancestry,
    })
      .setProtectedHeader({ alg: MINT_ALGORITHM, kid, typ: MINTED_TOKEN_TYPE })
      .setIssuer(issuer)
      .setSubject(parent.sub)
      .setAudience(tokenAudience.length === 1 ? tokenAudience[0]! : tokenAudience)
      .setIssuedAt(nowSeconds)
      .setExpirationTime(expiresAt)
      .setJti(jti)
      .sign(privateKey);
    return { token, jti, sub: parent.sub, expiresAt, scope: { secrets: granted }, audience: [...tokenAudience], ancestry };
  }

  return { name, issuer, audience, maxTtlSeconds, jwks, getKey, mint };
}
