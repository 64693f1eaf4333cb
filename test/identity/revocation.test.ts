// The in-memory revocation store with a fake clock: a jti stays revoked through its token's exp and the
// grace that covers clock tolerance, is forgotten afterwards, and expired entries are swept out.

import { describe, expect, test } from "bun:test";
import { MAX_CLOCK_TOLERANCE_SECONDS, MemoryRevocationStore } from "../../src/identity/revocation.ts";
import { FakeClock, NOW } from "./fixtures.ts";

describe("MemoryRevocationStore", () => {
  test("a jti is revoked until exp plus the grace, then forgotten", () => {
    const clock = new FakeClock();
    const store = new MemoryRevocationStore({ now: clock.now });
    store.revoke("jti-a", NOW + 60);
    expect(store.isRevoked("jti-a")).toBe(true);
    expect(store.isRevoked("jti-b")).toBe(false);

    clock.advanceSeconds(60 + MAX_CLOCK_TOLERANCE_SECONDS - 1); // past exp, inside any clock tolerance
    expect(store.isRevoked("jti-a")).toBe(true);
    clock.advanceSeconds(1);
    expect(store.isRevoked("jti-a")).toBe(false);
    expect(store.size).toBe(0);
  });

  test("a jti whose token can no longer verify is not stored", () => {
    const clock = new FakeClock();
    const store = new MemoryRevocationStore({ now: clock.now, graceSeconds: 30 });
    store.revoke("long-gone", NOW - 31);
    expect(store.size).toBe(0);
    expect(store.isRevoked("long-gone")).toBe(false);
  });

  test("revoking twice keeps the later expiry", () => {
    const clock = new FakeClock();
    const store = new MemoryRevocationStore({ now: clock.now, graceSeconds: 0 });
    store.revoke("jti-a", NOW + 600);
    store.revoke("jti-a", NOW + 10);
    clock.advanceSeconds(300);
    expect(store.isRevoked("jti-a")).toBe(true);
  });

  test("expired entries are swept out by later revocations", () => {
    const clock = new FakeClock();
    const store = new MemoryRevocationStore({ now: clock.now, graceSeconds: 0, pruneIntervalSeconds: 60 });
    for (let i = 0; i < 50; i++) store.revoke(`short-${i}`, NOW + 10);
    store.revoke("long", NOW + 3600);
    expect(store.size).toBe(51);
    clock.advanceSeconds(61);
    store.revoke("another", NOW + 3600);
    expect(store.size).toBe(2);
    expect(store.isRevoked("long")).toBe(true);
    expect(store.isRevoked("short-0")).toBe(false);
  });

  test("refuses an empty jti or a missing exp", () => {
    const store = new MemoryRevocationStore();
    expect(() => store.revoke("", NOW)).toThrow("empty jti");
    expect(() => store.revoke("x", Number.NaN)).toThrow("exp");
  });
});
