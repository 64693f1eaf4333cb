// The one contract every ServerState backend meets, run by test/state/sqlite.test.ts and redis.test.ts
// against a real store: shares (views, deletion at the last view, tombstones, expiry, atomic opens under
// concurrency from several clients of one store), captured secrets per owner, leases by holder and
// expiry, revocations. After the suite the store's raw bytes hold no plain captured value.

import { afterAll, describe, expect, test } from "bun:test";
import { randomBytes } from "node:crypto";
import { seal } from "../../src/state/seal.ts";
import type { ServerState, StoredShare } from "../../src/state/types.ts";

export interface Backend {
  /** A new client of the same store (a second replica). */
  open(): Promise<ServerState>;
  /** Everything the store holds, as text (file bytes, or every Redis key and value). */
  raw(): Promise<string>;
}

export const PLAIN_CAPTURED = "captured-PLAIN-value-7f3c9e1d";
const KEY = randomBytes(32);

export function share(over: Partial<StoredShare> = {}): StoredShare {
  const now = Date.now();
  return {
    id: randomBytes(16).toString("base64url"),
    ciphertext: `ct-${randomBytes(8).toString("hex")}`,
    views: 1,
    expiresAt: now + 3_600_000,
    createdAt: now,
    creator: "agent-7",
    passphrase: false,
    ...over,
  };
}

