// The cache of verified tokens: on its own (validity window, TTL, size bound, frozen claims) and inside
// the verifier with real ES256 keys and a fake clock — a repeated token is served from the cache, and a
// cached token is still refused once it expires, once it is revoked, and re-verified in full after the TTL.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { rmSync } from "node:fs";
import { MemoryRevocationStore } from "../../src/identity/revocation.ts";
import { VerifyCache } from "../../src/identity/verify-cache.ts";
import { createVerifier, type Verifier, type VerifyResult } from "../../src/identity/verify.ts";
import { claimsFor, expectRejected, FakeClock, jwksOf, makeKey, NOW, NOW_MS, sign, tempDir, writeJson, type TestKey } from "./fixtures.ts";

const ISS = "https://idp-cache.example.test";
const TOLERANCE = 10;

describe("VerifyCache", () => {
  const options = { ttlMs: 30_000, maxEntries: 3, maxTokenLength: 100 };
  const verified = (claims: Record<string, unknown>) => ({ issuer: "idp", claims: { exp: NOW + 300, ...claims } });

  test("an entry is used until the TTL, then dropped", () => {
    const cache = new VerifyCache(options);
    cache.put("t1", verified({ sub: "a" }), TOLERANCE, NOW_MS);
    expect(cache.get("t1", NOW_MS + 29_999)?.claims.sub).toBe("a");
    expect(cache.get("t1", NOW_MS + 30_000)).toBeUndefined();
    expect(cache.size).toBe(0);
  });

  test("an entry stops at exp + the clock tolerance, even inside the TTL", () => {
    const cache = new VerifyCache(options);
    cache.put("t1", verified({ exp: NOW + 5 }), TOLERANCE, NOW_MS);
    expect(cache.get("t1", NOW_MS + (5 + TOLERANCE) * 1000 - 1)).toBeDefined();
    expect(cache.get("t1", NOW_MS + (5 + TOLERANCE) * 1000)).toBeUndefined();
  });

  test("an entry is not used before nbf − tolerance (a clock set back)", () => {
    const cache = new VerifyCache(options);
    cache.put("t1", verified({ nbf: NOW }), TOLERANCE, NOW_MS);
    expect(cache.get("t1", NOW_MS - TOLERANCE * 1000)).toBeDefined();
    expect(cache.get("t1", NOW_MS - TOLERANCE * 1000 - 1)).toBeUndefined();
  });

  test("tokens without a numeric exp, already past it, or too long are not cached", () => {
    const cache = new VerifyCache(options);
    cache.put("no-exp", { issuer: "idp", claims: { sub: "a" } }, TOLERANCE, NOW_MS);
    cache.put("past", verified({ exp: NOW - TOLERANCE }), TOLERANCE, NOW_MS);
    cache.put("x".repeat(101), verified({}), TOLERANCE, NOW_MS);
    expect(cache.size).toBe(0);
  });

  test("holds at most maxEntries, dropping the oldest", () => {
    const cache = new VerifyCache(options);
    for (const token of ["t1", "t2", "t3", "t4"]) cache.put(token, verified({ sub: token }), TOLERANCE, NOW_MS);
    expect(cache.size).toBe(3);
    expect(cache.get("t1", NOW_MS)).toBeUndefined();
    expect(cache.get("t4", NOW_MS)?.claims.sub).toBe("t4");
  });

  test("cached claims are deep-frozen, so no caller can change what the next request sees", () => {
    const cache = new VerifyCache(options);
    cache.put("t1", verified({ groups: ["ops"], nested: { team: "data" } }), TOLERANCE, NOW_MS);
    const claims = cache.get("t1", NOW_MS)!.claims as Record<string, any>;
    expect(Object.isFrozen(claims) && Object.isFrozen(claims.groups) && Object.isFrozen(claims.nested)).toBe(true);
    expect(() => claims.groups.push("admin")).toThrow();
  });
});

