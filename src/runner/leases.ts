// The leases of a run's dynamic secrets (Vault database/creds/<role> and kin): while the run lasts each
// is renewed at 2/3 of its remaining time, asking for its original duration again, until Vault grants
// less (its max TTL) — then one warning says when it ends; a lease that cannot be renewed warns once
// likewise. When the run ends, however it ends, every lease is revoked; a revocation that fails is one
// warning line (the path and secrets, not the lease id) and an audit record (with the id, so an operator
// can revoke it by hand). Timers are unref'd: they never keep kz alive after the child exits.

import type { AuditFields } from "../audit/log.ts";
import type { KzConfig } from "../config/types.ts";
import type { Lease } from "../providers/lease.ts";
import type { HeldExpiry, HeldLease, LeaseSet } from "../resolve/leases.ts";

const CALL_TIMEOUT_MS = 10_000;

export interface LeaseHooks {
  warn(message: string): void;
  /** Writes one audit record (a failed revocation). */
  audit(fields: AuditFields): void | Promise<void>;
}

/** kz's warnings on stderr; records to the local audit log (the one blind mode writes), opened only on need. */
export function leaseHooks(config: KzConfig, warn: (message: string) => void, env = process.env): LeaseHooks {
  return {
    warn,
    async audit(fields) {
      const [{ auditPathOf }, { AuditLog }, { loadOrCreateAuditKey, localAuditKeyPath }] = await Promise.all([
        import("../blind/session.ts"),
        import("../audit/log.ts"),
        import("../audit/key.ts"),
      ]);
      const log = new AuditLog(auditPathOf(config, env), () => loadOrCreateAuditKey(localAuditKeyPath(env)));
      try {
        log.append(fields);
      } finally {
        log.close();
      }
    },
  };
}

export interface LeaseKeeper {
  /** Stops renewing and revokes every lease (and any that arrives later). */
  end(): Promise<void>;
}

/** When to renew a lease with `remainingSeconds` left: at 2/3 of it. */
export function renewDelayMs(remainingSeconds: number): number {
  return Math.max(0, Math.floor((remainingSeconds * 1000 * 2) / 3));
}

/** "45s", "12m", "1h", "2h 5m". */
export function formatSeconds(seconds: number): string {
  if (seconds < 120) return `${Math.max(0, Math.round(seconds))}s`;
  if (seconds < 3600) return `${Math.round(seconds / 60)}m`;
  const h = Math.floor(seconds / 3600);
  const m = Math.round((seconds % 3600) / 60);
  return m ? `${h}h ${m}m` : `${h}h`;
}

const describe = ({ lease, secrets }: HeldLease) => `the ${lease.provider} lease on ${lease.path} (${[...secrets].sort().join(", ")})`;

function reasonOf(error: unknown): string {
  return error instanceof Error ? error.message.split("\n")[0]! : "unknown error";
}

/**
 * Renews `held` while `ended()` is false; returns a function that stops its timer and resolves once a
 * renewal already under way has been answered (so its warning is not lost and it does not race the
 * revocation).
 */
function renewWhileNeeded(held: HeldLease, hooks: LeaseHooks, ended: () => boolean): () => Promise<void> {
  const { lease } = held;
  const wanted = lease.durationSeconds;
  let expiresAt = lease.obtainedAt + wanted * 1000;
  let renewable = lease.renewable;
  let warned = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let renewing: Promise<void> | undefined;
  const secondsLeft = () => (expiresAt - Date.now()) / 1000;
  const warnOnce = (message: string) => {
    if (warned) return;
    warned = true;
    hooks.warn(message);
  };

  const schedule = () => {
    const left = secondsLeft();
    if (ended() || left <= 0) return;
    timer = setTimeout(() => void (renewing = tick().finally(() => (renewing = undefined))), renewDelayMs(left));
    timer.unref();
  };
  const tick = async () => {
    if (ended()) return;
    if (!renewable) return warnOnce(`${describe(held)} is not renewable and ends in ${formatSeconds(secondsLeft())}`);
    try {
      const granted = await lease.renew(wanted, AbortSignal.timeout(CALL_TIMEOUT_MS));
      expiresAt = Date.now() + granted.durationSeconds * 1000;
      renewable = granted.renewable;
      if (granted.durationSeconds < wanted) {
        return warnOnce(`${describe(held)} reached its max TTL and ends in ${formatSeconds(granted.durationSeconds)}; the run goes on without it then`);
      }
    } catch (error) {
      warnOnce(`could not renew ${describe(held)}: ${reasonOf(error)} — it ends in ${formatSeconds(secondsLeft())} unless a later renewal succeeds`);
    }
    schedule();
  };

  if (wanted > 0) schedule(); // a duration of 0 means the backend set no expiry
  return async () => {
    clearTimeout(timer);
    await renewing;
  };
}

async function revokeOne(held: HeldLease, hooks: LeaseHooks): Promise<void> {
  try {
    await held.lease.revoke(AbortSignal.timeout(CALL_TIMEOUT_MS));
  } catch (error) {
    const reason = reasonOf(error);
    hooks.warn(`could not revoke ${describe(held)}: ${reason}; it ends by itself when its TTL runs out`);
    try {
      await hooks.audit({
        event: "lease.revoke_failed",
        provider: held.lease.provider,
        path: held.lease.path,
        lease_id: held.lease.id,
        secrets: [...held.secrets].sort(),
        reason,
      });
    } catch (auditError) {
      hooks.warn(`cannot write the audit record of that failed revocation (${reasonOf(auditError)})`);
    }
  }
}

/** Revokes every lease in the set now (e.g. when a later secret failed and nothing will start). */
export async function revokeAll(set: LeaseSet, hooks: LeaseHooks): Promise<void> {
  set.onLate((lease: Lease) => void revokeOne({ lease, secrets: [] }, hooks));
  // A second ^C or a SIGTERM while revoking must not cut it short (each call is bounded by its timeout).
  const ignore = () => {};
  const signals = ["SIGINT", "SIGTERM", "SIGHUP"] as const;
  for (const s of signals) process.on(s, ignore);
  try {
    await Promise.all(set.all().map((held) => revokeOne(held, hooks)));
  } finally {
    for (const s of signals) process.off(s, ignore);
  }
}

/** Warns at 2/3 of its remaining time that a temporary credential (AWS STS) is about to expire. */
function warnBeforeExpiry({ expiry, secrets }: HeldExpiry, hooks: LeaseHooks): () => Promise<void> {
  const left = (expiry.expiresAt - Date.now()) / 1000;
  const timer = setTimeout(() => {
    const now = Math.max(0, (expiry.expiresAt - Date.now()) / 1000);
    hooks.warn(`the ${expiry.provider} credentials (${expiry.what}) of ${[...secrets].sort().join(", ")} expire in ${formatSeconds(now)} and cannot be renewed; the run goes on without them then`);
  }, renewDelayMs(left));
  timer.unref();
  return async () => clearTimeout(timer);
}

/** Starts renewing the set's leases (and watching its expiring credentials); end() revokes the leases. */
export function keepLeases(set: LeaseSet, hooks: LeaseHooks): LeaseKeeper {
  let ended = false;
  const stops = [
    ...set.all().map((held) => renewWhileNeeded(held, hooks, () => ended)),
    ...set.expiries().map((held) => warnBeforeExpiry(held, hooks)),
  ];
  return {
    async end() {
      if (ended) return;
      ended = true;
      await Promise.all(stops.map((stop) => stop()));
      await revokeAll(set, hooks);
    },
  };
}
