// JWT verification for the server: which issuers are trusted, and whether a bearer token from one of them
// is genuine, current, meant for us and not revoked. The token's unverified `iss` only picks the issuer
// to check against; jose then verifies with that issuer's keys and with its issuer, audience and algorithms
// always pinned, `exp` required and a small clock tolerance. Tokens minted by this server (mint.ts) are
// accepted as a built-in issuer. A token that verified recently is taken from a short-lived cache
// (verify-cache.ts) instead of checking its signature again; revocation is checked every time.
// verify() never throws: a rejection is a value carrying a stable code and a one-line message that names
// what is wrong and never contains the token.

import type { IssuerConfig as BundleIssuer } from "../config/bundle.ts";
import { isAbsolute, resolve } from "node:path";
import { decodeJwt, decodeProtectedHeader, errors, jwtVerify, type JWTPayload } from "jose";
import { ConfigError } from "../errors.ts";
import {
  DEFAULT_REMOTE_JWKS,
  KeysUnavailableError,
  loadJwksFile,
  loadPublicKeyFile,
  parseJwksUrl,
  RemoteJwks,
  type KeyResolver,
  type RemoteJwksOptions,
} from "./jwks.ts";
import { ancestryClaimProblem, MINT_ALGORITHM, MINTED_TOKEN_TYPE, revocationIds, scopeClaimProblem, type TokenMinter } from "./mint.ts";
import { applyPreset } from "./presets.ts";
import { MAX_CLOCK_TOLERANCE_SECONDS, type RevocationStore } from "./revocation.ts";
import { DEFAULT_VERIFY_CACHE, VerifyCache, type VerifiedToken, type VerifyCacheOptions } from "./verify-cache.ts";

/** An issuer as the bundle loader (config/bundle.ts) declares it; `audience` may also be one string and
 * `origin` (file:line) is optional for issuers built in code. */
export type IssuerConfig = Omit<BundleIssuer, "audience" | "origin"> & { audience: string | string[]; origin?: string };

export interface VerifierOptions {
  /** Directory that relative key files resolve against (the bundle's directory). Default: cwd. */
  baseDir?: string;
  /** Consulted for every token that verifies and carries a `jti`. */
  revocations?: RevocationStore;
  /** This server's minter: its tokens are accepted as the built-in issuer. */
  minter?: TokenMinter;
  /** Tuning for jwks_url caches (tests shorten or lengthen them). */
  remoteJwks?: Partial<Omit<RemoteJwksOptions, "now">>;
  /** Clock in milliseconds, for exp/nbf and the JWKS cache; tests pass a fake one. */
  now?: () => number;
  /** Tuning for the cache of verified tokens; `false` verifies every token in full every time. */
  cache?: Partial<VerifyCacheOptions> | false;
}

export type VerifyFailureCode =
  | "malformed_token"
  | "unsigned_token"
  | "unknown_issuer"
  | "algorithm_not_allowed"
  | "unknown_key"
  | "bad_signature"
  | "token_expired"
  | "token_not_yet_valid"
  | "issuer_mismatch"
  | "audience_mismatch"
  | "missing_claim"
  | "invalid_claim"
  | "token_revoked"
  | "keys_unavailable"
  | "revocation_unavailable"
  | "token_rejected";

export type VerifyFailure = {
  ok: false;
  /** 401 for anything wrong with the token; 503 when its keys or the revocation list are unreachable. */
  status: 401 | 503;
  code: VerifyFailureCode;
  message: string;
};

export type VerifyResult = { ok: true; issuer: string; claims: JWTPayload } | VerifyFailure;

export interface Verifier {
  /** Names of the trusted issuers, the built-in one included. */
  readonly issuers: readonly string[];
  verify(token: string): Promise<VerifyResult>;
}

/** Larger bearer tokens are refused before any decoding. */
export const MAX_TOKEN_LENGTH = 16 * 1024;
const DEFAULT_CLOCK_TOLERANCE_SECONDS = 30;
const MINTED_CLOCK_TOLERANCE_SECONDS = 5;
/** Asymmetric JWS algorithms; HMAC and `none` are never accepted. */
const SUPPORTED_ALGORITHMS = new Set([
  "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA", "Ed25519",
]);

/** An issuer ready to verify against: everything pinned, keys loaded. */
interface TrustedIssuer {
  name: string;
  issuer: string;
  audience: string[];
  algorithms: string[];
  clockTolerance: number;
  requiredClaims: string[];
  typ?: string;
  getKey: KeyResolver;
}

// ---------------------------------------------------------------- configuration

function nonEmptyString(value: unknown): value is string {
  return typeof value === "string" && value !== "";
}

