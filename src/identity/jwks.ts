// Verification keys for one issuer, from one of three sources: a JWKS file (read once, at load), a PEM
// public key or certificate file (imported once per configured algorithm), or a JWKS URL. The URL's keys are
// cached; a token whose `kid` the cache does not know may trigger a refetch, but at most one fetch starts
// per cooldown window (failed fetches included), and concurrent callers share one in-flight fetch — so a
// stream of made-up `kid`s, or an identity provider that is down, never turns into a stream of requests.
// Only public signing keys are accepted: a JWKS carrying private or symmetric key material is refused.

import { readFile } from "node:fs/promises";
import {
  createLocalJWKSet,
  errors,
  importSPKI,
  importX509,
  type CryptoKey,
  type FlattenedJWSInput,
  type JSONWebKeySet,
  type JWSHeaderParameters,
} from "jose";
import { ConfigError } from "../errors.ts";

/** Picks the key for a token from its (not yet authenticated) header. */
export type KeyResolver = (header: JWSHeaderParameters, token: FlattenedJWSInput) => Promise<CryptoKey>;

/** The issuer's keys cannot be had right now (endpoint down, bad answer). Not the token's fault. */
export class KeysUnavailableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "KeysUnavailableError";
  }
}

const MAX_JWKS_BYTES = 512 * 1024;
const MAX_JWKS_KEYS = 100;
const SIGNING_KEY_TYPES = new Set(["RSA", "EC", "OKP"]);
const PRIVATE_MEMBERS = ["d", "p", "q", "dp", "dq", "qi", "oth", "k", "priv"];

// ---------------------------------------------------------------- checking a key set

/** Why `json` is not a usable public JWKS, or undefined when it is. */
export function publicJwksProblem(json: unknown): string | undefined {
  if (typeof json !== "object" || json === null || !Array.isArray((json as { keys?: unknown }).keys)) {
    return 'is not a JWKS (expected an object with a "keys" array)';
  }
  const keys: unknown[] = (json as { keys: unknown[] }).keys;
  if (keys.length === 0) return "holds no keys";
  if (keys.length > MAX_JWKS_KEYS) return `holds ${keys.length} keys (at most ${MAX_JWKS_KEYS})`;
  for (const [index, key] of keys.entries()) {
    if (typeof key !== "object" || key === null) return `key ${index} is not an object`;
    const { kty } = key as { kty?: unknown };
    if (kty === "oct") return `key ${index} is a symmetric (oct) key; only public signing keys are accepted`;
    if (typeof kty !== "string" || !SIGNING_KEY_TYPES.has(kty)) {
      return `key ${index} has unsupported kty ${JSON.stringify(kty)} (expected RSA, EC or OKP)`;
    }
    if (PRIVATE_MEMBERS.some((member) => Object.hasOwn(key, member))) {
      return `key ${index} contains private key material; publish only the public keys`;
    }
  }
  return undefined;
}

// ---------------------------------------------------------------- files

function readFailure(err: unknown): string {
  const code = (err as NodeJS.ErrnoException).code;
  return code === "ENOENT" ? "no such file" : code === "EACCES" ? "permission denied" : (code ?? "unreadable");
}

