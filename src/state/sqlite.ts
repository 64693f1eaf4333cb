// The embedded state backend: one bun:sqlite file beside the bundle (WAL, mode 0600, schema created on
// open). Every one-time operation runs in one IMMEDIATE transaction, so a share with n views opens at most
// n times even when several processes share the file (SQLite's write lock orders them; busy_timeout makes
// the others wait rather than fail). Consumed and expired shares leave a tombstone (the id, no
// ciphertext) for TOMBSTONE_MS. Nothing expires by itself here: the server calls sweep() on a timer.
// Any SQLite failure surfaces as StateUnavailableError (the caller answers 503 and reveals nothing).

import { Database, type Statement } from "bun:sqlite";
import { chmodSync, closeSync, existsSync, openSync, statSync } from "node:fs";
import { dirname } from "node:path";
import { ConfigError } from "../errors.ts";
import { checkCaptured, checkJti, checkLease, checkShare, revocationForgetAt, TOMBSTONE_MS } from "./common.ts";
import { StateUnavailableError, type CapturedSecret, type ServerState, type ShareOpen, type SharePeek, type StoredLease, type StoredShare } from "./types.ts";

const SCHEMA = `
CREATE TABLE IF NOT EXISTS shares (
  id TEXT PRIMARY KEY, ciphertext TEXT NOT NULL, views INTEGER NOT NULL, expires_at INTEGER NOT NULL,
  created_at INTEGER NOT NULL, creator TEXT NOT NULL, passphrase INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS shares_expiry ON shares (expires_at);
CREATE TABLE IF NOT EXISTS tombstones (id TEXT PRIMARY KEY, status TEXT NOT NULL, forget_at INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS tombstones_expiry ON tombstones (forget_at);
CREATE TABLE IF NOT EXISTS captured (
  owner TEXT NOT NULL, name TEXT NOT NULL, sealed TEXT NOT NULL, hosts TEXT NOT NULL,
  expires_at INTEGER NOT NULL, created_at INTEGER NOT NULL, PRIMARY KEY (owner, name));
CREATE INDEX IF NOT EXISTS captured_expiry ON captured (expires_at);
CREATE TABLE IF NOT EXISTS revocations (jti TEXT PRIMARY KEY, forget_at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS leases (
  lease_id TEXT PRIMARY KEY, provider TEXT NOT NULL, secret TEXT NOT NULL, holders TEXT NOT NULL, expires_at INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS leases_expiry ON leases (expires_at);
CREATE TABLE IF NOT EXISTS lease_holders (jti TEXT NOT NULL, lease_id TEXT NOT NULL, PRIMARY KEY (jti, lease_id));
CREATE INDEX IF NOT EXISTS lease_holders_lease ON lease_holders (lease_id);
`;

interface ShareRow {
  ciphertext: string;
  views: number;
  expires_at: number;
  passphrase: number;
  creator: string;
}
interface CapturedRow {
  owner: string;
  name: string;
  sealed: string;
  hosts: string;
  expires_at: number;
  created_at: number;
}
interface LeaseRow {
  lease_id: string;
  provider: string;
  secret: string;
  holders: string;
  expires_at: number;
}

const capturedOf = (r: CapturedRow): CapturedSecret => ({
  owner: r.owner,
  name: r.name,
  sealed: r.sealed,
  hosts: JSON.parse(r.hosts) as string[],
  expiresAt: r.expires_at,
  createdAt: r.created_at,
});
const leaseOf = (r: LeaseRow): StoredLease => ({
  leaseId: r.lease_id,
  provider: r.provider,
  secret: r.secret,
  holders: JSON.parse(r.holders) as string[],
  expiresAt: r.expires_at,
});

export interface SqliteStateOptions {
  /** Clock in milliseconds; tests pass a fake one. */
  now?: () => number;
  /** How long a writer waits for another process's lock before the operation fails (ms). */
  busyTimeoutMs?: number;
}

/** Creates the file 0600 before SQLite does (SQLite gives its -wal and -shm files the same mode). */
function prepareFile(path: string): void {
  if (!existsSync(dirname(path))) throw new ConfigError(`state file ${path}: its directory does not exist`);
  try {
    closeSync(openSync(path, "a", 0o600));
    if ((statSync(path).mode & 0o077) !== 0) chmodSync(path, 0o600);
  } catch (error) {
    throw new ConfigError(`state file ${path}: cannot open (${(error as NodeJS.ErrnoException).code ?? "error"})`);
  }
}

export class SqliteState implements ServerState {
  readonly kind = "sqlite" as const;
  readonly #db: Database;
  readonly #now: () => number;
  /** Prepared statements by SQL text (a JS map is cheaper than bun:sqlite's own cache lookup). */
  readonly #statements = new Map<string, Statement>();

