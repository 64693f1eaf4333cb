// The lease keeper of kz run (src/runner/leases.ts) with fake leases whose renew/revoke the test
// controls: what it asks for, when it warns (once), that a renewal under way is answered before the
// revocation, that a failed revocation is one warning plus an audit record, and that a lease arriving
// after the end is revoked too. Each step waits for the call it expects, never for a clock.

import { expect, test } from "bun:test";
import type { Lease, LeaseRenewal } from "../../src/providers/lease.ts";
import { LeaseSet } from "../../src/resolve/leases.ts";
import { formatSeconds, keepLeases, renewDelayMs, revokeAll } from "../../src/runner/leases.ts";

interface FakeLease extends Lease {
  renewals: number[];
  revoked: number;
  /** Resolves with the next renew call's pending answer. */
  nextRenew(): Promise<(answer: LeaseRenewal | Error) => void>;
}

/** A lease of `duration` seconds obtained so long ago that `leftMs` remain: its renewal is due at once. */
function fakeLease(id: string, duration: number, opts: { leftMs?: number; renewable?: boolean; revokeError?: Error } = {}): FakeLease {
  const waiting: ((answer: (a: LeaseRenewal | Error) => void) => void)[] = [];
  const queued: ((a: LeaseRenewal | Error) => void)[] = [];
  const lease: FakeLease = {
    id,
    provider: "vault",
    path: "database/creds/ro",
    durationSeconds: duration,
    renewable: opts.renewable ?? true,
    obtainedAt: Date.now() - duration * 1000 + (opts.leftMs ?? 30),
    renewals: [],
    revoked: 0,
    renew(increment) {
      lease.renewals.push(increment);
      return new Promise<LeaseRenewal>((resolve, reject) => {
        const answer = (a: LeaseRenewal | Error) => (a instanceof Error ? reject(a) : resolve(a));
        const waiter = waiting.shift();
        if (waiter) waiter(answer);
        else queued.push(answer);
      });
    },
    async revoke() {
      lease.revoked++;
      if (opts.revokeError) throw opts.revokeError;
    },
    nextRenew() {
      const answer = queued.shift();
      return answer ? Promise.resolve(answer) : new Promise((resolve) => waiting.push(resolve));
    },
  };
  return lease;
}

function hooks() {
  const warnings: string[] = [];
  const audits: Record<string, unknown>[] = [];
  return { warnings, audits, warn: (m: string) => void warnings.push(m), audit: (f: Record<string, unknown>) => void audits.push(f) };
}

test("renews asking for the first duration again, and again while Vault grants it; revokes at the end", async () => {
  const set = new LeaseSet();
  const lease = fakeLease("l1", 1);
  set.add(lease, "DB_USER");
  set.add(lease, "DB_PASS");
  const h = hooks();
  const keeper = keepLeases(set, h);
  (await lease.nextRenew())({ durationSeconds: 1, renewable: true });
  (await lease.nextRenew())({ durationSeconds: 1, renewable: true }); // a second renewal ⇒ it rescheduled
  await keeper.end();
  expect(lease.renewals.slice(0, 2)).toEqual([1, 1]);
  expect(lease.revoked).toBe(1);
  expect(h.warnings).toEqual([]);
});

test("Vault grants less (max TTL): one warning, no more renewals", async () => {
  const set = new LeaseSet();
  const lease = fakeLease("l2", 600);
  set.add(lease, "DB_PASS");
  set.add(lease, "DB_USER");
  const h = hooks();
  const keeper = keepLeases(set, h);
  (await lease.nextRenew())({ durationSeconds: 120, renewable: true });
  await keeper.end();
  expect(h.warnings).toEqual(["the vault lease on database/creds/ro (DB_PASS, DB_USER) reached its max TTL and ends in 2m; the run goes on without it then"]);
  expect(lease.renewals).toEqual([600]);
});

test("the run ends while a renewal is under way: its answer (and warning) comes before the revocation", async () => {
  const set = new LeaseSet();
  const lease = fakeLease("l3", 600);
  set.add(lease, "DB_USER");
  const h = hooks();
  const keeper = keepLeases(set, h);
  const answer = await lease.nextRenew();
  const ended = keeper.end();
  await new Promise((r) => setImmediate(r)); // every pending step has run
  expect(lease.revoked).toBe(0); // held back until the renewal is answered
  answer({ durationSeconds: 10, renewable: true });
  await ended;
  expect(lease.revoked).toBe(1);
  expect(h.warnings).toHaveLength(1);
});

