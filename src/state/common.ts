// What both state backends agree on: how long tombstones and revocations are kept, and the checks on
// what is stored (so a malformed record is refused the same way by SQLite and Redis).

import { MAX_CLOCK_TOLERANCE_SECONDS } from "../identity/revocation.ts";
import type { CapturedSecret, StoredLease, StoredShare } from "./types.ts";

/** A consumed or expired share's id is remembered this long, so its page can say which. */
export const TOMBSTONE_MS = 7 * 24 * 3600 * 1000;

/** When a revocation of a token expiring at `expSeconds` may be forgotten (ms): after any clock tolerance. */
export function revocationForgetAt(expSeconds: number): number {
  if (!Number.isFinite(expSeconds)) throw new TypeError("revoke() needs the token's exp in seconds");
  return expSeconds * 1000 + MAX_CLOCK_TOLERANCE_SECONDS * 1000;
}

function need(ok: boolean, what: string): void {
  if (!ok) throw new TypeError(`state: ${what}`);
}

const finite = (n: unknown): boolean => typeof n === "number" && Number.isFinite(n);
const text = (s: unknown): boolean => typeof s === "string" && s !== "";

export function checkShare(share: StoredShare): void {
  need(text(share.id) && share.id.length <= 256, "a share needs an id");
  need(typeof share.ciphertext === "string", "a share's ciphertext must be text");
  need(Number.isInteger(share.views) && share.views >= 1, "a share needs at least one view");
  need(finite(share.expiresAt) && finite(share.createdAt), "a share needs expiresAt and createdAt");
  need(typeof share.creator === "string" && typeof share.passphrase === "boolean", "a share needs creator and passphrase");
}

export function checkCaptured(secret: CapturedSecret): void {
  need(text(secret.owner) && text(secret.name), "a captured secret needs an owner and a name");
  need(text(secret.sealed), "a captured secret must arrive sealed");
  need(Array.isArray(secret.hosts) && secret.hosts.every((h) => typeof h === "string"), "a captured secret's hosts must be a list of names");
  need(finite(secret.expiresAt) && finite(secret.createdAt), "a captured secret needs expiresAt and createdAt");
}

export function checkLease(lease: StoredLease): void {
  need(text(lease.leaseId) && text(lease.provider) && typeof lease.secret === "string", "a lease needs an id, a provider and a secret");
  need(Array.isArray(lease.holders) && lease.holders.length > 0 && lease.holders.every(text), "a lease needs at least one holder jti");
  need(finite(lease.expiresAt), "a lease needs expiresAt");
}

export function checkJti(jti: string): void {
  need(text(jti), "cannot revoke an empty jti");
}