function checkedAlgorithms(value: unknown, label: string): string[] {
  if (!Array.isArray(value) || value.length === 0) {
    throw new ConfigError(`${label}: algorithms must list at least one algorithm, e.g. [ES256]`);
  }
  for (const alg of value) {
    if (typeof alg === "string" && alg.toLowerCase() === "none") {
      throw new ConfigError(`${label}: algorithm "none" is never accepted (it means an unsigned token)`);
    }
    if (typeof alg === "string" && /^HS\d+$/i.test(alg)) {
      throw new ConfigError(`${label}: ${alg} is a shared-secret algorithm; kz verifies with public keys only`);
    }
    if (typeof alg !== "string" || !SUPPORTED_ALGORITHMS.has(alg)) {
      throw new ConfigError(
        `${label}: unsupported algorithm ${JSON.stringify(alg)} (supported: ${[...SUPPORTED_ALGORITHMS].join(", ")})`,
      );
    }
  }
  return [...new Set(value as string[])];
}

function checkedAudience(value: unknown, label: string): string[] {
  const list = typeof value === "string" ? [value] : value;
  if (!Array.isArray(list) || list.length === 0 || !list.every(nonEmptyString)) {
    throw new ConfigError(`${label}: audience is required (a string or a list of strings the aud claim must contain)`);
  }
  return [...new Set(list)];
}

function checkedTolerance(value: unknown, label: string): number {
  if (value === undefined) return DEFAULT_CLOCK_TOLERANCE_SECONDS;
  if (typeof value !== "number" || !Number.isFinite(value) || value < 0 || value > MAX_CLOCK_TOLERANCE_SECONDS) {
    throw new ConfigError(`${label}: clock_tolerance_seconds must be between 0 and ${MAX_CLOCK_TOLERANCE_SECONDS}`);
  }
  return value;
}

async function trustIssuer(
  raw: IssuerConfig,
  options: VerifierOptions,
  remoteOptions: RemoteJwksOptions,
): Promise<TrustedIssuer> {
  if (!nonEmptyString(raw.name)) throw new ConfigError("every issuer needs a name");
  const label = `issuer "${raw.name}"`;
  const config = applyPreset(raw);
  if (!nonEmptyString(config.issuer)) {
    throw new ConfigError(`${label}: issuer is required (the iss claim its tokens carry)`);
  }
  const audience = checkedAudience(config.audience, label);
  const algorithms = checkedAlgorithms(config.algorithms, label);
  const clockTolerance = checkedTolerance(config.clockToleranceSeconds, label);

  const sources = [config.jwksFile, config.jwksUrl, config.publicKeyFile].filter((s) => s !== undefined);
  if (sources.length !== 1) {
    const hint = config.preset === "kubernetes" ? " (a cluster serves its keys at <api-server>/openid/v1/jwks)" : "";
    throw new ConfigError(
      `${label}: give exactly one of jwks_url, jwks_file, public_key_file (found ${sources.length})${hint}`,
    );
  }
  const path = (file: string) => (isAbsolute(file) ? file : resolve(options.baseDir ?? process.cwd(), file));
  const getKey: KeyResolver =
    config.jwksFile !== undefined
      ? await loadJwksFile(path(config.jwksFile), label)
      : config.publicKeyFile !== undefined
        ? await loadPublicKeyFile(path(config.publicKeyFile), algorithms, label)
        : new RemoteJwks(parseJwksUrl(config.jwksUrl!, label), remoteOptions).getKey;

  return { name: raw.name, issuer: config.issuer, audience, algorithms, clockTolerance, requiredClaims: ["exp"], getKey };
}

function builtInIssuer(minter: TokenMinter): TrustedIssuer {
  return {
    name: minter.name,
    issuer: minter.issuer,
    audience: [...minter.audience],
    algorithms: [MINT_ALGORITHM],
    clockTolerance: MINTED_CLOCK_TOLERANCE_SECONDS,
    requiredClaims: ["exp", "iat", "sub", "jti"],
    typ: MINTED_TOKEN_TYPE,
    getKey: minter.getKey,
  };
}

// ---------------------------------------------------------------- messages

const MAX_MESSAGE_LENGTH = 300;

/** An untrusted value from a token, as JSON (strings quoted, newlines escaped), kept short. */
function quote(value: unknown): string {
  const short = (text: string) => (text.length > 80 ? `${text.slice(0, 80)}…` : text);
  if (typeof value === "string") return JSON.stringify(short(value));
  return short(JSON.stringify(value) ?? String(value));
}