test("a renewal that fails warns once and tries again", async () => {
  const set = new LeaseSet();
  const lease = fakeLease("l4", 2, { leftMs: 1500 });
  set.add(lease, "DB_USER");
  const h = hooks();
  const keeper = keepLeases(set, h);
  (await lease.nextRenew())(new Error("Vault at http://v answered 500"));
  (await lease.nextRenew())(new Error("Vault at http://v answered 500"));
  await keeper.end();
  expect(h.warnings).toHaveLength(1);
  expect(h.warnings[0]).toStartWith("could not renew the vault lease on database/creds/ro (DB_USER): Vault at http://v answered 500 — it ends in");
});

test("a lease that cannot be renewed warns once before it ends", async () => {
  const set = new LeaseSet();
  const lease = fakeLease("l5", 60, { renewable: false, leftMs: 3 });
  set.add(lease, "DB_USER");
  const h = hooks();
  const keeper = keepLeases(set, h);
  while (h.warnings.length === 0) await new Promise((r) => setImmediate(r));
  await keeper.end();
  expect(h.warnings).toEqual(["the vault lease on database/creds/ro (DB_USER) is not renewable and ends in 0s"]);
  expect(lease.renewals).toEqual([]);
});

test("a refused revocation: one warning without the lease id, an audit record with it", async () => {
  const set = new LeaseSet();
  set.add(fakeLease("database/creds/ro/abc123", 3600, { leftMs: 3_600_000, revokeError: new Error("permission denied") }), "DB_USER");
  const h = hooks();
  await revokeAll(set, h);
  expect(h.warnings).toEqual(["could not revoke the vault lease on database/creds/ro (DB_USER): permission denied; it ends by itself when its TTL runs out"]);
  expect(h.audits).toEqual([{ event: "lease.revoke_failed", provider: "vault", path: "database/creds/ro", lease_id: "database/creds/ro/abc123", secrets: ["DB_USER"], reason: "permission denied" }]);
});

test("an audit log that cannot be written is said too", async () => {
  const set = new LeaseSet();
  set.add(fakeLease("x", 3600, { leftMs: 3_600_000, revokeError: new Error("denied") }), "A");
  const warnings: string[] = [];
  await revokeAll(set, { warn: (m) => void warnings.push(m), audit: () => Promise.reject(new Error("EACCES")) });
  expect(warnings).toHaveLength(2);
  expect(warnings[1]).toBe("cannot write the audit record of that failed revocation (EACCES)");
});

test("a lease that arrives after the end (a read that outlived its timeout) is revoked at once", async () => {
  const set = new LeaseSet();
  await revokeAll(set, hooks());
  const late = fakeLease("late", 3600, { leftMs: 3_600_000 });
  set.add(late, "DB_USER");
  await new Promise((r) => setImmediate(r));
  expect(late.revoked).toBe(1);
});

test("temporary credentials (AWS STS) that cannot be renewed: one warning at 2/3 of their time", async () => {
  const set = new LeaseSet();
  const expiry = { provider: "aws-sts", what: "role arn:aws:iam::123456789012:role/r", expiresAt: Date.now() + 30 };
  set.expires(expiry, "AWS_SESSION_TOKEN");
  set.expires(expiry, "AWS_ACCESS_KEY_ID");
  const h = hooks();
  const keeper = keepLeases(set, h);
  while (h.warnings.length === 0) await new Promise((r) => setImmediate(r));
  await keeper.end();
  expect(h.warnings).toEqual([
    "the aws-sts credentials (role arn:aws:iam::123456789012:role/r) of AWS_ACCESS_KEY_ID, AWS_SESSION_TOKEN expire in 0s and cannot be renewed; the run goes on without them then",
  ]);
  expect(set.size).toBe(0); // nothing to revoke
});

test("timing and formatting", () => {
  expect([renewDelayMs(3), renewDelayMs(3600), renewDelayMs(-1)]).toEqual([2000, 2_400_000, 0]);
  expect([formatSeconds(45), formatSeconds(119.6), formatSeconds(600), formatSeconds(3600), formatSeconds(5400), formatSeconds(-3)]).toEqual(["45s", "120s", "10m", "1h", "1h 30m", "0s"]);
});
