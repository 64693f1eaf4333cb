// The jwks_url cache against a real JWKS server on 127.0.0.1 that counts its fetches, with a fake clock:
// unknown kids — one after another or all at once — do not hammer the endpoint; a rotation is picked up
// after the cooldown with exactly one fetch; a failing endpoint is not retried on every token; old keys
// are refreshed in the background and refused once too stale; bad answers are refused.

import { afterEach, describe, expect, test } from "bun:test";
import { DEFAULT_REMOTE_JWKS } from "../../src/identity/jwks.ts";
import { createVerifier, type Verifier } from "../../src/identity/verify.ts";
import {
  claimsFor,
  expectRejected,
  FakeClock,
  jwksOf,
  makeKey,
  sign,
  startJwksServer,
  type JwksServer,
  type TestKey,
} from "./fixtures.ts";

const ISS = "https://idp.example.test";
const COOLDOWN_SECONDS = DEFAULT_REMOTE_JWKS.cooldownMs / 1000;
const MAX_AGE_SECONDS = DEFAULT_REMOTE_JWKS.maxAgeMs / 1000;
const MAX_STALE_SECONDS = DEFAULT_REMOTE_JWKS.maxStaleMs / 1000;

let server: JwksServer | undefined;

afterEach(() => {
  server?.stop();
  server = undefined;
});

async function setup(initialKeys: unknown): Promise<{ verifier: Verifier; clock: FakeClock; server: JwksServer }> {
  server = startJwksServer(initialKeys);
  const clock = new FakeClock();
  const verifier = await createVerifier(
    [{ name: "idp", issuer: ISS, audience: "keyzero", algorithms: ["ES256", "RS256"], jwksUrl: server.url }],
    { now: clock.now },
  );
  return { verifier, clock, server };
}

/** Claims valid at the fake clock's current time. */
function claimsAt(clock: FakeClock) {
  const now = Math.floor(clock.ms / 1000);
  return claimsFor(ISS, "keyzero", { iat: now - 10, exp: now + 300 });
}

function tokenWithKid(key: TestKey, kid: string): Promise<string> {
  return sign(key, claimsFor(ISS, "keyzero", { clock: "fake" }), { kid });
}

