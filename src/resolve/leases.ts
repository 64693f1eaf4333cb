// The leases one resolution obtained (see providers/lease.ts), each with the secrets that took values
// from it. A lease that arrives after its owner stopped collecting (a read that outlived its timeout)
// is handed to the `late` handler, so that it is still revoked.

import type { Expiry, Lease, LeaseSink } from "../providers/lease.ts";

export interface HeldLease {
  lease: Lease;
  /** Names of the secrets whose values came from this lease. */
  secrets: string[];
}

export interface HeldExpiry {
  expiry: Expiry;
  secrets: string[];
}

export class LeaseSet implements LeaseSink {
  private readonly held = new Map<string, HeldLease>();
  private readonly expiring = new Map<string, HeldExpiry>();
  private late: ((lease: Lease) => void) | undefined;

  add(lease: Lease, secret: string): void {
    let entry = this.held.get(lease.id);
    if (!entry) {
      entry = { lease, secrets: [] };
      this.held.set(lease.id, entry);
      this.late?.(lease);
    }
    if (!entry.secrets.includes(secret)) entry.secrets.push(secret);
  }

  expires(expiry: Expiry, secret: string): void {
    const key = `${expiry.provider}|${expiry.what}|${expiry.expiresAt}`;
    let entry = this.expiring.get(key);
    if (!entry) this.expiring.set(key, (entry = { expiry, secrets: [] }));
    if (!entry.secrets.includes(secret)) entry.secrets.push(secret);
  }

  /** Leases held (expiring credentials are not counted: see expiries()). */
  get size(): number {
    return this.held.size;
  }

  expiries(): HeldExpiry[] {
    return [...this.expiring.values()];
  }

  /** When the temporary credential a secret's value belongs to expires, if it does. */
  expiryOf(secret: string): Expiry | undefined {
    for (const entry of this.expiring.values()) if (entry.secrets.includes(secret)) return entry.expiry;
    return undefined;
  }

  all(): HeldLease[] {
    return [...this.held.values()];
  }

  /** The lease a secret's value came from, if it is dynamic. */
  leaseOf(secret: string): Lease | undefined {
    for (const entry of this.held.values()) if (entry.secrets.includes(secret)) return entry.lease;
    return undefined;
  }

  /** Every lease added from now on goes to `handler` too (e.g. revoke at once: the run is over). */
  onLate(handler: (lease: Lease) => void): void {
    this.late = handler;
  }
}