describe("the verifier's cache", () => {
  let key: TestKey;
  let dir: string;
  let clock: FakeClock;
  let revocations: MemoryRevocationStore;
  let verifier: Verifier;

  beforeAll(async () => {
    key = await makeKey("ES256", "cache-1");
    dir = tempDir("cache");
    writeJson(dir, "jwks.json", jwksOf(key));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  async function freshVerifier(cache?: false): Promise<Verifier> {
    clock = new FakeClock();
    revocations = new MemoryRevocationStore({ now: clock.now });
    const issuers = [{ name: "idp", issuer: ISS, audience: "keyzero", algorithms: ["ES256"], jwksFile: "jwks.json", clockToleranceSeconds: TOLERANCE }];
    return createVerifier(issuers, { baseDir: dir, now: clock.now, revocations, cache: cache ?? { ttlMs: 30_000 } });
  }

  const claimsOf = (result: VerifyResult) => {
    if (!result.ok) throw new Error(`expected the token to verify: ${result.code} ${result.message}`);
    return result.claims;
  };

  test("a repeated token is answered from the cache: the same frozen claims object", async () => {
    verifier = await freshVerifier();
    const token = await sign(key, claimsFor(ISS, "keyzero", { service: "data-pipeline-agent" }));
    const first = claimsOf(await verifier.verify(token));
    const second = claimsOf(await verifier.verify(token));
    expect(second).toBe(first);
    expect(Object.isFrozen(second)).toBe(true);
    expect(second.service).toBe("data-pipeline-agent");
  });

  test("without the cache, every verification is done in full (a new claims object each time)", async () => {
    verifier = await freshVerifier(false);
    const token = await sign(key, claimsFor(ISS, "keyzero"));
    expect(claimsOf(await verifier.verify(token))).not.toBe(claimsOf(await verifier.verify(token)));
  });

  test("a cached token is refused once it expires, even inside the TTL", async () => {
    verifier = await freshVerifier();
    const token = await sign(key, claimsFor(ISS, "keyzero", { exp: NOW + 5 }));
    const cached = claimsOf(await verifier.verify(token));
    clock.advanceSeconds(5 + TOLERANCE - 1);
    expect(claimsOf(await verifier.verify(token))).toBe(cached); // still inside exp + tolerance
    clock.advanceSeconds(2); // 16 s after caching: well inside the 30 s TTL
    expectRejected(await verifier.verify(token), "token_expired", token);
  });

  test("a cached token is refused once its jti is revoked", async () => {
    verifier = await freshVerifier();
    const token = await sign(key, claimsFor(ISS, "keyzero", { jti: "cache-jti-0001" }));
    const cached = claimsOf(await verifier.verify(token));
    expect(claimsOf(await verifier.verify(token))).toBe(cached);
    revocations.revoke("cache-jti-0001", NOW + 300);
    expectRejected(await verifier.verify(token), "token_revoked", token);
  });

  test("after the TTL a token is verified in full again", async () => {
    verifier = await freshVerifier();
    const token = await sign(key, claimsFor(ISS, "keyzero"));
    const first = claimsOf(await verifier.verify(token));
    clock.advanceSeconds(29);
    expect(claimsOf(await verifier.verify(token))).toBe(first);
    clock.advanceSeconds(1);
    const again = claimsOf(await verifier.verify(token));
    expect(again).not.toBe(first);
    expect(again).toEqual(first);
  });

  test("the cache is keyed by the whole token: the same claims with a forged signature are refused", async () => {
    verifier = await freshVerifier();
    const good = await sign(key, claimsFor(ISS, "keyzero"));
    claimsOf(await verifier.verify(good));
    const [header, payload, signature] = good.split(".") as [string, string, string];
    const forged = `${header}.${payload}.${signature.startsWith("A") ? "B" : "A"}${signature.slice(1)}`;
    expectRejected(await verifier.verify(forged), "bad_signature", forged);
    expectRejected(await verifier.verify(forged), "bad_signature", forged);
  });
});
