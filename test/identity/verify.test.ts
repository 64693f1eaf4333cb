// The verifier against real keys: RS256 from a JWKS file, ES256 from a JWKS URL served on 127.0.0.1 and
// from a PEM file; every way a token must be refused (alg none, HS256 signed with the public key, expired,
// not yet valid, wrong issuer or audience, unknown kid, missing exp, malformed); the issuer config checks;
// and the presets. Each rejection is checked to name the problem and to carry no part of the token.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { SignJWT } from "jose";
import { ConfigError } from "../../src/errors.ts";
import { applyPreset } from "../../src/identity/presets.ts";
import { createVerifier, MAX_TOKEN_LENGTH, type IssuerConfig, type Verifier } from "../../src/identity/verify.ts";
import {
  claimsFor,
  expectRejected,
  FakeClock,
  jwksOf,
  makeKey,
  NOW,
  rawToken,
  sign,
  startJwksServer,
  tempDir,
  writeJson,
  type JwksServer,
  type TestKey,
} from "./fixtures.ts";

const RS_ISS = "https://idp-rs.example.test";
const ES_ISS = "https://idp-es.example.test";
const PEM_ISS = "https://idp-pem.example.test";

let rsKey: TestKey;
let esKey: TestKey;
let pemKey: TestKey;
let strangerKey: TestKey;
let jwksServer: JwksServer;
let dir: string;
let issuers: IssuerConfig[];
let verifier: Verifier;
const clock = new FakeClock();

beforeAll(async () => {
  [rsKey, esKey, pemKey] = await Promise.all([makeKey("RS256", "rs-1"), makeKey("ES256", "es-1"), makeKey("ES256", "pem")]);
  strangerKey = await makeKey("RS256", "rs-1"); // same kid as rsKey, different key
  dir = tempDir("verify");
  writeJson(dir, "rs.jwks.json", jwksOf(rsKey));
  writeFileSync(join(dir, "es.pem"), pemKey.publicPem);
  jwksServer = startJwksServer(jwksOf(esKey));
  issuers = [
    { name: "corp-rs", issuer: RS_ISS, audience: "keyzero", algorithms: ["RS256"], jwksFile: "rs.jwks.json" },
    { name: "corp-es", issuer: ES_ISS, audience: ["keyzero", "keyzero-staging"], algorithms: ["ES256"], jwksUrl: jwksServer.url },
    { name: "pem", issuer: PEM_ISS, audience: "keyzero", algorithms: ["ES256"], publicKeyFile: "es.pem", clockToleranceSeconds: 0 },
  ];
  verifier = await createVerifier(issuers, { baseDir: dir, now: clock.now });
});