export function stateContract(name: string, backend: () => Backend): void {
  describe(`${name}: ServerState contract`, () => {
    let state: ServerState;
    const opened: ServerState[] = [];
    const client = async () => {
      const s = await backend().open();
      opened.push(s);
      return s;
    };
    afterAll(async () => {
      for (const s of opened) await s.close();
    });

    test("put, peek, open: views count down, the last view deletes the share and leaves a tombstone", async () => {
      state = await client();
      const s = share({ views: 2, passphrase: true });
      await state.putShare(s);
      expect(await state.peekShare(s.id)).toEqual({ status: "open", passphrase: true, viewsLeft: 2, expiresAt: s.expiresAt });
      expect(await state.peekShare(s.id)).toMatchObject({ status: "open", viewsLeft: 2 }); // peeking counts no view
      expect(await state.openShare(s.id)).toEqual({ status: "opened", ciphertext: s.ciphertext, viewsLeft: 1, passphrase: true, creator: "agent-7" });
      expect(await state.peekShare(s.id)).toMatchObject({ status: "open", viewsLeft: 1 });
      expect(await state.openShare(s.id)).toMatchObject({ status: "opened", viewsLeft: 0 });
      expect(await state.peekShare(s.id)).toEqual({ status: "consumed" });
      expect(await state.openShare(s.id)).toEqual({ status: "consumed" });
    });

    test("an unknown id is unknown, to peek and to open", async () => {
      expect(await state.peekShare("no-such-share")).toEqual({ status: "unknown" });
      expect(await state.openShare("no-such-share")).toEqual({ status: "unknown" });
    });

    test("an expired share does not open and says expired (not unknown, not consumed)", async () => {
      const s = share({ views: 3, expiresAt: Date.now() + 60_000 });
      await state.putShare(s);
      const later = s.expiresAt + 1;
      expect(await state.peekShare(s.id, later)).toEqual({ status: "expired" });
      expect(await state.openShare(s.id, later)).toEqual({ status: "expired" });
      expect(await state.openShare(s.id)).toEqual({ status: "expired" }); // the tombstone stays
      expect(await state.peekShare(s.id)).toEqual({ status: "expired" });
    });

    test("a share or captured secret stored already expired is never served", async () => {
      const past = Date.now() - 1_000;
      const s = share({ expiresAt: past });
      await state.putShare(s);
      expect(await state.peekShare(s.id)).toEqual({ status: "expired" });
      expect(await state.openShare(s.id)).toEqual({ status: "expired" });
      const owner = `late-${randomBytes(4).toString("hex")}`;
      await state.putCaptured({ owner, name: "OLD", sealed: seal(KEY, "old", "x"), hosts: [], expiresAt: past, createdAt: past - 1 });
      expect(await state.getCaptured(owner, "OLD")).toBeUndefined();
      expect(await state.listCaptured(owner)).toEqual([]);
    });

    test("a share id is never stored twice: the first share stays as it was", async () => {
      const s = share({ views: 2 });
      await state.putShare(s);
      await expect(state.putShare({ ...s, ciphertext: "ct-replaced", views: 5 })).rejects.toThrow();
      expect(await state.openShare(s.id)).toMatchObject({ status: "opened", ciphertext: s.ciphertext, viewsLeft: 1 });
    });

    test("a share is visible to every client of the store", async () => {
      const other = await client();
      const s = share();
      await state.putShare(s);
      expect(await other.openShare(s.id)).toMatchObject({ status: "opened", ciphertext: s.ciphertext });
      expect(await state.openShare(s.id)).toEqual({ status: "consumed" });
    });

    test("20 concurrent opens of a 1-view share, from 4 clients: exactly one opens", async () => {
      const clients = [state, await client(), await client(), await client()];
      const s = share();
      await state.putShare(s);
      const results = await Promise.all(Array.from({ length: 20 }, (_, i) => clients[i % 4]!.openShare(s.id)));
      expect(results.filter((r) => r.status === "opened")).toHaveLength(1);
      expect(results.filter((r) => r.status === "consumed")).toHaveLength(19);
    });

    test("20 concurrent opens of a 3-view share: exactly three open, with views 2, 1, 0", async () => {
      const clients = [state, await client()];
      const s = share({ views: 3 });
      await state.putShare(s);
      const results = await Promise.all(Array.from({ length: 20 }, (_, i) => clients[i % 2]!.openShare(s.id)));
      const ok = results.filter((r) => r.status === "opened");
      expect(ok.map((r) => (r.status === "opened" ? r.viewsLeft : -1)).sort()).toEqual([0, 1, 2]);
    });

    test("malformed records are refused", async () => {
      await expect(state.putShare(share({ views: 0 }))).rejects.toThrow(TypeError);
      await expect(state.putShare(share({ id: "" }))).rejects.toThrow(TypeError);
      await expect(state.putCaptured({ owner: "o", name: "n", sealed: "", hosts: [], expiresAt: 1, createdAt: 1 })).rejects.toThrow(TypeError);
      await expect(state.putLease({ leaseId: "l", provider: "v", secret: "S", holders: [], expiresAt: 1 })).rejects.toThrow(TypeError);
      await expect(state.revoke("", 1)).rejects.toThrow(TypeError);
    });

    test("captured secrets: per owner, replaced by name, listed by name, gone at expiry; stored sealed", async () => {
      const now = Date.now();
      const owner = `https://idp.example.test|agent-${randomBytes(4).toString("hex")}`;
      const other = `${owner}-other`;
      const sealed = seal(KEY, PLAIN_CAPTURED, `${owner}\u0000API_TOKEN`);
      await state.putCaptured({ owner, name: "API_TOKEN", sealed, hosts: ["api.example.com"], expiresAt: now + 60_000, createdAt: now });
      await state.putCaptured({ owner, name: "ALPHA", sealed: seal(KEY, "x", "a"), hosts: [], expiresAt: now + 10_000, createdAt: now });
      await state.putCaptured({ owner: other, name: "API_TOKEN", sealed: seal(KEY, "y", "b"), hosts: ["other.example"], expiresAt: now + 60_000, createdAt: now });

      expect(await state.getCaptured(owner, "API_TOKEN")).toEqual({ owner, name: "API_TOKEN", sealed, hosts: ["api.example.com"], expiresAt: now + 60_000, createdAt: now });
      expect((await state.listCaptured(owner)).map((c) => c.name)).toEqual(["ALPHA", "API_TOKEN"]);
      expect((await state.listCaptured(other)).map((c) => [c.name, c.hosts])).toEqual([["API_TOKEN", ["other.example"]]]);
      expect(await state.getCaptured(other, "ALPHA")).toBeUndefined();
      expect(await state.listCaptured("nobody")).toEqual([]);

      // Replaced, not duplicated.
      await state.putCaptured({ owner, name: "API_TOKEN", sealed, hosts: ["api2.example.com"], expiresAt: now + 60_000, createdAt: now + 1 });
      expect((await state.listCaptured(owner)).filter((c) => c.name === "API_TOKEN").map((c) => c.hosts)).toEqual([["api2.example.com"]]);

      // Expiry: ALPHA is gone after its expiresAt, API_TOKEN is not.
      expect(await state.getCaptured(owner, "ALPHA", now + 10_000)).toBeUndefined();
      expect((await state.listCaptured(owner, now + 10_000)).map((c) => c.name)).toEqual(["API_TOKEN"]);
      expect(await state.getCaptured(owner, "API_TOKEN", now + 60_000)).toBeUndefined();
      // Names with separators do not collide across owners.
      await state.putCaptured({ owner: "a:b", name: "c", sealed: seal(KEY, "1", "1"), hosts: [], expiresAt: now + 60_000, createdAt: now });
      expect(await state.getCaptured("a", "b:c")).toBeUndefined();
      expect(await backend().raw()).not.toContain(PLAIN_CAPTURED);
    });

    test("leases: taken by any holder once, and by expiry", async () => {
      const now = Date.now();
      const tag = randomBytes(4).toString("hex");
      const [root, child, other] = [`root-${tag}`, `child-${tag}`, `other-${tag}`];
      await state.putLease({ leaseId: `db/creds/ro/1-${tag}`, provider: "vault", secret: "DB", holders: [root, child], expiresAt: now + 60_000 });
      await state.putLease({ leaseId: `db/creds/ro/2-${tag}`, provider: "vault", secret: "DB", holders: [root], expiresAt: now + 60_000 });
      await state.putLease({ leaseId: `db/creds/ro/3-${tag}`, provider: "vault2", secret: "DB2", holders: [other], expiresAt: now + 1_000 });

      expect(await state.takeLeasesHeldBy(child)).toEqual([{ leaseId: `db/creds/ro/1-${tag}`, provider: "vault", secret: "DB", holders: [root, child], expiresAt: now + 60_000 }]);
      expect((await state.takeLeasesHeldBy(root)).map((l) => l.leaseId)).toEqual([`db/creds/ro/2-${tag}`]);
      expect(await state.takeLeasesHeldBy(root)).toEqual([]);
      expect(await state.takeLeasesHeldBy(child)).toEqual([]);

      expect((await state.takeExpiredLeases(now + 999)).filter((l) => l.leaseId.endsWith(tag))).toEqual([]);
      expect((await state.takeExpiredLeases(now + 1_000)).map((l) => l.leaseId)).toContain(`db/creds/ro/3-${tag}`);
      expect(await state.takeExpiredLeases(now + 1_000)).toEqual([]);
      expect(await state.takeLeasesHeldBy(other)).toEqual([]);
    });

    test("a lease taken concurrently by two clients is handed to exactly one", async () => {
      const tag = randomBytes(4).toString("hex");
      const other = await client();
      await state.putLease({ leaseId: `l-${tag}`, provider: "vault", secret: "DB", holders: [`j-${tag}`], expiresAt: Date.now() + 60_000 });
      const taken = await Promise.all([state.takeLeasesHeldBy(`j-${tag}`), other.takeLeasesHeldBy(`j-${tag}`), state.takeLeasesHeldBy(`j-${tag}`)]);
      expect(taken.flat()).toHaveLength(1);
    });

    test("revocations: revoked until exp + grace, seen by every client; a long-expired token is not stored", async () => {
      const other = await client();
      const exp = Math.floor(Date.now() / 1000) + 60;
      const jti = `jti-${randomBytes(6).toString("hex")}`;
      expect(await other.isRevoked(jti)).toBe(false);
      await state.revoke(jti, exp);
      expect(await other.isRevoked(jti)).toBe(true);
      expect(await state.isRevoked(`${jti}-sibling`)).toBe(false);
      await state.revoke(jti, exp - 30); // an earlier exp never shortens it
      expect(await other.isRevoked(jti)).toBe(true);
      const gone = `gone-${randomBytes(6).toString("hex")}`;
      await state.revoke(gone, Math.floor(Date.now() / 1000) - 3600);
      expect(await state.isRevoked(gone)).toBe(false);
    });

    test("the store holds no plain captured value", async () => {
      expect(await backend().raw()).not.toContain(PLAIN_CAPTURED);
    });
  });
}
