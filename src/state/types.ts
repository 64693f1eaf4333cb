// The server's shared state, behind one small interface: one-time shares, captured secrets, minted-token
// revocations and dynamic-secret leases. Two backends implement it — bun:sqlite beside the bundle (the
// embedded default) and Redis (several replicas). Every one-time operation is atomic in both. Nothing
// here ever holds a plain value: shares are client-side ciphertext, captured secrets arrive sealed
// (src/state/seal.ts), leases are ids.

import type { RevocationStore } from "../identity/revocation.ts";

/** The backend could not be reached or answered wrongly: the caller answers 503 and reveals nothing. */
export class StateUnavailableError extends Error {
  constructor(message = "server state is unavailable") {
    super(message);
    this.name = "StateUnavailableError";
  }
}

/** A one-time share as stored: only ciphertext (the key is in the link's fragment, never sent). */
export interface StoredShare {
  /** ≥128 random bits, base64url. */
  id: string;
  /** The client's envelope (base64url text), opaque to the server. */
  ciphertext: string;
  /** Views left (1–10 at creation). */
  views: number;
  /** Milliseconds since the epoch. */
  expiresAt: number;
  createdAt: number;
  /** Who created it, for the audit record (e.g. the identity's `sub`). */
  creator: string;
  /** Whether the key also needs a passphrase (the page asks for one). */
  passphrase: boolean;
}

/**
 * The outcome of opening a share. `opened` counted one view atomically (the share is deleted at its last
 * view); a consumed or expired share leaves a tombstone (no ciphertext) so the page can say which.
 */
export type ShareOpen =
  | { status: "opened"; ciphertext: string; viewsLeft: number; passphrase: boolean; creator: string }
  | { status: "unknown" }
  | { status: "consumed" }
  | { status: "expired" };

/** Whether a share exists and can still be opened, without counting a view (for GET /s/<id>). */
export type SharePeek = { status: "open"; passphrase: boolean; viewsLeft: number; expiresAt: number } | { status: "unknown" | "consumed" | "expired" };

/** A secret an agent captured from a response (MCP fetch … capture), owned by the calling identity. */
export interface CapturedSecret {
  /** The identity that owns it (stable key: issuer + subject). */
  owner: string;
  /** The name the agent gave it (`as`). */
  name: string;
  /** The value sealed with the state key (src/state/seal.ts); never the plain value. */
  sealed: string;
  /** Hosts it may be sent to. */
  hosts: string[];
  expiresAt: number;
  createdAt: number;
}

/** A dynamic-secret lease obtained for an identity; revoked with the token that obtained it. */
export interface StoredLease {
  /** The backend's lease id (e.g. Vault's `database/creds/ro/abc123`). */
  leaseId: string;
  /** The provider that issued it, as named in the bundle, so the server knows where to revoke. */
  provider: string;
  /** The secret it was read for. */
  secret: string;
  /** The jti of the token that obtained it and of every ancestor: revoking any of them revokes the lease. */
  holders: string[];
  expiresAt: number;
}

export interface ServerState extends RevocationStore {
  readonly kind: "sqlite" | "redis";

  putShare(share: StoredShare): Promise<void>;
  /** Counts one view atomically: under any concurrency a share with n views is opened at most n times. */
  openShare(id: string, now?: number): Promise<ShareOpen>;
  peekShare(id: string, now?: number): Promise<SharePeek>;

  /** Stores (or replaces) the owner's captured secret of that name. */
  putCaptured(secret: CapturedSecret): Promise<void>;
  getCaptured(owner: string, name: string, now?: number): Promise<CapturedSecret | undefined>;
  listCaptured(owner: string, now?: number): Promise<CapturedSecret[]>;
  /**
   * Removes the owner's captured secret of that name and returns it if it was live — atomically: of
   * concurrent takes (on any replica) exactly one gets it. MCP `share` hands a capture off with it.
   */
  takeCaptured(owner: string, name: string, now?: number): Promise<CapturedSecret | undefined>;

  putLease(lease: StoredLease): Promise<void>;
  /** Removes and returns every lease one of whose holders is `jti` (for revocation at the backend). */
  takeLeasesHeldBy(jti: string): Promise<StoredLease[]>;
  /** Removes and returns every lease past its expiry (for the sweeper to revoke at the backend). */
  takeExpiredLeases(now?: number): Promise<StoredLease[]>;

  /** Removes expired shares, captured secrets and revocations (Redis expires them itself). */
  sweep(now?: number): Promise<void>;
  close(): Promise<void>;
}

/** `state:` in bundle.yaml, resolved: a SQLite file (default: state.db beside the bundle) or a Redis URL. */
export type StateConfig = { kind: "sqlite"; path: string; keyFile: string } | { kind: "redis"; url: string; keyFile: string };