/** One line, of bounded length: control characters (from jose messages quoting header names) escaped. */
function oneLine(message: string): string {
  const escaped = message.replace(/[\p{Cc}\u2028\u2029]/gu, (c) => JSON.stringify(c).slice(1, -1));
  return escaped.length > MAX_MESSAGE_LENGTH ? `${escaped.slice(0, MAX_MESSAGE_LENGTH)}…` : escaped;
}

function when(seconds: unknown): string {
  if (typeof seconds !== "number" || !Number.isFinite(seconds) || Math.abs(seconds) > 8.64e12) return quote(seconds);
  return new Date(seconds * 1000).toISOString();
}

function listOf(values: readonly string[]): string {
  return values.join(", ");
}

function failure(code: VerifyFailureCode, message: string, status: 401 | 503 = 401): VerifyFailure {
  return { ok: false, status, code, message: oneLine(message) };
}

/** Last line of defence: a message that somehow carries a piece of the token is replaced. */
function withoutToken(result: VerifyFailure, token: string): VerifyFailure {
  const pieces = [token, ...token.split(".")].filter((piece) => piece.length >= 8);
  if (pieces.some((piece) => result.message.includes(piece))) {
    return { ...result, message: "token rejected" };
  }
  return result;
}

/** A jose error, turned into the failure it means for this issuer. */
function explain(err: unknown, trusted: TrustedIssuer, header: Record<string, unknown>): VerifyFailure {
  if (err instanceof KeysUnavailableError) return failure("keys_unavailable", err.message, 503);
  if (err instanceof errors.JOSEAlgNotAllowed) {
    return failure(
      "algorithm_not_allowed",
      `algorithm ${quote(header.alg)} is not allowed for issuer ${trusted.name} (allowed: ${listOf(trusted.algorithms)})`,
    );
  }
  if (err instanceof errors.JWKSNoMatchingKey) {
    const which = typeof header.kid === "string" ? `with kid ${quote(header.kid)}` : `for ${quote(header.alg)}`;
    return failure("unknown_key", `issuer ${trusted.name} has no key ${which}`);
  }
  if (err instanceof errors.JWKSMultipleMatchingKeys) {
    return failure("unknown_key", `token names no kid and issuer ${trusted.name} has several keys`);
  }
  if (err instanceof errors.JWSSignatureVerificationFailed) return failure("bad_signature", "signature verification failed");
  if (err instanceof errors.JWTExpired) return failure("token_expired", `token expired at ${when(err.payload.exp)}`);
  if (err instanceof errors.JWTClaimValidationFailed) {
    const { claim, reason, payload } = err;
    if (reason === "missing") return failure("missing_claim", `token has no ${claim} claim (required)`);
    if (reason === "invalid") return failure("invalid_claim", `${claim} claim must be a number`);
    if (claim === "nbf") return failure("token_not_yet_valid", `token not valid before ${when(payload.nbf)}`);
    if (claim === "aud") {
      return failure("audience_mismatch", `audience mismatch: expected ${listOf(trusted.audience)}, got ${quote(payload.aud)}`);
    }
    if (claim === "iss") return failure("issuer_mismatch", `issuer mismatch: expected ${trusted.issuer}`);
    if (claim === "typ") return failure("invalid_claim", `token type (typ) is not ${trusted.typ}`);
    return failure("invalid_claim", `${claim} claim check failed`);
  }
  if (err instanceof errors.JWTInvalid || err instanceof errors.JWSInvalid) {
    return failure("malformed_token", `malformed token: ${err.message}`);
  }
  if (err instanceof errors.JOSEError) return failure("token_rejected", `token rejected: ${err.message}`);
  return failure("token_rejected", "token rejected: its key or signature could not be used");
}

// ---------------------------------------------------------------- verifying

interface Unverified {
  header: Record<string, unknown>;
  claims: JWTPayload;
}

/** The token's header and claims, decoded but NOT verified — for routing and messages only. */
function peek(token: string): Unverified | VerifyFailure {
  if (typeof token !== "string" || token === "") return failure("malformed_token", "no token");
  if (token.length > MAX_TOKEN_LENGTH) {
    return failure("malformed_token", `token is too long (${token.length} characters, at most ${MAX_TOKEN_LENGTH})`);
  }
  const parts = token.split(".").length;
  if (parts === 5) return failure("malformed_token", "encrypted tokens (JWE) are not accepted; send a signed JWT");
  if (parts !== 3) return failure("malformed_token", "malformed token: not a JWT (expected three dot-separated parts)");
  let header: Record<string, unknown>;
  try {
    header = decodeProtectedHeader(token) as Record<string, unknown>;
  } catch {
    return failure("malformed_token", "malformed token: its header is not base64url-encoded JSON");
  }
  if (typeof header.alg === "string" && header.alg.toLowerCase() === "none") {
    return failure("unsigned_token", 'unsigned token (alg "none") rejected');
  }
  if (typeof header.alg !== "string") return failure("malformed_token", "malformed token: its header names no alg");
  let claims: JWTPayload;
  try {
    claims = decodeJwt(token);
  } catch {
    return failure("malformed_token", "malformed token: its payload is not a base64url-encoded JSON object");
  }
  return { header, claims };
}

