// Talking to Vault: the connection settings ([providers.vault] with their VAULT_* fallbacks), one API
// call with retries on transient failures, and the login done once per client. Shared by the vault
// provider (reads) and vault-lease.ts (renew, revoke). Messages name the address or path, never a value
// or a token.

import { readFile } from "node:fs/promises";
import { isAbsolute, join, resolve } from "node:path";
import { setTimeout as delay } from "node:timers/promises";
import { bodyOf, errorCodeOf, TLS_ERROR } from "./http-util.ts";
import { serviceUrl } from "./service-url.ts";
import { ProviderError, type ProviderContext } from "./types.ts";
import { clientTokenOf, planAuth } from "./vault-auth.ts";

const DEFAULT_RETRIES = 3;
const RETRYABLE_STATUSES = new Set([429, 500, 502, 504]);
const BACKOFF_START_MS = 100;
const BACKOFF_CAP_MS = 2_000;

export interface VaultConnection {
  /** Base address without a trailing slash, e.g. "https://vault.internal:8200". */
  address: string;
  namespace?: string;
  caCertPath?: string;
  retries: number;
  auth: Record<string, unknown>;
}

function nonEmpty(value: unknown): string | undefined {
  return typeof value === "string" && value !== "" ? value : undefined;
}

/** `[providers.vault]` settings with their VAULT_* fallbacks, checked; reads nothing. */
export function connectionFrom({ settings, env, configDir }: ProviderContext): VaultConnection {
  const address = nonEmpty(settings.address) ?? nonEmpty(env.VAULT_ADDR);
  if (!address) throw new ProviderError("no Vault address: set [providers.vault] address or VAULT_ADDR");
  // Never echoed: checked and cut to origin + path, the only form any message shows.
  const shown = serviceUrl(address, settings.address ? "[providers.vault] address" : "VAULT_ADDR", "https://vault.example:8200");
  const retries = settings.retries ?? DEFAULT_RETRIES;
  if (typeof retries !== "number" || !Number.isInteger(retries) || retries < 0) {
    throw new ProviderError("[providers.vault] retries must be a whole number, 0 or more");
  }
  // ca_cert in the config is relative to the config file; VAULT_CACERT, like the vault CLI, to the cwd.
  const caSetting = nonEmpty(settings.ca_cert);
  const caEnv = nonEmpty(env.VAULT_CACERT);
  const caCertPath = caSetting ? (isAbsolute(caSetting) ? caSetting : join(configDir, caSetting)) : caEnv && resolve(caEnv);
  return {
    address: shown,
    namespace: nonEmpty(settings.namespace) ?? nonEmpty(env.VAULT_NAMESPACE),
    caCertPath,
    retries,
    auth: (settings.auth as Record<string, unknown> | undefined) ?? {},
  };
}

async function readCaCert(path: string): Promise<string> {
  let pem: string;
  try {
    pem = await readFile(path, "utf8");
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new ProviderError(`cannot read Vault CA certificate ${path} (${code === "ENOENT" ? "it does not exist" : code})`);
  }
  if (!pem.includes("-----BEGIN CERTIFICATE-----")) {
    throw new ProviderError(`Vault CA certificate ${path} is not a PEM certificate`);
  }
  return pem;
}

// ---------------------------------------------------------------- Vault's answers