describe("jwks_url", () => {
  test("nothing is fetched before the first token", async () => {
    const { server } = await setup(jwksOf(await makeKey("ES256", "k1")));
    expect(server.fetches).toBe(0);
  });

  test("20 tokens with unknown kids, sequential then concurrent, cost no fetch after the first", async () => {
    const key = await makeKey("ES256", "k1");
    const { verifier, server } = await setup(jwksOf(key));
    expect(await verifier.verify(await sign(key, claimsFor(ISS, "keyzero")))).toMatchObject({ ok: true });
    expect(server.fetches).toBe(1);

    for (let i = 0; i < 20; i++) {
      const token = await tokenWithKid(key, `made-up-${i}`);
      expectRejected(await verifier.verify(token), "unknown_key", token, `no key with kid "made-up-${i}"`);
    }
    const tokens = await Promise.all(Array.from({ length: 20 }, (_, i) => tokenWithKid(key, `burst-${i}`)));
    const results = await Promise.all(tokens.map((token) => verifier.verify(token)));
    results.forEach((result, i) => expectRejected(result, "unknown_key", tokens[i]!));
    expect(server.fetches).toBe(1);
  });

  test("20 unknown-kid tokens as the very first requests share one fetch", async () => {
    const key = await makeKey("ES256", "k1");
    const { verifier, server } = await setup(jwksOf(key));
    const tokens = await Promise.all(Array.from({ length: 20 }, (_, i) => tokenWithKid(key, `first-${i}`)));
    const results = await Promise.all(tokens.map((token) => verifier.verify(token)));
    results.forEach((result, i) => expectRejected(result, "unknown_key", tokens[i]!));
    expect(server.fetches).toBe(1);
  });

  test("a rotated key is picked up after the cooldown with exactly one fetch", async () => {
    const oldKey = await makeKey("ES256", "old");
    const newKey = await makeKey("RS256", "new");
    const { verifier, clock, server } = await setup(jwksOf(oldKey));
    expect(await verifier.verify(await sign(oldKey, claimsFor(ISS, "keyzero")))).toMatchObject({ ok: true });

    server.serve(jwksOf(oldKey, newKey));
    const early = await sign(newKey, claimsFor(ISS, "keyzero"));
    expectRejected(await verifier.verify(early), "unknown_key", early, '"new"');
    expect(server.fetches).toBe(1); // within the cooldown the cache's answer stands

    clock.advanceSeconds(COOLDOWN_SECONDS);
    const rotated = await Promise.all(Array.from({ length: 20 }, () => sign(newKey, claimsFor(ISS, "keyzero"))));
    const results = await Promise.all(rotated.map((token) => verifier.verify(token)));
    expect(results.every((result) => result.ok)).toBe(true);
    expect(server.fetches).toBe(2);
  });

  test("an unknown kid after the cooldown refetches once, then the cooldown holds again", async () => {
    const key = await makeKey("ES256", "k1");
    const { verifier, clock, server } = await setup(jwksOf(key));
    await verifier.verify(await sign(key, claimsFor(ISS, "keyzero")));
    clock.advanceSeconds(COOLDOWN_SECONDS + 1);
    const tokens = await Promise.all(Array.from({ length: 20 }, (_, i) => tokenWithKid(key, `late-${i}`)));
    const results = await Promise.all(tokens.map((token) => verifier.verify(token)));
    results.forEach((result, i) => expectRejected(result, "unknown_key", tokens[i]!));
    expect(server.fetches).toBe(2);
    clock.advanceSeconds(COOLDOWN_SECONDS - 1);
    expectRejected(await verifier.verify(tokens[0]!), "unknown_key", tokens[0]!);
    expect(server.fetches).toBe(2);
  });

  test("an endpoint that fails is tried once per cooldown, not once per token", async () => {
    const key = await makeKey("ES256", "k1");
    const { verifier, clock, server } = await setup({ errors: ["fake upstream failure"] });
    server.serve({ errors: ["down"] }, 500);
    const token = await sign(key, claimsFor(ISS, "keyzero"));
    for (let i = 0; i < 20; i++) {
      expectRejected(await verifier.verify(token), "keys_unavailable", token, `cannot get keys from ${server.url}: answered HTTP 500`);
    }
    expect(server.fetches).toBe(1);

    server.serve(jwksOf(key));
    clock.advanceSeconds(COOLDOWN_SECONDS);
    expect(await verifier.verify(token)).toMatchObject({ ok: true });
    expect(server.fetches).toBe(2);
  });

  test("old keys are used while a refresh runs in the background", async () => {
    const key = await makeKey("ES256", "k1");
    const added = await makeKey("ES256", "k2");
    const { verifier, clock, server } = await setup(jwksOf(key));
    await verifier.verify(await sign(key, claimsFor(ISS, "keyzero")));

    server.serve(jwksOf(key, added));
    clock.advanceSeconds(MAX_AGE_SECONDS);
    expect(await verifier.verify(await sign(key, claimsAt(clock)))).toMatchObject({ ok: true });
    // The refresh that answer started brings in k2 (waited for if still in flight, never a second fetch).
    expect(await verifier.verify(await sign(added, claimsAt(clock)))).toMatchObject({ ok: true });
    expect(server.fetches).toBe(2);
  });

  test("keys too stale to trust are refused when the endpoint stays down", async () => {
    const key = await makeKey("ES256", "k1");
    const { verifier, clock, server } = await setup(jwksOf(key));
    expect(await verifier.verify(await sign(key, claimsAt(clock)))).toMatchObject({ ok: true });
    server.serve({}, 503);
    clock.advanceSeconds(MAX_AGE_SECONDS + MAX_STALE_SECONDS - 1);
    expect(await verifier.verify(await sign(key, claimsAt(clock)))).toMatchObject({ ok: true }); // stale but usable
    clock.advanceSeconds(1);
    const token = await sign(key, claimsAt(clock));
    expectRejected(await verifier.verify(token), "keys_unavailable", token, "answered HTTP 503");
  });

  test("an answer with private key material, no keys, or a redirect is refused", async () => {
    const key = await makeKey("ES256", "k1");
    const cases: Array<[unknown, number, string]> = [
      [{ keys: [{ ...key.publicJwk, d: "fake-private-scalar-0001" }] }, 200, "contains private key material"],
      [{ keys: [] }, 200, "holds no keys"],
      [[1, 2, 3], 200, "is not a JWKS"],
      [{ location: "elsewhere" }, 302, "answered HTTP 302"],
    ];
    for (const [body, status, mentions] of cases) {
      const { verifier, server } = await setup(body);
      server.serve(body, status);
      const token = await sign(key, claimsFor(ISS, "keyzero"));
      const result = await verifier.verify(token);
      expectRejected(result, "keys_unavailable", token, mentions);
      if (!result.ok) expect(result.message).not.toContain("fake-private-scalar-0001");
      server.stop();
    }
  });

  test("an endpoint that does not answer is reported as unreachable", async () => {
    const key = await makeKey("ES256", "k1");
    const closed = startJwksServer(jwksOf(key));
    const url = closed.url;
    closed.stop();
    const verifier = await createVerifier([{ name: "idp", issuer: ISS, audience: "keyzero", algorithms: ["ES256"], jwksUrl: url }]);
    const token = await sign(key, claimsFor(ISS, "keyzero", { exp: Math.floor(Date.now() / 1000) + 60 }));
    expectRejected(await verifier.verify(token), "keys_unavailable", token, "unreachable");
  });
});
