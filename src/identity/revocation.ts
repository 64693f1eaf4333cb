// Token revocation by `jti`. A revoked id stays revoked until its token could no longer verify anyway
// (its `exp` plus a grace that covers any issuer's clock tolerance), then it is pruned. The store is an
// interface so the server can later keep revocations in sqlite or Redis and share them across replicas;
// the in-memory store here is the embedded default.

/** The largest clock tolerance an issuer may configure; revocations outlive `exp` by at least this. */
export const MAX_CLOCK_TOLERANCE_SECONDS = 300;

export interface RevocationStore {
  /** Revoke `jti` until `expiresAt` (the token's `exp`, seconds since the epoch) has safely passed. */
  revoke(jti: string, expiresAt: number): void | Promise<void>;
  isRevoked(jti: string): boolean | Promise<boolean>;
}

export interface MemoryRevocationOptions {
  /** Seconds an entry is kept after the token's `exp`; at least the verifier's clock tolerance. */
  graceSeconds?: number;
  /** How often, at most, revoke() sweeps out expired entries. */
  pruneIntervalSeconds?: number;
  /** Clock in milliseconds; tests pass a fake one. */
  now?: () => number;
}

export class MemoryRevocationStore implements RevocationStore {
  /** jti → the moment (ms) after which the entry may be forgotten. */
  readonly #forgetAt = new Map<string, number>();
  readonly #graceMs: number;
  readonly #pruneIntervalMs: number;
  readonly #now: () => number;
  #lastPrune: number;

  constructor(options: MemoryRevocationOptions = {}) {
    this.#graceMs = (options.graceSeconds ?? MAX_CLOCK_TOLERANCE_SECONDS) * 1000;
    this.#pruneIntervalMs = (options.pruneIntervalSeconds ?? 60) * 1000;
    this.#now = options.now ?? Date.now;
    this.#lastPrune = this.#now();
  }

  revoke(jti: string, expiresAt: number): void {
    if (jti === "") throw new TypeError("cannot revoke an empty jti");
    if (!Number.isFinite(expiresAt)) throw new TypeError("revoke() needs the token's exp in seconds");
    const now = this.#now();
    const forgetAt = expiresAt * 1000 + this.#graceMs;
    if (forgetAt > now) this.#forgetAt.set(jti, Math.max(forgetAt, this.#forgetAt.get(jti) ?? 0));
    if (now - this.#lastPrune >= this.#pruneIntervalMs) this.prune();
  }

  isRevoked(jti: string): boolean {
    const forgetAt = this.#forgetAt.get(jti);
    if (forgetAt === undefined) return false;
    if (forgetAt > this.#now()) return true;
    this.#forgetAt.delete(jti);
    return false;
  }

  /** Drop every entry whose token can no longer verify. */
  prune(): void {
    const now = this.#now();
    this.#lastPrune = now;
    for (const [jti, forgetAt] of this.#forgetAt) if (forgetAt <= now) this.#forgetAt.delete(jti);
  }

  /** Entries currently held (expired ones are counted until pruned). */
  get size(): number {
    return this.#forgetAt.size;
  }
}
