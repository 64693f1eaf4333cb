// Revocation cascades: a minted token carries the jtis of its ancestors (kz_ancestry, root first), so
// revoking any ancestor refuses every descendant at once — also one the verifier has cached — and none of
// them can mint again. Mints deeper than MAX_MINT_DEPTH are refused; a forged or oversized ancestry is an
// invalid claim. Who may revoke: the token itself or its direct parent by jti — never a sibling that
// merely shares the parent's sub and issuer, nor a grandparent (it revokes the child, which cascades).

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { rmSync } from "node:fs";
import type { JWTPayload } from "jose";
import { ANCESTRY_CLAIM, createMinter, MAX_MINT_DEPTH, MintError, type MintedToken, type TokenMinter } from "../../src/identity/mint.ts";
import { MemoryRevocationStore } from "../../src/identity/revocation.ts";
import { createVerifier, type Verifier } from "../../src/identity/verify.ts";
import { mayRevoke } from "../../src/server/app.ts";
import { claimsFor, expectRejected, FakeClock, jwksOf, makeKey, NOW, sign, tempDir, writeJson, type TestKey } from "./fixtures.ts";

const IDP = "https://idp.example.test";
const SERVER = "https://kz.example.test";

let idpKey: TestKey;
let dir: string;
let minter: TokenMinter;
let revocations: MemoryRevocationStore;
let verifier: Verifier;
const clock = new FakeClock();