  constructor(readonly path: string, options: SqliteStateOptions = {}) {
    this.#now = options.now ?? Date.now;
    if (path !== ":memory:") prepareFile(path);
    try {
      this.#db = new Database(path, { create: true });
      this.#db.exec(`PRAGMA busy_timeout = ${Math.floor(options.busyTimeoutMs ?? 5000)}`);
      this.#db.exec("PRAGMA journal_mode = WAL");
      this.#db.exec("PRAGMA synchronous = NORMAL");
      // Deleted rows (a consumed share's ciphertext) are overwritten, not left in free pages.
      this.#db.exec("PRAGMA secure_delete = ON");
      this.#db.transaction(() => this.#db.exec(SCHEMA)).immediate();
    } catch (error) {
      throw new ConfigError(`state file ${path}: not a usable SQLite database (${String((error as Error).message).split("\n")[0]})`);
    }
  }

  /** Runs one database step; any SQLite failure becomes StateUnavailableError (argument errors pass). */
  #run<T>(step: () => T): Promise<T> {
    try {
      return Promise.resolve(step());
    } catch (error) {
      if (error instanceof TypeError) return Promise.reject(error);
      return Promise.reject(new StateUnavailableError(`server state (sqlite) failed: ${String((error as Error)?.message ?? error).split("\n")[0]}`));
    }
  }

  #q(sql: string): Statement {
    let statement = this.#statements.get(sql);
    if (!statement) this.#statements.set(sql, (statement = this.#db.prepare(sql)));
    return statement;
  }

  #tx<T>(fn: () => T): T {
    return this.#db.transaction(fn).immediate();
  }

  #tombstone(id: string, status: "consumed" | "expired", now: number): void {
    this.#q("INSERT OR REPLACE INTO tombstones (id, status, forget_at) VALUES (?, ?, ?)").run(id, status, now + TOMBSTONE_MS);
  }

  putShare(share: StoredShare): Promise<void> {
    return this.#run(() => {
      checkShare(share);
      this.#tx(() => {
        this.#q("DELETE FROM tombstones WHERE id = ?").run(share.id);
        this.#q("INSERT INTO shares (id, ciphertext, views, expires_at, created_at, creator, passphrase) VALUES (?, ?, ?, ?, ?, ?, ?)").run(share.id, share.ciphertext, share.views, share.expiresAt, share.createdAt, share.creator, share.passphrase ? 1 : 0);
      });
    });
  }

  openShare(id: string, now = this.#now()): Promise<ShareOpen> {
    return this.#run(() => {
      const result = this.#tx((): ShareOpen => {
        const row = this.#q("UPDATE shares SET views = views - 1 WHERE id = ? AND views > 0 AND expires_at > ? RETURNING ciphertext, views, passphrase, creator")
          .get(id, now) as Omit<ShareRow, "expires_at"> | null;
        if (row) {
          if (row.views <= 0) {
            this.#q("DELETE FROM shares WHERE id = ?").run(id);
            this.#tombstone(id, "consumed", now);
          }
          return { status: "opened", ciphertext: row.ciphertext, viewsLeft: row.views, passphrase: row.passphrase === 1, creator: row.creator };
        }
        const stale = this.#q("SELECT views FROM shares WHERE id = ?").get(id) as { views: number } | null;
        if (stale) {
          this.#q("DELETE FROM shares WHERE id = ?").run(id);
          const status = stale.views > 0 ? "expired" : "consumed";
          this.#tombstone(id, status, now);
          return { status };
        }
        return this.#tombstoneStatus(id, now);
      });
      // The last view: fold the WAL back so the ciphertext's old page images leave the disk now.
      if (result.status === "opened" && result.viewsLeft === 0) this.#foldWal();
      return result;
    });
  }

  /** Checkpoints and empties the WAL; best effort (another process reading keeps it for the next sweep). */
  #foldWal(): void {
    try {
      this.#db.exec("PRAGMA wal_checkpoint(TRUNCATE)");
    } catch {
      // retried by the sweep
    }
  }

  #tombstoneStatus(id: string, now: number): { status: "unknown" | "consumed" | "expired" } {
    const tomb = this.#q("SELECT status FROM tombstones WHERE id = ? AND forget_at > ?").get(id, now) as { status: "consumed" | "expired" } | null;
    return { status: tomb?.status ?? "unknown" };
  }

  peekShare(id: string, now = this.#now()): Promise<SharePeek> {
    return this.#run((): SharePeek => {
      const row = this.#q("SELECT views, expires_at, passphrase FROM shares WHERE id = ?").get(id) as Omit<ShareRow, "ciphertext" | "creator"> | null;
      if (row) {
        if (row.views <= 0) return { status: "consumed" };
        if (row.expires_at <= now) return { status: "expired" };
        return { status: "open", passphrase: row.passphrase === 1, viewsLeft: row.views, expiresAt: row.expires_at };
      }
      return this.#tombstoneStatus(id, now);
    });
  }

  putCaptured(secret: CapturedSecret): Promise<void> {
    return this.#run(() => {
      checkCaptured(secret);
      this.#q("INSERT OR REPLACE INTO captured (owner, name, sealed, hosts, expires_at, created_at) VALUES (?, ?, ?, ?, ?, ?)").run(secret.owner, secret.name, secret.sealed, JSON.stringify(secret.hosts), secret.expiresAt, secret.createdAt);
    });
  }

  getCaptured(owner: string, name: string, now = this.#now()): Promise<CapturedSecret | undefined> {
    return this.#run(() => {
      const row = this.#q("SELECT * FROM captured WHERE owner = ? AND name = ? AND expires_at > ?").get(owner, name, now) as CapturedRow | null;
      return row ? capturedOf(row) : undefined;
    });
  }

  takeCaptured(owner: string, name: string, now = this.#now()): Promise<CapturedSecret | undefined> {
    return this.#run(() => {
      const row = this.#q("DELETE FROM captured WHERE owner = ? AND name = ? RETURNING *").get(owner, name) as CapturedRow | null;
      return row && row.expires_at > now ? capturedOf(row) : undefined;
    });
  }

  listCaptured(owner: string, now = this.#now()): Promise<CapturedSecret[]> {
    return this.#run(() => (this.#q("SELECT * FROM captured WHERE owner = ? AND expires_at > ? ORDER BY name").all(owner, now) as CapturedRow[]).map(capturedOf));
  }

  revoke(jti: string, expiresAt: number): Promise<void> {
    return this.#run(() => {
      checkJti(jti);
      const forgetAt = revocationForgetAt(expiresAt);
      if (forgetAt <= this.#now()) return;
      this.#q("INSERT INTO revocations (jti, forget_at) VALUES (?, ?) ON CONFLICT (jti) DO UPDATE SET forget_at = max(forget_at, excluded.forget_at)").run(jti, forgetAt);
    });
  }

  /** Synchronous (the verifier's hot path takes a plain boolean without a promise); throws StateUnavailableError. */
  isRevoked(jti: string): boolean {
    try {
      return this.#q("SELECT 1 AS x FROM revocations WHERE jti = ? AND forget_at > ?").get(jti, this.#now()) !== null;
    } catch (error) {
      throw new StateUnavailableError(`server state (sqlite) failed: ${String((error as Error)?.message ?? error).split("\n")[0]}`);
    }
  }

  putLease(lease: StoredLease): Promise<void> {
    return this.#run(() => {
      checkLease(lease);
      this.#tx(() => {
        this.#q("DELETE FROM lease_holders WHERE lease_id = ?").run(lease.leaseId);
        this.#q("INSERT OR REPLACE INTO leases (lease_id, provider, secret, holders, expires_at) VALUES (?, ?, ?, ?, ?)").run(lease.leaseId, lease.provider, lease.secret, JSON.stringify(lease.holders), lease.expiresAt);
        const holder = this.#q("INSERT OR IGNORE INTO lease_holders (jti, lease_id) VALUES (?, ?)");
        for (const jti of lease.holders) holder.run(jti, lease.leaseId);
      });
    });
  }

  /** Removes the leases the rows name (with their holder rows) and returns them; inside a transaction. */
  #take(rows: LeaseRow[]): StoredLease[] {
    const lease = this.#q("DELETE FROM leases WHERE lease_id = ?");
    const holders = this.#q("DELETE FROM lease_holders WHERE lease_id = ?");
    for (const row of rows) {
      lease.run(row.lease_id);
      holders.run(row.lease_id);
    }
    return rows.map(leaseOf);
  }

  takeLeasesHeldBy(jti: string): Promise<StoredLease[]> {
    return this.#run(() =>
      this.#tx(() =>
        this.#take(this.#q("SELECT l.* FROM leases l JOIN lease_holders h ON h.lease_id = l.lease_id WHERE h.jti = ? ORDER BY l.lease_id").all(jti) as LeaseRow[]),
      ),
    );
  }

  takeExpiredLeases(now = this.#now()): Promise<StoredLease[]> {
    return this.#run(() => this.#tx(() => this.#take(this.#q("SELECT * FROM leases WHERE expires_at <= ? ORDER BY lease_id").all(now) as LeaseRow[])));
  }

  sweep(now = this.#now()): Promise<void> {
    return this.#run(() => {
      this.#tx(() => {
        const expired = this.#q("DELETE FROM shares WHERE expires_at <= ? OR views <= 0 RETURNING id, views").all(now) as { id: string; views: number }[];
        for (const { id, views } of expired) this.#tombstone(id, views > 0 ? "expired" : "consumed", now);
        this.#q("DELETE FROM tombstones WHERE forget_at <= ?").run(now);
        this.#q("DELETE FROM captured WHERE expires_at <= ?").run(now);
        this.#q("DELETE FROM revocations WHERE forget_at <= ?").run(now);
      });
      // Fold the WAL into the file and empty it, so old page images (deleted ciphertext) do not linger.
      this.#foldWal();
    });
  }

  async close(): Promise<void> {
    try {
      this.#db.close();
    } catch {
      // already closed
    }
  }
}
