// Minting sub-agent tokens: a minted token verifies as the server's built-in issuer, carries its parent's
// subject and identity claims, and can never reach further than its parent — scope intersected, lifetime
// capped by the server and by the parent, audience limited to the server's own. Revoked jtis are refused.
// The signing key can be shared through a PKCS#8 file, and the published JWKS holds only its public half.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { calculateJwkThumbprint, decodeProtectedHeader, exportPKCS8, generateKeyPair, type JWTPayload } from "jose";
import { ConfigError } from "../../src/errors.ts";
import { createMinter, MintError, scopeAllows, type TokenMinter } from "../../src/identity/mint.ts";
import { MemoryRevocationStore } from "../../src/identity/revocation.ts";
import { createVerifier, type Verifier } from "../../src/identity/verify.ts";
import {
  claimsFor,
  expectRejected,
  FakeClock,
  jwksOf,
  makeKey,
  NOW,
  sign,
  tempDir,
  writeJson,
  type TestKey,
} from "./fixtures.ts";

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
  dir = tempDir("mint");
  writeJson(dir, "idp.jwks.json", jwksOf(idpKey));
  minter = await createMinter({ issuer: SERVER, audience: ["keyzero", "keyzero-b"], now: clock.now });
  revocations = new MemoryRevocationStore({ now: clock.now });
  verifier = await createVerifier(
    [{ name: "idp", issuer: IDP, audience: "keyzero", algorithms: ["ES256"], jwksFile: "idp.jwks.json" }],
    { baseDir: dir, minter, revocations, now: clock.now },
  );
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A verified parent identity from the external issuer. */
async function parentClaims(extra: JWTPayload = {}): Promise<JWTPayload> {
  const result = await verifier.verify(await sign(idpKey, claimsFor(IDP, "keyzero", { service: "data-pipeline-agent", team: "data", ...extra })));
  if (!result.ok) throw new Error(`parent did not verify: ${result.message}`);
  return result.claims;
}

async function verifiedClaims(token: string): Promise<JWTPayload> {
  const result = await verifier.verify(token);
  if (!result.ok) throw new Error(`minted token did not verify: ${result.message}`);
  expect(result.issuer).toBe("keyzero");
  return result.claims;
}