export interface VaultAnswer {
  status: number;
  body: unknown;
  attempts: number;
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Vault's `errors` strings, one line, bounded — they name paths and reasons, never secret values. */
export function vaultErrorsOf(body: unknown): string {
  const errors = isRecord(body) && Array.isArray(body.errors) ? body.errors : [];
  return errors
    .filter((e): e is string => typeof e === "string")
    .map((e) => e.replace(/\d+ errors? occurred:/, "").replace(/[\s*]+/g, " ").trim().slice(0, 200))
    .filter((e) => e !== "")
    .join("; ");
}

export const saying = (errors: string) => (errors ? ` (Vault: ${errors})` : "");

function isSealed(status: number, body: unknown): boolean {
  return status === 503 && /sealed/i.test(vaultErrorsOf(body));
}

export function unexpectedAnswer({ status, body, attempts }: VaultAnswer, doing: string, address: string): ProviderError {
  const tries = attempts > 1 ? ` after ${attempts} attempts` : "";
  return new ProviderError(`Vault at ${address} answered ${status} ${doing}${tries}${saying(vaultErrorsOf(body))}`);
}

// ---------------------------------------------------------------- HTTP

export interface VaultRequest {
  method: "GET" | "POST" | "PUT";
  /** API path after /v1/. */
  path: string;
  token?: string;
  body?: Record<string, string | number>;
  signal: AbortSignal;
}

function backoff(attempt: number, signal: AbortSignal): Promise<void> {
  return delay(Math.min(BACKOFF_START_MS * 2 ** attempt, BACKOFF_CAP_MS), undefined, { signal });
}

/** One Vault API call, retried on transient failures; throws for sealed, TLS, unreachable, aborted. */
async function send(conn: VaultConnection, ca: string | undefined, request: VaultRequest): Promise<VaultAnswer> {
  const headers: Record<string, string> = { "X-Vault-Request": "true" };
  if (request.token) headers["X-Vault-Token"] = request.token;
  if (conn.namespace) headers["X-Vault-Namespace"] = conn.namespace;
  if (request.body) headers["Content-Type"] = "application/json";
  const cancelled = () => new ProviderError(`request to Vault at ${conn.address} was cancelled`);

  for (let attempt = 0; ; attempt++) {
    const lastAttempt = attempt >= conn.retries;
    let answer: VaultAnswer | undefined;
    let failure: unknown;
    try {
      const response = await fetch(`${conn.address}/v1/${request.path}`, {
        method: request.method,
        headers,
        body: request.body ? JSON.stringify(request.body) : undefined,
        signal: request.signal,
        tls: ca ? { ca } : undefined,
      });
      answer = { status: response.status, body: await bodyOf(response), attempts: attempt + 1 };
    } catch (error) {
      failure = error;
    }

    if (answer) {
      if (isSealed(answer.status, answer.body)) {
        throw new ProviderError(`Vault at ${conn.address} is sealed — unseal it (vault operator unseal) and try again`);
      }
      if (lastAttempt || !RETRYABLE_STATUSES.has(answer.status)) return answer;
    } else {
      if (request.signal.aborted) throw cancelled();
      const code = errorCodeOf(failure);
      if (TLS_ERROR.test(code)) {
        throw new ProviderError(
          `cannot verify Vault's TLS certificate at ${conn.address} (${code}) — set [providers.vault] ca_cert or VAULT_CACERT to its CA's PEM file`,
        );
      }
      if (lastAttempt) {
        throw new ProviderError(
          `cannot reach Vault at ${conn.address} (${code}, ${attempt + 1} attempts) — check [providers.vault] address or VAULT_ADDR`,
        );
      }
    }

    try {
      await backoff(attempt, request.signal);
    } catch {
      throw cancelled();
    }
  }
}

// ---------------------------------------------------------------- the client

/** Shares one pending result per key; a failure is forgotten so a later call may try again. */
export function once<T>(cache: Map<string, Promise<T>>, key: string, work: () => Promise<T>): Promise<T> {
  let pending = cache.get(key);
  if (!pending) {
    pending = work();
    cache.set(key, pending);
    pending.catch(() => cache.delete(key));
  }
  return pending;
}

/** The lease of a token kz logged in for (AppRole, JWT, Kubernetes): Vault revokes the token's leases when it ends. */
export interface TokenLease {
  expiresAt: number;
  renewable: boolean;
}

export interface VaultClient {
  conn: VaultConnection;
  /** The client token: VAULT_TOKEN (or its kin) or one login, shared by every later call. */
  token(signal: AbortSignal): Promise<string>;
  /** One API call (authenticated when `token` is given). */
  send(request: VaultRequest): Promise<VaultAnswer>;
  /** The login token's lease, once logged in; undefined for a given token (VAULT_TOKEN) or one without a TTL. */
  tokenLease(): TokenLease | undefined;
  /** Renews the login token (auth/token/renew-self) by `increment` seconds; a no-op for a given token. */
  renewToken(increment: number, signal: AbortSignal): Promise<void>;
}

/** The token lease in a login or renew-self answer (`auth.lease_duration`, `auth.renewable`). */
function tokenLeaseOf(body: unknown): TokenLease | undefined {
  const auth = isRecord(body) && isRecord(body.auth) ? body.auth : undefined;
  const seconds = typeof auth?.lease_duration === "number" ? auth.lease_duration : 0;
  return seconds > 0 ? { expiresAt: Date.now() + seconds * 1000, renewable: auth?.renewable === true } : undefined;
}

/** A client for `[providers.vault]`: reads the CA now, logs in on first use. */
export async function vaultClient(ctx: ProviderContext): Promise<VaultClient> {
  const conn = connectionFrom(ctx);
  const ca = conn.caCertPath ? await readCaCert(conn.caCertPath) : undefined;
  const logins = new Map<string, Promise<string>>();
  let loginLease: TokenLease | undefined;

  // The first caller's signal bounds the shared login.
  const token = (signal: AbortSignal) =>
    once(logins, "token", async () => {
      const plan = await planAuth(conn.auth, ctx.env, ctx.configDir);
      if (plan.kind === "token") return plan.token;
      const answer = await send(conn, ca, { method: "POST", path: plan.path, body: plan.body, signal });
      const token = answer.status === 200 ? clientTokenOf(answer.body) : undefined;
      if (token) {
        loginLease = tokenLeaseOf(answer.body);
        return token;
      }
      const errors = saying(vaultErrorsOf(answer.body));
      if (answer.status === 400 || answer.status === 403) {
        throw new ProviderError(`Vault refused the ${plan.method} login at ${plan.path}${errors} — ${plan.hint}`);
      }
      if (answer.status === 404) {
        throw new ProviderError(`no ${plan.method} auth method at ${plan.path}${errors} — check [providers.vault] auth.mount`);
      }
      if (answer.status === 200) throw new ProviderError(`Vault's ${plan.method} login at ${plan.path} returned no client token`);
      throw unexpectedAnswer(answer, `to the ${plan.method} login at ${plan.path}`, conn.address);
    });

  const renewToken = async (increment: number, signal: AbortSignal) => {
    if (!loginLease) return;
    const answer = await send(conn, ca, { method: "PUT", path: "auth/token/renew-self", token: await token(signal), body: { increment: Math.max(1, Math.floor(increment)) }, signal });
    const renewed = answer.status === 200 ? tokenLeaseOf(answer.body) : undefined;
    if (!renewed) throw unexpectedAnswer(answer, "to the renewal of kz's login token (auth/token/renew-self)", conn.address);
    loginLease = renewed;
  };

  return { conn, token, send: (request) => send(conn, ca, request), tokenLease: () => loginLease, renewToken };
}
