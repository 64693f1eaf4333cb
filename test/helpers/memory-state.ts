// A tiny in-memory ServerState for unit tests of the share routes: shares with views, expiry and
// tombstones, as the interface describes. The rest of the interface is stubbed (not used by shares).
import type { ServerState, ShareOpen, SharePeek, StoredShare } from "../../src/state/types.ts";
import { StateUnavailableError } from "../../src/state/types.ts";

export class MemoryState implements ServerState {
  readonly kind = "sqlite" as const;
  readonly shares = new Map<string, StoredShare>();
  readonly tombstones = new Map<string, "consumed" | "expired">();
  /** When set, every call fails as a backend that is down. */
  down = false;

  #check(): void {
    if (this.down) throw new StateUnavailableError("memory state is down");
  }

  async putShare(share: StoredShare): Promise<void> {
    this.#check();
    this.shares.set(share.id, { ...share });
  }

  async openShare(id: string, now = Date.now()): Promise<ShareOpen> {
    this.#check();
    const share = this.shares.get(id);
    if (!share) return { status: this.tombstones.get(id) ?? "unknown" };
    if (share.expiresAt <= now) {
      this.shares.delete(id);
      this.tombstones.set(id, "expired");
      return { status: "expired" };
    }
    share.views -= 1;
    if (share.views <= 0) {
      this.shares.delete(id);
      this.tombstones.set(id, "consumed");
    }
    return { status: "opened", ciphertext: share.ciphertext, viewsLeft: share.views, passphrase: share.passphrase, creator: share.creator };
  }

  async peekShare(id: string, now = Date.now()): Promise<SharePeek> {
    this.#check();
    const share = this.shares.get(id);
    if (!share) return { status: this.tombstones.get(id) ?? "unknown" };
    if (share.expiresAt <= now) return { status: "expired" };
    return { status: "open", passphrase: share.passphrase, viewsLeft: share.views, expiresAt: share.expiresAt };
  }

  revoke(): void {}
  isRevoked(): boolean {
    return false;
  }
  async putCaptured(): Promise<void> {}
  async getCaptured() {
    return undefined;
  }
  async listCaptured() {
    return [];
  }
  async takeCaptured() {
    return undefined;
  }
  async putLease(): Promise<void> {}
  async takeLeasesHeldBy() {
    return [];
  }
  async takeExpiredLeases() {
    return [];
  }
  async sweep(): Promise<void> {}
  async close(): Promise<void> {}
}

/**
 * Wraps a real backend for route tests: records every share stored (so a test can tell that nothing
 * was), and can be switched "down" so every call fails as an unreachable backend would.
 */
export class ProbedState implements ServerState {
  readonly stored: StoredShare[] = [];
  down = false;
  constructor(readonly inner: ServerState) {}
  get kind() {
    return this.inner.kind;
  }
  #check(): void {
    if (this.down) throw new StateUnavailableError("the state is down (test)");
  }
  async putShare(share: StoredShare): Promise<void> {
    this.#check();
    await this.inner.putShare(share);
    this.stored.push({ ...share });
  }
  async openShare(id: string, now?: number): Promise<ShareOpen> {
    this.#check();
    return this.inner.openShare(id, now);
  }
  async peekShare(id: string, now?: number): Promise<SharePeek> {
    this.#check();
    return this.inner.peekShare(id, now);
  }
  revoke(jti: string, expiresAt: number) {
    return this.inner.revoke(jti, expiresAt);
  }
  isRevoked(jti: string) {
    return this.inner.isRevoked(jti);
  }
  putCaptured: ServerState["putCaptured"] = (s) => this.inner.putCaptured(s);
  getCaptured: ServerState["getCaptured"] = (o, n, t) => this.inner.getCaptured(o, n, t);
  listCaptured: ServerState["listCaptured"] = (o, t) => this.inner.listCaptured(o, t);
  takeCaptured: ServerState["takeCaptured"] = (o, n, t) => this.inner.takeCaptured(o, n, t);
  putLease: ServerState["putLease"] = (l) => this.inner.putLease(l);
  takeLeasesHeldBy: ServerState["takeLeasesHeldBy"] = (j) => this.inner.takeLeasesHeldBy(j);
  takeExpiredLeases: ServerState["takeExpiredLeases"] = (t) => this.inner.takeExpiredLeases(t);
  sweep: ServerState["sweep"] = (t) => this.inner.sweep(t);
  close: ServerState["close"] = () => this.inner.close();
}