afterAll(() => {
  jwksServer.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe("accepts", () => {
  test("RS256 from a JWKS file", async () => {
    const result = await verifier.verify(await sign(rsKey, claimsFor(RS_ISS, "keyzero", { service: "data-pipeline-agent" })));
    expect(result).toMatchObject({ ok: true, issuer: "corp-rs", claims: { sub: "agent-7", service: "data-pipeline-agent" } });
  });

  test("ES256 from a JWKS URL, any one of the configured audiences", async () => {
    const result = await verifier.verify(await sign(esKey, claimsFor(ES_ISS, ["someone-else", "keyzero-staging"])));
    expect(result).toMatchObject({ ok: true, issuer: "corp-es" });
  });

  test("ES256 from a PEM public key file resolved against baseDir", async () => {
    const result = await verifier.verify(await sign(pemKey, claimsFor(PEM_ISS, "keyzero")));
    expect(result).toMatchObject({ ok: true, issuer: "pem" });
  });

  test("a token expired less than the clock tolerance ago", async () => {
    const result = await verifier.verify(await sign(rsKey, claimsFor(RS_ISS, "keyzero", { exp: NOW - 20 })));
    expect(result.ok).toBe(true);
  });

  test("the listed issuers", () => {
    expect(verifier.issuers).toEqual(["corp-rs", "corp-es", "pem"]);
  });
});

describe("rejects", () => {
  test('alg "none", in any spelling, with or without a signature', async () => {
    for (const alg of ["none", "None", "NONE"]) {
      for (const signature of ["", "c2lnbmF0dXJl"]) {
        const token = rawToken({ alg, typ: "JWT" }, claimsFor(RS_ISS, "keyzero"), signature);
        expectRejected(await verifier.verify(token), "unsigned_token", token, "none");
      }
    }
  });

  test("HS256 signed with the RS256 issuer's public key as the secret (algorithm confusion)", async () => {
    for (const secret of [rsKey.publicPem, JSON.stringify(rsKey.publicJwk)]) {
      const token = await new SignJWT(claimsFor(RS_ISS, "keyzero"))
        .setProtectedHeader({ alg: "HS256", kid: "rs-1" })
        .sign(new TextEncoder().encode(secret));
      expectRejected(await verifier.verify(token), "algorithm_not_allowed", token, '"HS256" is not allowed for issuer corp-rs');
    }
  });

  test("HS256 signed with a PEM-configured issuer's public key", async () => {
    const token = await new SignJWT(claimsFor(PEM_ISS, "keyzero"))
      .setProtectedHeader({ alg: "HS256" })
      .sign(new TextEncoder().encode(pemKey.publicPem));
    expectRejected(await verifier.verify(token), "algorithm_not_allowed", token, "allowed: ES256");
  });

  test("an algorithm the issuer does not list, even when correctly signed", async () => {
    const token = await sign(esKey, claimsFor(RS_ISS, "keyzero"));
    expectRejected(await verifier.verify(token), "algorithm_not_allowed", token, '"ES256" is not allowed');
  });

  test("expired beyond the tolerance", async () => {
    const token = await sign(rsKey, claimsFor(RS_ISS, "keyzero", { exp: NOW - 31 }));
    expectRejected(await verifier.verify(token), "token_expired", token, `token expired at ${new Date((NOW - 31) * 1000).toISOString()}`);
  });

  test("expired with zero tolerance", async () => {
    const token = await sign(pemKey, claimsFor(PEM_ISS, "keyzero", { exp: NOW - 1 }));
    expectRejected(await verifier.verify(token), "token_expired", token, "token expired");
  });

  test("not yet valid (nbf in the future)", async () => {
    const token = await sign(rsKey, claimsFor(RS_ISS, "keyzero", { nbf: NOW + 120 }));
    expectRejected(await verifier.verify(token), "token_not_yet_valid", token, "not valid before");
  });

  test("an issuer that is not configured", async () => {
    const token = await sign(rsKey, claimsFor("https://evil.example.test", "keyzero"));
    expectRejected(await verifier.verify(token), "unknown_issuer", token, '"https://evil.example.test" is not trusted');
  });

  test("no iss at all", async () => {
    const { iss: _, ...claims } = claimsFor(RS_ISS, "keyzero");
    const token = await sign(rsKey, claims);
    expectRejected(await verifier.verify(token), "missing_claim", token, "no iss claim");
  });

  test("the wrong audience", async () => {
    const token = await sign(rsKey, claimsFor(RS_ISS, "billing"));
    expectRejected(await verifier.verify(token), "audience_mismatch", token, 'audience mismatch: expected keyzero, got "billing"');
  });

  test("no audience", async () => {
    const { aud: _, ...claims } = claimsFor(RS_ISS, "keyzero");
    const token = await sign(rsKey, claims);
    expectRejected(await verifier.verify(token), "missing_claim", token, "no aud claim");
  });

  test("an unknown kid", async () => {
    const token = await sign(rsKey, claimsFor(RS_ISS, "keyzero"), { kid: "rotated-away" });
    expectRejected(await verifier.verify(token), "unknown_key", token, 'no key with kid "rotated-away"');
  });

  test("a key that is not the issuer's, under the issuer's kid", async () => {
    const token = await sign(strangerKey, claimsFor(RS_ISS, "keyzero"));
    expectRejected(await verifier.verify(token), "bad_signature", token, "signature verification failed");
  });

  test("a payload changed after signing", async () => {
    const token = await sign(rsKey, claimsFor(RS_ISS, "keyzero", { service: "support-agent" }));
    const [header, , signature] = token.split(".");
    const forged = `${header}.${Buffer.from(JSON.stringify(claimsFor(RS_ISS, "keyzero", { service: "data-pipeline-agent" }))).toString("base64url")}.${signature}`;
    expectRejected(await verifier.verify(forged), "bad_signature", forged);
  });

  test("no exp", async () => {
    const { exp: _, ...claims } = claimsFor(RS_ISS, "keyzero");
    const token = await sign(rsKey, claims);
    expectRejected(await verifier.verify(token), "missing_claim", token, "no exp claim");
  });

  test("an exp that is not a number", async () => {
    const token = await sign(rsKey, claimsFor(RS_ISS, "keyzero", { exp: String(NOW + 300) as unknown as number }));
    expectRejected(await verifier.verify(token), "invalid_claim", token, "exp claim must be a number");
  });

  test("malformed tokens", async () => {
    const good = await sign(rsKey, claimsFor(RS_ISS, "keyzero"));
    const [header, payload, signature] = good.split(".");
    const cases: Array<[string, string]> = [
      ["", "no token"],
      ["not-a-jwt-at-all", "three dot-separated parts"],
      [`${header}.${payload}`, "three dot-separated parts"],
      [`${header}.${payload}.${signature}.extra.part`, "JWE"],
      [`%%%%.${payload}.${signature}`, "header"],
      [`${Buffer.from("not json").toString("base64url")}.${payload}.${signature}`, "header"],
      [rawToken({ typ: "JWT" }, claimsFor(RS_ISS, "keyzero"), "c2ln"), "no alg"],
      [`${header}.${Buffer.from("not json").toString("base64url")}.${signature}`, "payload"],
      [`${header}.${Buffer.from("[1,2]").toString("base64url")}.${signature}`, "payload"],
      [`${header}.${payload}.${"A".repeat(MAX_TOKEN_LENGTH)}`, "too long"],
    ];
    for (const [token, mentions] of cases) {
      expectRejected(await verifier.verify(token), "malformed_token", token, mentions);
    }
  });

  test("untrusted header text is quoted on one line", async () => {
    const kid = await sign(rsKey, claimsFor(RS_ISS, "keyzero"), { kid: "evil\nX-Injected: 1" });
    expectRejected(await verifier.verify(kid), "unknown_key", kid, 'no key with kid "evil\\nX-Injected: 1"');
    const crit = rawToken({ alg: "RS256", kid: "rs-1", crit: ["x\ny"], "x\ny": 1 }, claimsFor(RS_ISS, "keyzero"), "c2lnbmF0dXJl");
    expectRejected(await verifier.verify(crit), "token_rejected", crit, '"x\\ny" is not recognized');
  });

  test("a token that is not a string", async () => {
    const result = await verifier.verify(undefined as unknown as string);
    expect(result).toMatchObject({ ok: false, code: "malformed_token" });
  });
});

describe("issuer configuration", () => {
  const base: IssuerConfig = { name: "idp", issuer: RS_ISS, audience: "keyzero", algorithms: ["RS256"], jwksFile: "rs.jwks.json" };

  async function configError(config: Partial<IssuerConfig> | IssuerConfig[], mentions: string): Promise<void> {
    const list = Array.isArray(config) ? config : [{ ...base, ...config }];
    const attempt = createVerifier(list, { baseDir: dir });
    await expect(attempt).rejects.toBeInstanceOf(ConfigError);
    await expect(attempt).rejects.toThrow(mentions);
  }

  test("refuses shared-secret, none and unknown algorithms, and an empty list", async () => {
    await configError({ algorithms: ["HS256"] }, "HS256 is a shared-secret algorithm");
    await configError({ algorithms: ["RS256", "none"] }, 'algorithm "none" is never accepted');
    await configError({ algorithms: ["RS1"] }, 'unsupported algorithm "RS1"');
    await configError({ algorithms: [] }, "algorithms must list at least one");
    await configError({ algorithms: undefined }, "algorithms must list at least one");
  });

  test("requires an issuer and an audience", async () => {
    await configError({ issuer: undefined }, 'issuer "idp": issuer is required');
    await configError({ audience: [] }, "audience is required");
    await configError({ audience: "" }, "audience is required");
  });

  test("requires exactly one key source", async () => {
    await configError({ jwksFile: undefined }, "exactly one of jwks_url, jwks_file, public_key_file (found 0)");
    await configError({ publicKeyFile: "es.pem" }, "(found 2)");
  });

  test("jwks_url must be https unless it is loopback", async () => {
    await configError({ jwksFile: undefined, jwksUrl: "http://idp.example.test/jwks" }, "must use https");
    await configError({ jwksFile: undefined, jwksUrl: "not a url" }, "jwks_url is not a URL");
    const loopback = await createVerifier([{ ...base, jwksFile: undefined, jwksUrl: "http://127.0.0.1:1/jwks" }]);
    expect(loopback.issuers).toEqual(["idp"]);
  });

  test("bounds the clock tolerance", async () => {
    await configError({ clockToleranceSeconds: 301 }, "between 0 and 300");
    await configError({ clockToleranceSeconds: -1 }, "between 0 and 300");
  });

  test("refuses two issuers with one issuer URL, or one name twice", async () => {
    await configError([base, { ...base, name: "idp-again" }], `both use issuer ${RS_ISS}`);
    await configError([base, { ...base, issuer: ES_ISS }], 'two issuers are named "idp"');
  });

  test("key files: missing, not JSON, private or symmetric keys, unsuitable PEM", async () => {
    await configError({ jwksFile: "missing.json" }, "missing.json: no such file");
    writeFileSync(join(dir, "broken.json"), "{ not json");
    await configError({ jwksFile: "broken.json" }, "is not valid JSON");
    writeJson(dir, "empty.json", { keys: [] });
    await configError({ jwksFile: "empty.json" }, "holds no keys");
    writeJson(dir, "private.json", { keys: [{ ...rsKey.publicJwk, d: "fake-private-exponent" }] });
    await configError({ jwksFile: "private.json" }, "contains private key material");
    writeJson(dir, "oct.json", { keys: [{ kty: "oct", k: "ZmFrZS1obWFjLWtleS0wMDAx", kid: "x" }] });
    await configError({ jwksFile: "oct.json" }, "symmetric (oct) key");
    writeFileSync(join(dir, "private.pem"), "-----BEGIN PRIVATE KEY-----\nZmFrZQ==\n-----END PRIVATE KEY-----\n");
    await configError({ jwksFile: undefined, publicKeyFile: "private.pem" }, "holds a private key");
    await configError({ jwksFile: undefined, publicKeyFile: "es.pem", algorithms: ["RS256"] }, "no PEM public key usable with RS256");
  });

  test("an unknown preset is named without echoing the value", async () => {
    await configError({ preset: "gitlab-PASTED" }, "preset: invalid value, not a known preset (known: github-actions, kubernetes)");
    const error = (await createVerifier([{ ...base, preset: "gitlab-PASTED" }], { baseDir: dir }).catch((e: unknown) => e)) as Error;
    expect(error.message).not.toContain("PASTED"); // a value where a preset belongs may be a pasted credential
  });
});

describe("presets", () => {
  test("github-actions fills the issuer, the JWKS URL and RS256 but never the audience", () => {
    const filled = applyPreset({ name: "gha", preset: "github-actions", audience: "https://github.com/acme" });
    expect(filled).toMatchObject({
      issuer: "https://token.actions.githubusercontent.com",
      jwksUrl: "https://token.actions.githubusercontent.com/.well-known/jwks",
      algorithms: ["RS256"],
      audience: "https://github.com/acme",
    });
  });

  test("github-actions follows a custom issuer (enterprise, GHES) and keeps explicit settings", () => {
    expect(applyPreset({ name: "ghes", preset: "github-actions", issuer: "https://ghe.example.test/_services/token/", audience: "kz" }))
      .toMatchObject({ jwksUrl: "https://ghe.example.test/_services/token/.well-known/jwks" });
    const explicit = applyPreset({ name: "gha", preset: "github-actions", audience: "kz", jwksFile: "keys.json", algorithms: ["RS384"] });
    expect(explicit).toMatchObject({ jwksFile: "keys.json", algorithms: ["RS384"] });
    expect(explicit.jwksUrl).toBeUndefined();
  });

  test("a github-actions issuer loads without fetching anything", async () => {
    const loaded = await createVerifier([{ name: "gha", preset: "github-actions", audience: "https://github.com/acme" }]);
    expect(loaded.issuers).toEqual(["gha"]);
  });

  test("kubernetes fills RS256/ES256 and needs the cluster's issuer and keys", async () => {
    const attempt = createVerifier([{ name: "k8s", preset: "kubernetes", issuer: "https://kubernetes.default.svc", audience: "keyzero" }]);
    await expect(attempt).rejects.toThrow("/openid/v1/jwks");
    writeJson(dir, "k8s.jwks.json", jwksOf(esKey));
    const k8s = await createVerifier(
      [{ name: "k8s", preset: "kubernetes", issuer: "https://kubernetes.default.svc", audience: "keyzero", jwksFile: "k8s.jwks.json" }],
      { baseDir: dir, now: clock.now },
    );
    const token = await sign(esKey, claimsFor("https://kubernetes.default.svc", "keyzero", { sub: "system:serviceaccount:ci:agent" }));
    expect(await k8s.verify(token)).toMatchObject({ ok: true, issuer: "k8s", claims: { sub: "system:serviceaccount:ci:agent" } });
  });
});
