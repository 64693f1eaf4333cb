// A bounded cache of tokens whose signature and claims have already verified, keyed by the exact token
// string, so an agent that sends the same token on every request costs one signature check per TTL
// rather than one per request. An entry is used only while the token is still inside its validity window
// (exp and nbf with the issuer's clock tolerance) and for at most the TTL; anything in doubt misses and
// goes through full verification again. Revocation is NOT cached: the verifier checks it on every hit.

import type { JWTPayload } from "jose";

export interface VerifyCacheOptions {
  /** Longest an entry is trusted; also bounds how long a key rotated out of a JWKS keeps working. */
  ttlMs: number;
  /** Entries kept; the oldest is dropped to make room. */
  maxEntries: number;
  /** Longer tokens are not cached (bounds the memory a full cache holds). */
  maxTokenLength: number;
}

export const DEFAULT_VERIFY_CACHE: VerifyCacheOptions = { ttlMs: 30_000, maxEntries: 4096, maxTokenLength: 8192 };

export interface VerifiedToken {
  /** The trusted issuer's configured name. */
  issuer: string;
  /** The verified claims, deep-frozen: every hit hands out the same object. */
  claims: Readonly<JWTPayload>;
}

interface Entry extends VerifiedToken {
  /** The entry is usable while now (ms) is in [usableFrom, usableUntil). */
  usableFrom: number;
  usableUntil: number;
}

function deepFreeze<T>(value: T): T {
  if (typeof value === "object" && value !== null && !Object.isFrozen(value)) {
    for (const member of Object.values(value)) deepFreeze(member);
    Object.freeze(value);
  }
  return value;
}

export class VerifyCache {
  readonly #entries = new Map<string, Entry>();

  constructor(readonly options: VerifyCacheOptions = DEFAULT_VERIFY_CACHE) {}

  /** The token's verified identity, if it verified within the TTL and is still inside its validity window. */
  get(token: string, now: number): VerifiedToken | undefined {
    const entry = this.#entries.get(token);
    if (entry === undefined) return undefined;
    if (now >= entry.usableFrom && now < entry.usableUntil) return entry;
    this.#entries.delete(token);
    return undefined;
  }

  /**
   * Remembers a token that has just fully verified at `now`. `clockToleranceSeconds` is the issuer's: the
   * entry stops at exp + tolerance (when full verification would refuse the token) or after the TTL.
   */
  put(token: string, verified: VerifiedToken, clockToleranceSeconds: number, now: number): void {
    const { exp, nbf } = verified.claims;
    if (token.length > this.options.maxTokenLength || typeof exp !== "number" || !Number.isFinite(exp)) return;
    const usableUntil = Math.min(now + this.options.ttlMs, (exp + clockToleranceSeconds) * 1000);
    const usableFrom = typeof nbf === "number" && Number.isFinite(nbf) ? (nbf - clockToleranceSeconds) * 1000 : -Infinity;
    if (usableUntil <= now) return;
    if (!this.#entries.has(token) && this.#entries.size >= this.options.maxEntries) {
      const oldest = this.#entries.keys().next();
      if (!oldest.done) this.#entries.delete(oldest.value);
    }
    this.#entries.set(token, { issuer: verified.issuer, claims: deepFreeze(verified.claims), usableFrom, usableUntil });
  }

  get size(): number {
    return this.#entries.size;
  }
}
