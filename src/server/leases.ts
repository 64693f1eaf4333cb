// Server-side leases, one per task: a dynamic secret (a Vault read that answers with a lease_id) read for
// an identity — by /v1/resolve (so team-mode `kz run`) or by MCP `query` — gets a lease held by that
// identity's token and its ancestors (their jtis), recorded in the server state so a restart still
// revokes it. It never outlives the token: its end is the earlier of the token's exp and the lease's own
// duration, and the sweeper revokes it at the backend then. Revoking a minted token (/v1/tokens/revoke)
// revokes every lease obtained with it or with any token minted from it — "revoke it when the task
// completes" is one call. The value is kept in memory for that token alone (its later calls reuse the
// lease); it is never served to another identity.

import type { AuditLog } from "../audit/log.ts";
import { revocationIds } from "../identity/mint.ts";
import type { CallerIdentity } from "../mcp/host.ts";
import type { LeaseSet } from "../resolve/leases.ts";
import type { SecretValue } from "../secret.ts";
import type { ServerState, StoredLease } from "../state/types.ts";
import type { BundleState } from "./bundle-state.ts";

/** Expired leases are also looked for this often (a restart's leftovers, a timer lost to a crash). */
const SWEEP_INTERVAL_MS = 30_000;

interface Held {
  value: SecretValue;
  leaseIds: string[];
  expiresAt: number;
}

/** The lease path without its unique suffix: what logs and audit records name (never the whole id). */
function leasePath(leaseId: string): string {
  const cut = leaseId.lastIndexOf("/");
  return cut > 0 ? leaseId.slice(0, cut) : "a lease";
}

export class ServerLeases {
  readonly #held = new Map<string, Held>();
  readonly #timers = new Set<ReturnType<typeof setTimeout>>();
  readonly #interval: ReturnType<typeof setInterval>;

  constructor(
    private readonly state: ServerState,
    private readonly bundle: () => BundleState,
    private readonly audit: AuditLog,
    private readonly log: (line: string) => void,
  ) {
    this.#interval = setInterval(() => void this.sweep(), SWEEP_INTERVAL_MS);
    this.#interval.unref();
    void this.sweep(); // leases a previous run left past their end
  }

  /** Which token a cached value belongs to: its jti (or, without one, its issuer, subject and exp). */
  static #key(identity: CallerIdentity, secret: string): string {
    const c = identity.claims;
    const token = typeof c.jti === "string" ? `jti:${c.jti}` : `sub:${identity.issuer}\n${identity.subject}\n${String(c.exp ?? "")}`;
    return `${token}\n${secret}`;
  }

  /** The value of a dynamic secret this token already holds a live lease for. */
  cached(identity: CallerIdentity, secret: string, now = Date.now()): SecretValue | undefined {
    const key = ServerLeases.#key(identity, secret);
    const held = this.#held.get(key);
    if (held && held.expiresAt > now + 1_000) return held.value;
    if (held) this.#held.delete(key);
    return undefined;
  }

  /**
   * Records the leases a resolution obtained for `identity` (none: nothing to do). Throws when the state
   * cannot record them — the caller then revokes them (revokeNow) and refuses: a lease kz cannot track
   * would outlive the task.
   */
  async hold(identity: CallerIdentity | undefined, secret: string, value: SecretValue, leases: LeaseSet, now = Date.now()): Promise<void> {
    if (leases.size === 0) return;
    const exp = typeof identity?.claims.exp === "number" ? identity.claims.exp * 1000 : undefined;
    const holders = identity ? revocationIds(identity.claims as never) : [];
    let end = Infinity;
    const ids: string[] = [];
    for (const { lease } of leases.all()) {
      const leaseEnd = lease.durationSeconds > 0 ? lease.obtainedAt + lease.durationSeconds * 1000 : exp ?? now;
      const expiresAt = Math.min(exp ?? leaseEnd, leaseEnd);
      const stored: StoredLease = { leaseId: lease.id, provider: lease.provider, secret, holders, expiresAt };
      await this.state.putLease(stored);
      ids.push(lease.id);
      end = Math.min(end, expiresAt);
      this.#record("lease.hold", stored, identity, { expires_at: new Date(expiresAt).toISOString() });
    }
    if (identity) this.#held.set(ServerLeases.#key(identity, secret), { value, leaseIds: ids, expiresAt: end });
    this.#wakeAt(end);
  }

  /** Revokes leases at once (a resolution whose value will not be used, or could not be recorded). */
  async revokeNow(leases: LeaseSet, secret: string, why: string): Promise<void> {
    await Promise.all(leases.all().map(({ lease }) => this.#revoke({ leaseId: lease.id, provider: lease.provider, secret, holders: [], expiresAt: 0 }, why)));
  }

  /** Revokes every lease held by `jti` or a token minted from it; how many there were. */
  async revokeHeldBy(jti: string): Promise<number> {
    const taken = await this.state.takeLeasesHeldBy(jti);
    await Promise.all(taken.map((lease) => this.#revoke(lease, "token revoked")));
    return taken.length;
  }

  /** Revokes the leases past their end (their token expired, or the lease itself ended). */
  async sweep(now = Date.now()): Promise<void> {
    for (const [key, held] of this.#held) if (held.expiresAt <= now) this.#held.delete(key);
    try {
      const expired = await this.state.takeExpiredLeases(now);
      await Promise.all(expired.map((lease) => this.#revoke(lease, "token expired or lease ended")));
    } catch (error) {
      this.log(`lease sweep failed: ${String((error as Error).message).split("\n")[0]}`);
    }
  }

  close(): void {
    clearInterval(this.#interval);
    for (const timer of this.#timers) clearTimeout(timer);
    this.#timers.clear();
  }

  /** A sweep just after `at` (a precise end for a token that expires before the next periodic sweep). */
  #wakeAt(at: number): void {
    const delay = Math.max(0, at - Date.now()) + 50;
    if (!Number.isFinite(delay) || delay > SWEEP_INTERVAL_MS) return;
    const timer = setTimeout(() => {
      this.#timers.delete(timer);
      void this.sweep();
    }, delay);
    timer.unref();
    this.#timers.add(timer);
  }

  async #revoke(lease: StoredLease, why: string): Promise<void> {
    for (const [key, held] of this.#held) if (held.leaseIds.includes(lease.leaseId)) this.#held.delete(key);
    const bundle = this.bundle();
    try {
      if (lease.provider !== "vault") throw new Error(`the ${lease.provider} provider cannot revoke leases`);
      const { revokeLease } = await import("../providers/vault-lease.ts");
      await revokeLease({ settings: bundle.config.providers[lease.provider] ?? {}, env: process.env, configDir: bundle.config.dir }, lease.leaseId);
      this.#record("lease.revoke", lease, undefined, { reason: why, status: "ok" });
    } catch (error) {
      const message = String((error as Error).message ?? "error").split("\n")[0]!.slice(0, 200);
      this.log(`lease ${leasePath(lease.leaseId)} (${lease.secret}): revocation failed: ${message}`);
      this.#record("lease.revoke", lease, undefined, { reason: why, status: "failed", error: message });
    }
  }

  #record(event: string, lease: StoredLease, identity: CallerIdentity | undefined, extra: Record<string, string>): void {
    try {
      this.audit.append({
        event,
        lease: leasePath(lease.leaseId),
        provider: lease.provider,
        secret: lease.secret,
        holders: lease.holders.join(","),
        ...(identity ? { issuer: identity.issuer, subject: identity.subject } : {}),
        ...extra,
      });
    } catch {
      this.log(`audit: cannot record ${event} for ${leasePath(lease.leaseId)}`);
    }
  }
}