describe("minted tokens", () => {
  test("verify as the built-in issuer and carry the parent's identity, a scope and a fresh jti", async () => {
    const parent = await parentClaims();
    const minted = await minter.mint({ parentClaims: parent, scope: { secrets: ["DB_PROD", "ZENDESK_KEY", "DB_PROD"] }, ttlSeconds: 120 });
    const claims = await verifiedClaims(minted.token);
    expect(claims).toMatchObject({
      iss: SERVER,
      sub: "agent-7",
      aud: ["keyzero", "keyzero-b"],
      service: "data-pipeline-agent",
      team: "data",
      iat: NOW,
      exp: NOW + 120,
      kz_scope: { secrets: ["DB_PROD", "ZENDESK_KEY"] },
      kz_parent: { iss: IDP, sub: "agent-7" },
    });
    expect(claims.jti).toBe(minted.jti);
    expect(minted.jti).toMatch(/^[A-Za-z0-9_-]{22}$/);
    expect(minted).toMatchObject({ sub: "agent-7", expiresAt: NOW + 120, scope: { secrets: ["DB_PROD", "ZENDESK_KEY"] } });
    expect(decodeProtectedHeader(minted.token)).toMatchObject({ alg: "ES256", typ: "kz+jwt", kid: minter.jwks.keys[0]!.kid });
    const again = await minter.mint({ parentClaims: parent, scope: { secrets: ["DB_PROD"] } });
    expect(again.jti).not.toBe(minted.jti);
  });

  test("a scoped parent can only narrow: the scope is intersected", async () => {
    const parent = await parentClaims();
    const first = await minter.mint({ parentClaims: parent, scope: { secrets: ["DB_PROD", "ZENDESK_KEY"] } });
    const child = await verifiedClaims(first.token);
    const second = await minter.mint({ parentClaims: child, scope: { secrets: ["ZENDESK_KEY", "STRIPE_KEY"] } });
    expect(second.scope).toEqual({ secrets: ["ZENDESK_KEY"] });
    const grandchild = await verifiedClaims(second.token);
    expect(grandchild.kz_scope).toEqual({ secrets: ["ZENDESK_KEY"] });
    expect(scopeAllows(grandchild, "ZENDESK_KEY")).toBe(true);
    expect(scopeAllows(grandchild, "DB_PROD")).toBe(false);
    expect(scopeAllows(grandchild, "STRIPE_KEY")).toBe(false);
    expect(grandchild.kz_parent).toEqual({ iss: SERVER, sub: "agent-7", jti: first.jti });

    const outside = minter.mint({ parentClaims: grandchild, scope: { secrets: ["STRIPE_KEY"] } });
    await expect(outside).rejects.toBeInstanceOf(MintError);
    await expect(outside).rejects.toThrow("none of the requested secrets (STRIPE_KEY) is within the caller's scope");
  });

  test("an external token's own scope claim is intersected too, and its kz_ claims are not copied", async () => {
    const parent = await parentClaims({ kz_scope: { secrets: ["ZENDESK_KEY"] }, kz_parent: { iss: "forged" } });
    const minted = await minter.mint({ parentClaims: parent, scope: { secrets: ["ZENDESK_KEY", "DB_PROD"] } });
    const claims = await verifiedClaims(minted.token);
    expect(claims.kz_scope).toEqual({ secrets: ["ZENDESK_KEY"] });
    expect(claims.kz_parent).toEqual({ iss: IDP, sub: "agent-7" });
  });

  test("the lifetime is capped by the server and never outlives the parent", async () => {
    const parent = await parentClaims({ exp: NOW + 7200 });
    const capped = await minter.mint({ parentClaims: parent, scope: { secrets: ["DB_PROD"] }, ttlSeconds: 86_400 });
    expect(capped.expiresAt).toBe(NOW + minter.maxTtlSeconds);
    const defaulted = await minter.mint({ parentClaims: parent, scope: { secrets: ["DB_PROD"] } });
    expect(defaulted.expiresAt).toBe(NOW + 900);
    const shortParent = await parentClaims({ exp: NOW + 60 });
    const bounded = await minter.mint({ parentClaims: shortParent, scope: { secrets: ["DB_PROD"] }, ttlSeconds: 3600 });
    expect(bounded.expiresAt).toBe(NOW + 60);
    expect((await verifiedClaims(bounded.token)).exp).toBe(NOW + 60);
  });

  test("the audience must be one this server accepts", async () => {
    const parent = await parentClaims();
    const narrowed = await minter.mint({ parentClaims: parent, scope: { secrets: ["DB_PROD"] }, audience: "keyzero-b" });
    expect((await verifiedClaims(narrowed.token)).aud).toBe("keyzero-b");
    const elsewhere = minter.mint({ parentClaims: parent, scope: { secrets: ["DB_PROD"] }, audience: "payments-api" });
    await expect(elsewhere).rejects.toThrow('audience "payments-api" is not one this server accepts (keyzero, keyzero-b)');
  });

  test("refuses bad requests with a reason", async () => {
    const parent = await parentClaims();
    const cases: Array<[Parameters<TokenMinter["mint"]>[0], string]> = [
      [{ parentClaims: parent, scope: { secrets: [] } }, "at least one secret"],
      [{ parentClaims: parent, scope: { secrets: [""] } }, "must list secret names"],
      [{ parentClaims: parent, scope: {} as { secrets: string[] } }, 'must have a "secrets" array'],
      [{ parentClaims: parent, scope: { secrets: ["DB_PROD"] }, ttlSeconds: 0 }, "ttl_seconds must be a whole number"],
      [{ parentClaims: parent, scope: { secrets: ["DB_PROD"] }, ttlSeconds: 1.5 }, "ttl_seconds must be a whole number"],
      [{ parentClaims: { ...parent, sub: undefined }, scope: { secrets: ["DB_PROD"] } }, "has no sub claim"],
      [{ parentClaims: { ...parent, exp: NOW - 1 }, scope: { secrets: ["DB_PROD"] } }, "has expired"],
      [{ parentClaims: { ...parent, kz_scope: "DB_PROD" }, scope: { secrets: ["DB_PROD"] } }, "malformed kz_scope"],
    ];
    for (const [request, mentions] of cases) {
      const attempt = minter.mint(request);
      await expect(attempt).rejects.toBeInstanceOf(MintError);
      await expect(attempt).rejects.toThrow(mentions);
    }
  });

  test("a revoked jti is refused until its token expires; others still verify", async () => {
    const parent = await parentClaims();
    const revoked = await minter.mint({ parentClaims: parent, scope: { secrets: ["DB_PROD"] } });
    const kept = await minter.mint({ parentClaims: parent, scope: { secrets: ["DB_PROD"] } });
    await revocations.revoke(revoked.jti, revoked.expiresAt);
    expectRejected(await verifier.verify(revoked.token), "token_revoked", revoked.token, "revoked");
    expect(await verifier.verify(kept.token)).toMatchObject({ ok: true });

    const external = await sign(idpKey, claimsFor(IDP, "keyzero", { jti: "idp-jti-0001" }));
    await revocations.revoke("idp-jti-0001", NOW + 300);
    expectRejected(await verifier.verify(external), "token_revoked", external);
  });

  test("a token from another key under the server's issuer is refused", async () => {
    const impostor = await makeKey("ES256", minter.jwks.keys[0]!.kid!);
    const claims = { ...claimsFor(SERVER, "keyzero"), jti: "forged-jti", kz_scope: { secrets: ["DB_PROD"] } };
    const forged = await sign(impostor, claims, { typ: "kz+jwt" });
    expectRejected(await verifier.verify(forged), "bad_signature", forged);
  });

  test("the server's issuer requires the kz+jwt type and a jti, even under its own key", async () => {
    // With the signing key in hand (a key file), sign tokens the minter itself would never produce.
    const { privateKey, publicKey } = await generateKeyPair("ES256", { extractable: true });
    writeFileSync(join(dir, "own.pem"), await exportPKCS8(privateKey), { mode: 0o600 });
    const own = await createMinter({ issuer: SERVER, audience: "keyzero", signingKeyFile: join(dir, "own.pem"), now: clock.now });
    const strict = await createVerifier([], { minter: own, now: clock.now });
    const ownKey: TestKey = { ...idpKey, kid: own.jwks.keys[0]!.kid!, privateKey, publicKey };
    const claims = { ...claimsFor(SERVER, "keyzero"), jti: "hand-made-jti" };

    expect(await strict.verify(await sign(ownKey, claims, { typ: "kz+jwt" }))).toMatchObject({ ok: true, issuer: "keyzero" });
    const untyped = await sign(ownKey, claims, { typ: "JWT" });
    expectRejected(await strict.verify(untyped), "invalid_claim", untyped, "token type (typ) is not kz+jwt");
    const { jti: _, ...withoutJti } = claims;
    const noJti = await sign(ownKey, withoutJti, { typ: "kz+jwt" });
    expectRejected(await strict.verify(noJti), "missing_claim", noJti, "no jti claim");
  });

  test("an external token with a malformed scope claim is refused, not treated as unscoped", async () => {
    const token = await sign(idpKey, claimsFor(IDP, "keyzero", { kz_scope: { secrets: "DB_PROD" } }));
    expectRejected(await verifier.verify(token), "invalid_claim", token, 'kz_scope claim must have a "secrets" array');
    expect(scopeAllows({ kz_scope: { secrets: "DB_PROD" } }, "DB_PROD")).toBe(false);
    expect(scopeAllows({}, "DB_PROD")).toBe(true);
  });

  test("a configured issuer may not reuse the server's issuer URL or name", async () => {
    const clash = createVerifier(
      [{ name: "idp", issuer: SERVER, audience: "keyzero", algorithms: ["ES256"], jwksFile: "idp.jwks.json" }],
      { baseDir: dir, minter },
    );
    await expect(clash).rejects.toThrow(`issuers "idp" and "keyzero" both use issuer ${SERVER}`);
  });
});