/** Keys from a JWKS file, read and checked once. */
export async function loadJwksFile(path: string, label: string): Promise<KeyResolver> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (err) {
    throw new ConfigError(`${label}: cannot read jwks_file ${path}: ${readFailure(err)}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new ConfigError(`${label}: jwks_file ${path} is not valid JSON`);
  }
  const problem = publicJwksProblem(json);
  if (problem) throw new ConfigError(`${label}: jwks_file ${path} ${problem}`);
  return createLocalJWKSet(json as JSONWebKeySet);
}

/** A PEM public key (SPKI) or certificate, imported once for each configured algorithm it suits. */
export async function loadPublicKeyFile(path: string, algorithms: string[], label: string): Promise<KeyResolver> {
  let pem: string;
  try {
    pem = await readFile(path, "utf8");
  } catch (err) {
    throw new ConfigError(`${label}: cannot read public_key_file ${path}: ${readFailure(err)}`);
  }
  if (/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(pem)) {
    throw new ConfigError(
      `${label}: public_key_file ${path} holds a private key; give the public key (openssl pkey -pubout)`,
    );
  }
  const isCertificate = pem.includes("-----BEGIN CERTIFICATE-----");
  const keys = new Map<string, CryptoKey>();
  for (const alg of algorithms) {
    try {
      keys.set(alg, isCertificate ? await importX509(pem, alg) : await importSPKI(pem, alg));
    } catch {
      // this key does not suit this algorithm (an RSA key and ES256, say); other algorithms may fit
    }
  }
  if (keys.size === 0) {
    throw new ConfigError(
      `${label}: public_key_file ${path} holds no PEM public key usable with ${algorithms.join(", ")}`,
    );
  }
  return async (header) => {
    const key = typeof header.alg === "string" ? keys.get(header.alg) : undefined;
    if (!key) throw new errors.JWKSNoMatchingKey();
    return key;
  };
}

// ---------------------------------------------------------------- URL

export interface RemoteJwksOptions {
  /** Minimum time between two fetch attempts that a cache miss or a failure may start. */
  cooldownMs: number;
  /** Keys older than this are refreshed (in the background while they can still be used). */
  maxAgeMs: number;
  /** When refreshing keeps failing, keys are still used for this long past maxAgeMs, then refused. */
  maxStaleMs: number;
  timeoutMs: number;
  /** Clock in milliseconds; tests pass a fake one. */
  now: () => number;
}

export const DEFAULT_REMOTE_JWKS: Omit<RemoteJwksOptions, "now"> = {
  cooldownMs: 30_000,
  maxAgeMs: 10 * 60_000,
  maxStaleMs: 60 * 60_000,
  timeoutMs: 5_000,
};

/** The URL as shown in messages: no credentials, query or fragment. */
export function displayUrl(url: URL): string {
  return url.origin + url.pathname;
}

const LOOPBACK_HOSTS = new Set(["localhost", "127.0.0.1", "[::1]"]);

/** `jwks_url` parsed and checked: https, or plain http to a loopback address only. */
export function parseJwksUrl(value: string, label: string): URL {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new ConfigError(`${label}: jwks_url is not a URL`);
  }
  const loopback = LOOPBACK_HOSTS.has(url.hostname) || /^127\.\d+\.\d+\.\d+$/.test(url.hostname);
  if (url.protocol !== "https:" && !(url.protocol === "http:" && loopback)) {
    throw new ConfigError(
      `${label}: jwks_url ${displayUrl(url)} must use https (plain http is allowed only to loopback)`,
    );
  }
  return url;
}

async function fetchJwks(url: URL, timeoutMs: number): Promise<JSONWebKeySet> {
  let response: Response;
  try {
    response = await fetch(url, {
      redirect: "manual",
      signal: AbortSignal.timeout(timeoutMs),
      headers: { accept: "application/jwk-set+json, application/json" },
    });
  } catch (err) {
    const timedOut = (err as Error).name === "TimeoutError";
    throw new Error(timedOut ? `no answer within ${timeoutMs} ms` : `unreachable (${(err as Error).message})`);
  }
  if (response.status !== 200) {
    await response.body?.cancel();
    throw new Error(`answered HTTP ${response.status}`);
  }
  const declared = Number(response.headers.get("content-length") ?? 0);
  if (declared > MAX_JWKS_BYTES) {
    await response.body?.cancel();
    throw new Error(`answered ${declared} bytes (at most ${MAX_JWKS_BYTES})`);
  }
  const text = await response.text();
  if (text.length > MAX_JWKS_BYTES) throw new Error(`answered more than ${MAX_JWKS_BYTES} bytes`);
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new Error("answered with something that is not JSON");
  }
  const problem = publicJwksProblem(json);
  if (problem) throw new Error(`answered a key set that ${problem}`);
  return json as JSONWebKeySet;
}

/** Keys from a JWKS URL, cached, with rate-limited refetching. */
export class RemoteJwks {
  readonly url: URL;
  readonly #options: RemoteJwksOptions;
  #keys: KeyResolver | undefined;
  #fetchedAt = -Infinity;
  #attemptedAt = -Infinity;
  #pending: Promise<void> | undefined;
  #lastFailure: string | undefined;

  constructor(url: URL, options: RemoteJwksOptions) {
    this.url = url;
    this.#options = options;
  }

  /** The resolver to hand to jwtVerify. */
  readonly getKey: KeyResolver = async (header, token) => {
    const keys = await this.#currentKeys();
    try {
      return await keys(header, token);
    } catch (err) {
      if (!(err instanceof errors.JWKSNoMatchingKey)) throw err;
      // A kid we do not know: perhaps the provider rotated its keys. Look again — unless a fetch was
      // attempted within the cooldown, in which case the cache's answer stands.
      if (!this.#pending && !this.#mayFetch()) throw err;
      await this.#refresh();
      if (this.#lastFailure !== undefined) throw this.#unavailable();
      return (this.#keys ?? keys)(header, token);
    }
  };

  async #currentKeys(): Promise<KeyResolver> {
    const age = this.#options.now() - this.#fetchedAt;
    if (this.#keys && age < this.#options.maxAgeMs) return this.#keys;
    if (this.#keys && age < this.#options.maxAgeMs + this.#options.maxStaleMs) {
      // Old but usable: refresh in the background, answer from the cache now.
      if (!this.#pending && this.#mayFetch()) void this.#refresh();
      return this.#keys;
    }
    if (this.#pending || this.#mayFetch()) await this.#refresh();
    const fresh = this.#options.now() - this.#fetchedAt < this.#options.maxAgeMs + this.#options.maxStaleMs;
    if (!this.#keys || !fresh) throw this.#unavailable();
    return this.#keys;
  }

  #mayFetch(): boolean {
    return this.#options.now() - this.#attemptedAt >= this.#options.cooldownMs;
  }

  #unavailable(): KeysUnavailableError {
    const reason = this.#lastFailure ?? "not fetched yet";
    return new KeysUnavailableError(`cannot get keys from ${displayUrl(this.url)}: ${reason}`);
  }

  /** Fetch now, or join the fetch already in flight. Never throws; a failure is kept in #lastFailure. */
  #refresh(): Promise<void> {
    this.#pending ??= this.#fetchOnce().finally(() => {
      this.#pending = undefined;
    });
    return this.#pending;
  }

  async #fetchOnce(): Promise<void> {
    this.#attemptedAt = this.#options.now();
    try {
      const jwks = await fetchJwks(this.url, this.#options.timeoutMs);
      this.#keys = createLocalJWKSet(jwks);
      this.#fetchedAt = this.#options.now();
      this.#lastFailure = undefined;
    } catch (err) {
      this.#lastFailure = (err as Error).message;
    }
  }
}