beforeAll(async () => {
  idpKey = await makeKey("ES256", "idp-1");
  dir = tempDir("cascade");
  writeJson(dir, "idp.jwks.json", jwksOf(idpKey));
  minter = await createMinter({ issuer: SERVER, audience: ["keyzero"], now: clock.now });
  revocations = new MemoryRevocationStore({ now: clock.now });
  // The default verify cache is on: cached tokens must still see their ancestors' revocations.
  verifier = await createVerifier([{ name: "idp", issuer: IDP, audience: "keyzero", algorithms: ["ES256"], jwksFile: "idp.jwks.json" }], {
    baseDir: dir,
    minter,
    revocations,
    now: clock.now,
  });
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let rootCount = 0;
/** A verified IdP token (with a jti unless `jti: undefined`). */
async function root(extra: JWTPayload = {}): Promise<{ token: string; claims: JWTPayload }> {
  const token = await sign(idpKey, claimsFor(IDP, "keyzero", { jti: `idp-${++rootCount}`, ...extra }));
  const result = await verifier.verify(token);
  if (!result.ok) throw new Error(result.message);
  return { token, claims: result.claims };
}

async function claimsOf(token: string): Promise<JWTPayload> {
  const result = await verifier.verify(token);
  if (!result.ok) throw new Error(`${result.code}: ${result.message}`);
  return result.claims;
}

const mintFrom = (parent: JWTPayload) => minter.mint({ parentClaims: parent, scope: { secrets: ["DB_PROD"] } });

describe("ancestry", () => {
  test("each generation carries its ancestors' jtis, root first", async () => {
    const r = await root();
    const a = await mintFrom(r.claims);
    const c = await mintFrom(await claimsOf(a.token));
    const c2 = await mintFrom(await claimsOf(c.token));
    expect((await claimsOf(a.token))[ANCESTRY_CLAIM]).toEqual([r.claims.jti]);
    expect((await claimsOf(c.token))[ANCESTRY_CLAIM]).toEqual([r.claims.jti, a.jti]);
    expect((await claimsOf(c2.token))[ANCESTRY_CLAIM]).toEqual([r.claims.jti, a.jti, c.jti]);
    expect(c2.ancestry).toEqual([r.claims.jti as string, a.jti, c.jti]);
  });

  test(`a mint deeper than ${MAX_MINT_DEPTH} ancestors is refused`, async () => {
    let parent = (await root()).claims;
    for (let depth = 1; depth <= MAX_MINT_DEPTH; depth++) {
      const minted = await mintFrom(parent);
      expect(minted.ancestry).toHaveLength(depth);
      parent = await claimsOf(minted.token);
    }
    const deeper = mintFrom(parent);
    await expect(deeper).rejects.toBeInstanceOf(MintError);
    await expect(deeper).rejects.toThrow(`a minted token may have at most ${MAX_MINT_DEPTH} ancestors`);
  });

  test("an IdP token's own kz_ancestry is not inherited; a parent without a jti adds none", async () => {
    const r = await root({ [ANCESTRY_CLAIM]: ["made-up"] });
    expect((await mintFrom(r.claims)).ancestry).toEqual([r.claims.jti as string]);
    const noJti = await root({ jti: undefined });
    expect((await mintFrom(noJti.claims)).ancestry).toEqual([]);
  });

  test("a malformed ancestry claim is refused as an invalid claim", async () => {
    for (const bad of [["x", 1], "x", Array.from({ length: MAX_MINT_DEPTH + 1 }, (_, i) => `j${i}`), [""]]) {
      const token = await sign(idpKey, claimsFor(IDP, "keyzero", { jti: `bad-${JSON.stringify(bad).length}`, [ANCESTRY_CLAIM]: bad }));
      expectRejected(await verifier.verify(token), "invalid_claim", token, ANCESTRY_CLAIM);
    }
  });
});

describe("revoking an ancestor", () => {
  test("A → C → C2: revoking A refuses A, C and C2 at once — cached or not — and the root still verifies", async () => {
    const r = await root();
    const a = await mintFrom(r.claims);
    const c = await mintFrom(await claimsOf(a.token));
    const c2 = await mintFrom(await claimsOf(c.token));
    const sibling = await mintFrom(r.claims); // A's sibling: not a descendant of A
    for (const t of [a, c, c2, sibling]) await claimsOf(t.token); // all verified, so all cached

    await revocations.revoke(a.jti, a.expiresAt);
    expectRejected(await verifier.verify(a.token), "token_revoked", a.token, "token has been revoked");
    for (const t of [c, c2]) expectRejected(await verifier.verify(t.token), "token_revoked", t.token, "a token it was minted from was revoked");
    expect(await verifier.verify(sibling.token)).toMatchObject({ ok: true });
    expect(await verifier.verify(r.token)).toMatchObject({ ok: true });
  });

  test("revoking the middle (C) leaves A working and refuses C2; revoking the root refuses all", async () => {
    const r = await root();
    const a = await mintFrom(r.claims);
    const c = await mintFrom(await claimsOf(a.token));
    const c2 = await mintFrom(await claimsOf(c.token));
    await revocations.revoke(c.jti, c.expiresAt);
    expect(await verifier.verify(a.token)).toMatchObject({ ok: true });
    expectRejected(await verifier.verify(c2.token), "token_revoked", c2.token);
    await revocations.revoke(r.claims.jti as string, r.claims.exp as number);
    for (const t of [r.token, a.token]) expectRejected(await verifier.verify(t), "token_revoked", t);
  });

  test("a descendant's revocation outlives nothing it protects: it lasts until the ancestor's own exp", async () => {
    const r = await root();
    const a = await mintFrom(r.claims);
    const c: MintedToken = await mintFrom(await claimsOf(a.token));
    expect(c.expiresAt).toBeLessThanOrEqual(a.expiresAt);
    await revocations.revoke(a.jti, a.expiresAt);
    clock.advanceSeconds(c.expiresAt - NOW - 1); // C is still inside its lifetime
    expectRejected(await verifier.verify(c.token), "token_revoked", c.token);
    clock.ms = NOW * 1000;
  });
});

describe("who may revoke", () => {
  const identity = (issuer: string, claims: JWTPayload) => ({ issuer, subject: String(claims.sub), claims: claims as Record<string, unknown> });

  test("the token itself and its direct parent (by jti) may; a sibling with the same sub and iss, a grandparent and a stranger may not", async () => {
    const r = await root();
    const a = await claimsOf((await mintFrom(r.claims)).token);
    const aSibling = await claimsOf((await mintFrom(r.claims)).token);
    const c = await claimsOf((await mintFrom(a)).token);
    expect([a.sub, a.iss]).toEqual([aSibling.sub, aSibling.iss]);

    expect(mayRevoke(identity("keyzero", c), c, "keyzero")).toBe(true); // itself
    expect(mayRevoke(identity("keyzero", a), c, "keyzero")).toBe(true); // its parent
    expect(mayRevoke(identity("idp", r.claims), a, "keyzero")).toBe(true); // an IdP parent, by its jti
    expect(mayRevoke(identity("keyzero", aSibling), c, "keyzero")).toBe(false); // the parent's sibling
    expect(mayRevoke(identity("keyzero", aSibling), a, "keyzero")).toBe(false); // a sibling
    expect(mayRevoke(identity("idp", r.claims), c, "keyzero")).toBe(false); // a grandparent
    const other = await root();
    expect(mayRevoke(identity("idp", other.claims), a, "keyzero")).toBe(false); // same sub/iss, other jti
    // An IdP token claiming a minted token's jti is not that token.
    expect(mayRevoke(identity("idp", { ...other.claims, jti: a.jti }), a, "keyzero")).toBe(false);
  });

  test("what a parent without a jti minted can be revoked only by itself", async () => {
    const noJti = await root({ jti: undefined });
    const child = await claimsOf((await mintFrom(noJti.claims)).token);
    expect(mayRevoke(identity("idp", noJti.claims), child, "keyzero")).toBe(false);
    expect(mayRevoke(identity("keyzero", child), child, "keyzero")).toBe(true);
  });
});
