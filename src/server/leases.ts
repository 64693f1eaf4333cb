// Server-side leases, one per task: a dynamic secret (a Vault read that answers with a lease_id) read for
// an identity — by /v1/resolve (so team-mode `kz run`) or by MCP `query` — gets a lease held by that
// identity's token and its ancestors (their jtis), recorded in the server state so a restart still
// revokes it. It never outlives the token: its end is the earlier of the token's exp and the lease's own
// duration, and the sweeper revokes it at the backend then. Revoking a minted token (/v1/tokens/revoke)
// revokes every lease obtained with it or with any token minted from it — "revoke it when the task
// completes" is one call. The value is kept in memory for that token alone (its later calls reuse the
// lease); it is never served to another identity. A lease shorter than its token is renewed, asking only
// for the token's remaining time.

import type { AuditLog } from "../audit/log.ts";
import { revocationIds } from "../identity/mint.ts";
import type { CallerIdentity } from "../mcp/host.ts";
import type { Lease } from "../providers/lease.ts";
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
  /** Leases recorded by this process and not yet revoked (a renewal must not bring a revoked one back). */
  readonly #live = new Set<string>();
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
   * Records the leases a resolution obtained for `identity` (none: nothing to do) and keeps `values` (every
   * secret read in it, by name) for that token. Throws when the state cannot record them — the caller then
   * revokes them (revokeNow) and refuses: a lease kz cannot track would outlive the task.
   */
  async hold(identity: CallerIdentity | undefined, values: ReadonlyMap<string, SecretValue>, leases: LeaseSet, now = Date.now()): Promise<void> {
    if (leases.size === 0) return;
    const exp = typeof identity?.claims.exp === "number" ? identity.claims.exp * 1000 : undefined;
    const holders = identity ? revocationIds(identity.claims as never) : [];
    let end = Infinity;
    const ids: string[] = [];
    for (const { lease, secrets } of leases.all()) {
      const leaseEnd = lease.durationSeconds > 0 ? lease.obtainedAt + lease.durationSeconds * 1000 : (exp ?? now);
      const expiresAt = Math.min(exp ?? leaseEnd, leaseEnd);
      const stored: StoredLease = { leaseId: lease.id, provider: lease.provider, secret: secrets.join(","), holders, expiresAt };
      await this.state.putLease(stored);
      this.#live.add(lease.id);
      ids.push(lease.id);
      end = Math.min(end, expiresAt);
      this.#record("lease.hold", stored, identity, { expires_at: new Date(expiresAt).toISOString() });
      if (exp !== undefined && lease.renewable && leaseEnd < exp) this.#renewLater(lease, stored, exp, leaseEnd);
    }
    if (identity) {
      for (const [name, value] of values) this.#held.set(ServerLeases.#key(identity, name), { value, leaseIds: ids, expiresAt: end });
    }
    this.#wakeAt(end);
  }

  /**
   * Renews a lease shorter than its token, at 2/3 of its remaining time, asking only for the time the
   * token has left — never beyond it. A refused renewal leaves the lease to end by itself (it is swept).
   */
  #renewLater(lease: Lease, stored: StoredLease, exp: number, currentEnd: number): void {
    const at = Date.now() + ((currentEnd - Date.now()) * 2) / 3;
    const timer = setTimeout(async () => {
      this.#timers.delete(timer);
      if (!this.#live.has(lease.id)) return;
      try {
        const asked = Math.ceil((exp - Date.now()) / 1000);
        if (asked <= 0) return;
        const granted = await lease.renew(asked);
        if (!this.#live.has(lease.id)) return; // revoked while renewing
        const newEnd = Date.now() + granted.durationSeconds * 1000;
        const expiresAt = Math.min(exp, newEnd);
        await this.state.putLease({ ...stored, expiresAt });
        for (const held of this.#held.values()) if (held.leaseIds.length === 1 && held.leaseIds[0] === lease.id) held.expiresAt = expiresAt;
        this.#record("lease.renew", { ...stored, expiresAt }, undefined, { expires_at: new Date(expiresAt).toISOString() });
        this.#wakeAt(expiresAt);
        if (granted.renewable && newEnd < exp - 1_000 && granted.durationSeconds > 0) this.#renewLater(lease, { ...stored, expiresAt }, exp, newEnd);
      } catch (error) {
        this.log(`lease ${leasePath(lease.id)} (${stored.secret}): renewal failed: ${String((error as Error).message ?? "error").split("\n")[0]!.slice(0, 200)}`);
      }
    }, Math.max(0, at - Date.now()));
    timer.unref();
    this.#timers.add(timer);
  }

  /** Revokes leases at once (a resolution whose value will not be used, or could not be recorded). */
  async revokeNow(leases: LeaseSet, secret: string, why: string): Promise<void> {
    await Promise.all(leases.all().map(({ lease }) => this.#revoke({ leaseId: lease.id, provider: lease.provider, secret, holders: [], expiresAt: 0 }, why)));
  }

  /** Revokes a lease that arrived after its read was given up on. */
  async revokeLate(lease: Lease, secret: string): Promise<void> {
    await this.#revoke({ leaseId: lease.id, provider: lease.provider, secret, holders: [], expiresAt: 0 }, "read timed out");
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
    this.#live.delete(lease.leaseId);
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
