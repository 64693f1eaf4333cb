// Leases: a dynamic secret (Vault's database/creds/<role>, aws/creds/<role>, any read that answers with a
// lease_id) is minted for the reader and lives only as long as its lease. The provider that obtains one
// reports it to the LeaseSink passed with the request; the caller renews it while it needs the
// credential and revokes it when done (kz run: src/runner/leases.ts). A lease id names a lease and can
// renew or revoke it with a token allowed to, never read the credential — still, kz prints only the path.

export interface LeaseRenewal {
  /** Seconds granted from now; less than asked when the lease reached its max TTL. */
  durationSeconds: number;
  renewable: boolean;
}

export interface Lease {
  /** The backend's lease id, e.g. "database/creds/readonly/2f6a…". */
  id: string;
  /** The provider name in the config, e.g. "vault". */
  provider: string;
  /** The path that was read, for messages, e.g. "database/creds/readonly". */
  path: string;
  /** Seconds it was granted for when obtained. */
  durationSeconds: number;
  renewable: boolean;
  /** Date.now() when obtained. */
  obtainedAt: number;
  /** Asks the backend for `incrementSeconds` more from now. */
  renew(incrementSeconds: number, signal?: AbortSignal): Promise<LeaseRenewal>;
  /** Ends the lease now: the backend deletes the credential. */
  revoke(signal?: AbortSignal): Promise<void>;
}

/** Credentials that simply expire: nothing to renew or revoke (AWS STS), but worth a warning before they do. */
export interface Expiry {
  provider: string;
  /** What expires, for messages, e.g. "role arn:aws:iam::123456789012:role/x". */
  what: string;
  /** Date.now() when the credential stops working. */
  expiresAt: number;
}

/** Where a provider reports each lease it obtains, with the name of every secret that took a value from it. */
export interface LeaseSink {
  add(lease: Lease, secret: string): void;
  /** Temporary credentials that cannot be renewed or revoked, by the secrets that hold them. */
  expires?(expiry: Expiry, secret: string): void;
}
