// Shared fixtures for the identity tests: real key pairs made with jose, a token signer, a fake clock, a
// JWKS HTTP server on 127.0.0.1 that counts its fetches, and a check that a rejection is the expected one
// and does not echo the token.

import { expect } from "bun:test";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { exportJWK, exportSPKI, generateKeyPair, SignJWT, type CryptoKey, type JSONWebKeySet, type JWK, type JWTPayload } from "jose";
import type { VerifyFailureCode, VerifyResult } from "../../src/identity/verify.ts";

/** The tests' "now": 2030-03-17T17:46:40Z, in ms. Every token is stamped relative to it. */
export const NOW_MS = 1_900_000_000_000;
export const NOW = NOW_MS / 1000;

export interface TestKey {
  alg: string;
  kid: string;
  privateKey: CryptoKey;
  publicKey: CryptoKey;
  publicJwk: JWK;
  publicPem: string;
}

export async function makeKey(alg: "RS256" | "ES256" | "PS256" | "ES384", kid: string): Promise<TestKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg);
  const publicJwk = { ...(await exportJWK(publicKey)), kid, alg, use: "sig" };
  return { alg, kid, privateKey, publicKey, publicJwk, publicPem: await exportSPKI(publicKey) };
}

export function jwksOf(...keys: TestKey[]): JSONWebKeySet {
  return { keys: keys.map((key) => key.publicJwk) };
}

/** Standard claims for issuer `iss`, valid at NOW for five minutes, plus `extra`. */
export function claimsFor(iss: string, aud: string | string[], extra: JWTPayload = {}): JWTPayload {
  return { iss, aud, sub: "agent-7", iat: NOW - 10, exp: NOW + 300, ...extra };
}

export async function sign(key: TestKey, claims: JWTPayload, header: Record<string, unknown> = {}): Promise<string> {
  return new SignJWT(claims).setProtectedHeader({ alg: key.alg, kid: key.kid, typ: "JWT", ...header }).sign(key.privateKey);
}

export function base64url(value: unknown): string {
  return Buffer.from(typeof value === "string" ? value : JSON.stringify(value)).toString("base64url");
}

/** A hand-built compact token: header and claims as given, signature as given (default empty). */
export function rawToken(header: unknown, claims: unknown, signature = ""): string {
  return `${base64url(header)}.${base64url(claims)}.${signature}`;
}

export class FakeClock {
  ms = NOW_MS;
  readonly now = (): number => this.ms;
  advanceSeconds(seconds: number): void {
    this.ms += seconds * 1000;
  }
}

export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `kz-identity-${prefix}-`));
}

export function writeJson(dir: string, name: string, value: unknown): string {
  const path = join(dir, name);
  writeFileSync(path, JSON.stringify(value));
  return path;
}

export interface JwksServer {
  url: string;
  /** How many GETs of the JWKS path the server has answered. */
  readonly fetches: number;
  /** What the next fetch answers. */
  serve(jwks: unknown, status?: number): void;
  stop(): void;
}

export function startJwksServer(initial: unknown): JwksServer {
  let body: unknown = initial;
  let status = 200;
  let fetches = 0;
  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    fetch(request) {
      if (new URL(request.url).pathname !== "/jwks") return new Response("not found", { status: 404 });
      fetches++;
      return Response.json(body, { status });
    },
  });
  return {
    url: `http://127.0.0.1:${server.port}/jwks`,
    get fetches() {
      return fetches;
    },
    serve(jwks, nextStatus = 200) {
      body = jwks;
      status = nextStatus;
    },
    stop() {
      server.stop(true);
    },
  };
}

/** The result is a rejection with `code`, its message mentions `mentions` and contains no part of `token`. */
export function expectRejected(result: VerifyResult, code: VerifyFailureCode, token: string, mentions?: string): void {
  if (result.ok) throw new Error(`expected ${code}, but the token verified`);
  expect({ code: result.code, status: result.status }).toEqual({
    code,
    status: code === "keys_unavailable" || code === "revocation_unavailable" ? 503 : 401,
  });
  if (mentions !== undefined) expect(result.message).toContain(mentions);
  expect(result.message).not.toContain("\n");
  for (const part of [token, ...token.split(".")]) if (part.length >= 8) expect(result.message).not.toContain(part);
}