describe("signing key", () => {
  test("the JWKS publishes only the public half, with a thumbprint kid", async () => {
    const [jwk] = minter.jwks.keys;
    expect(Object.keys(jwk!).sort()).toEqual(["alg", "crv", "kid", "kty", "use", "x", "y"]);
    expect(jwk).toMatchObject({ kty: "EC", crv: "P-256", alg: "ES256", use: "sig" });
    expect(jwk!.kid).toBe(await calculateJwkThumbprint({ kty: "EC", crv: "P-256", x: jwk!.x, y: jwk!.y }));
  });

  test("replicas sharing a PKCS#8 key file verify each other's tokens", async () => {
    const { privateKey } = await generateKeyPair("ES256", { extractable: true });
    writeFileSync(join(dir, "signing.pem"), await exportPKCS8(privateKey), { mode: 0o600 });
    const a = await createMinter({ issuer: SERVER, audience: "keyzero", signingKeyFile: "signing.pem", baseDir: dir, now: clock.now });
    const b = await createMinter({ issuer: SERVER, audience: "keyzero", signingKeyFile: join(dir, "signing.pem"), now: clock.now });
    expect(b.jwks).toEqual(a.jwks);
    expect(JSON.stringify(a.jwks)).not.toContain('"d"');
    const onB = await createVerifier([], { minter: b, now: clock.now });
    const minted = await a.mint({ parentClaims: await parentClaims(), scope: { secrets: ["DB_PROD"] } });
    expect(await onB.verify(minted.token)).toMatchObject({ ok: true });
  });

  test("a missing, SEC1 or non-P-256 key file is a config error", async () => {
    const attempt = (file: string) => createMinter({ issuer: SERVER, audience: "keyzero", signingKeyFile: file, baseDir: dir });
    await expect(attempt("absent.pem")).rejects.toThrow("absent.pem: no such file");
    writeFileSync(join(dir, "sec1.pem"), "-----BEGIN EC PRIVATE KEY-----\nZmFrZQ==\n-----END EC PRIVATE KEY-----\n");
    await expect(attempt("sec1.pem")).rejects.toThrow("convert it to PKCS#8");
    const { privateKey } = await generateKeyPair("ES384", { extractable: true });
    writeFileSync(join(dir, "p384.pem"), await exportPKCS8(privateKey));
    await expect(attempt("p384.pem")).rejects.toBeInstanceOf(ConfigError);
    await expect(attempt("p384.pem")).rejects.toThrow("is not a PKCS#8 PEM P-256 (ES256) private key");
    await expect(createMinter({ issuer: "not a url", audience: "keyzero" })).rejects.toThrow("issuer URL is not a URL");
  });
});