export async function createVerifier(issuers: readonly IssuerConfig[], options: VerifierOptions = {}): Promise<Verifier> {
  const now = options.now ?? Date.now;
  const remoteOptions: RemoteJwksOptions = { ...DEFAULT_REMOTE_JWKS, ...options.remoteJwks, now };
  const trusted: TrustedIssuer[] = [];
  for (const config of issuers) trusted.push(await trustIssuer(config, options, remoteOptions));
  if (options.minter) trusted.push(builtInIssuer(options.minter));

  const byIssuer = new Map<string, TrustedIssuer>();
  const names = new Set<string>();
  for (const entry of trusted) {
    const clash = byIssuer.get(entry.issuer);
    if (clash) {
      throw new ConfigError(`issuers "${clash.name}" and "${entry.name}" both use issuer ${entry.issuer}; merge them`);
    }
    if (names.has(entry.name)) throw new ConfigError(`two issuers are named "${entry.name}"`);
    byIssuer.set(entry.issuer, entry);
    names.add(entry.name);
  }

  const cache = options.cache === false ? undefined : new VerifyCache({ ...DEFAULT_VERIFY_CACHE, ...options.cache });

  /** Signature and claims, checked in full; a success is remembered in the cache. */
  async function verifyInFull(token: string): Promise<VerifiedToken | VerifyFailure> {
    const seen = peek(token);
    if ("ok" in seen) return seen;
    const { header, claims } = seen;
    if (!nonEmptyString(claims.iss)) return failure("missing_claim", "token has no iss claim (required)");
    const issuer = byIssuer.get(claims.iss);
    if (!issuer) return failure("unknown_issuer", `issuer ${quote(claims.iss)} is not trusted`);

    let verified: JWTPayload;
    try {
      const result = await jwtVerify(token, issuer.getKey, {
        algorithms: issuer.algorithms,
        issuer: issuer.issuer,
        audience: issuer.audience,
        requiredClaims: issuer.requiredClaims,
        clockTolerance: issuer.clockTolerance,
        currentDate: new Date(now()),
        ...(issuer.typ !== undefined ? { typ: issuer.typ } : {}),
      });
      verified = result.payload;
    } catch (err) {
      return explain(err, issuer, header);
    }

    const scopeProblem = scopeClaimProblem(verified) ?? ancestryClaimProblem(verified);
    if (scopeProblem) return failure("invalid_claim", scopeProblem);
    const accepted: VerifiedToken = { issuer: issuer.name, claims: verified };
    cache?.put(token, accepted, issuer.clockTolerance, now());
    return accepted;
  }

  async function check(token: string): Promise<VerifyResult> {
    const cached = typeof token === "string" ? cache?.get(token, now()) : undefined;
    const verified = cached ?? (await verifyInFull(token));
    if ("ok" in verified) return verified;
    const claims = verified.claims as JWTPayload;
    if (options.revocations) {
      // The token's own jti and every ancestor's: revoking a token refuses all it minted, at any depth.
      // Checked on cache hits too, so a revocation takes effect on the very next request.
      const ids = revocationIds(claims);
      for (let i = ids.length - 1; i >= 0; i--) {
        let revoked: boolean;
        try {
          const answer = options.revocations.isRevoked(ids[i]!);
          revoked = typeof answer === "boolean" ? answer : await answer;
        } catch {
          return failure("revocation_unavailable", "cannot check whether the token was revoked", 503);
        }
        if (revoked) return failure("token_revoked", i === ids.length - 1 && ids[i] === claims.jti ? "token has been revoked" : "token has been revoked (a token it was minted from was revoked)");
      }
    }
    return { ok: true, issuer: verified.issuer, claims };
  }

  return {
    issuers: trusted.map((entry) => entry.name),
    async verify(token: string): Promise<VerifyResult> {
      let result: VerifyResult;
      try {
        result = await check(token);
      } catch {
        result = failure("token_rejected", "token could not be verified");
      }
      return result.ok ? result : withoutToken(result, String(token));
    },
  };
}
