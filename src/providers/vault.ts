// vault provider: one field of a HashiCorp Vault KV v1 or v2 secret, read over Vault's HTTP API.
// Per provider instance it logs in once and reads each path once (two secrets naming two fields of one
// path cost one request). Transient failures (429, 500, 502, 504, network) are retried with backoff;
// Vault's answers — 403, 404, sealed, unreachable, untrusted TLS — become one-line reasons that name the
// path or address and never carry a value or a token.

import { readFile } from "node:fs/promises";
import { isAbsolute, join, resolve } from "node:path";
import { setTimeout as delay } from "node:timers/promises";
import { SecretValue } from "../secret.ts";
import { fieldOf } from "./field.ts";
import { clientTokenOf, planAuth } from "./vault-auth.ts";
import { ProviderError, type ProviderContext, type ProviderFactory } from "./types.ts";
import { bodyOf, errorCodeOf, TLS_ERROR } from "./http-util.ts";
import { serviceUrl } from "./service-url.ts";

const DEFAULT_RETRIES = 3;
const RETRYABLE_STATUSES = new Set([429, 500, 502, 504]);
const BACKOFF_START_MS = 100;
const BACKOFF_CAP_MS = 2_000;

// ---------------------------------------------------------------- settings

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

// ---------------------------------------------------------------- refs

/** A secret's API path split into segments; KV v2 when a `data` segment follows the mount. */
export interface VaultPath {
  segments: string[];
  kv: 1 | 2;
}

function pathOf(segments: string[]): VaultPath {
  const dataAt = segments.indexOf("data", 1);
  return { segments, kv: dataAt >= 1 && dataAt < segments.length - 1 ? 2 : 1 };
}

export function parseRef(ref: string): VaultPath {
  const segments = ref.split("/").filter((s) => s !== "");
  if (segments.length === 0) throw new ProviderError("empty Vault ref (expected mount/data/path or mount/path)");
  if (segments.some((s) => s === "." || s === "..")) throw new ProviderError(`Vault ref "${ref}" must not contain . or .. segments`);
  return pathOf(segments);
}

/** The seed form `mount/data/path/FIELD`: the path without its last segment, if that is still a secret path. */
export function parentOf(path: VaultPath): VaultPath | undefined {
  const shortest = path.kv === 2 ? path.segments.indexOf("data", 1) + 2 : 2;
  if (path.segments.length - 1 < shortest) return undefined;
  return pathOf(path.segments.slice(0, -1));
}

const shown = (path: VaultPath) => path.segments.join("/");
const apiPathOf = (path: VaultPath) => path.segments.map(encodeURIComponent).join("/");

// ---------------------------------------------------------------- Vault's answers

interface VaultAnswer {
  status: number;
  body: unknown;
  attempts: number;
}

type ReadOutcome = { found: Record<string, unknown> } | { missing: { deletedVersion?: number; errors: string } };

function isRecord(value: unknown): value is Record<string, unknown> {
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

const saying = (errors: string) => (errors ? ` (Vault: ${errors})` : "");

function isSealed(status: number, body: unknown): boolean {
  return status === 503 && /sealed/i.test(vaultErrorsOf(body));
}

function readOutcomeOf(answer: VaultAnswer, path: VaultPath, address: string): ReadOutcome {
  const { status, body } = answer;
  const errors = vaultErrorsOf(body);
  const data = isRecord(body) ? body.data : undefined;
  if (status === 200) {
    const doc = path.kv === 2 && isRecord(data) ? data.data : data;
    if (isRecord(doc)) return { found: doc };
    throw new ProviderError(`Vault answered for ${shown(path)} without secret data — is it a KV v${path.kv} secret?`);
  }
  if (status === 404) {
    // KV v2 answers 404 with the version's metadata when the current version is deleted or destroyed.
    const metadata = isRecord(data) && isRecord(data.metadata) ? data.metadata : undefined;
    const deleted = metadata && (metadata.deletion_time || metadata.destroyed);
    return { missing: { deletedVersion: deleted ? Number(metadata.version) : undefined, errors } };
  }
  if (status === 403) {
    throw new ProviderError(
      `permission denied for ${shown(path)} — the token's policy does not allow read (or the token is invalid/expired)${saying(errors)}`,
    );
  }
  throw unexpectedAnswer(answer, `reading ${shown(path)}`, address);
}

function unexpectedAnswer({ status, body, attempts }: VaultAnswer, doing: string, address: string): ProviderError {
  const tries = attempts > 1 ? ` after ${attempts} attempts` : "";
  return new ProviderError(`Vault at ${address} answered ${status} ${doing}${tries}${saying(vaultErrorsOf(body))}`);
}

function notFound(path: VaultPath, { deletedVersion, errors }: { deletedVersion?: number; errors: string }): ProviderError {
  if (deletedVersion !== undefined) {
    return new ProviderError(`the current version (${deletedVersion}) of ${shown(path)} is deleted — undelete it or write a new version`);
  }
  return new ProviderError(`no secret at ${shown(path)} (KV v2 paths need /data/ after the mount)${saying(errors)}`);
}

/** The value the secret names: its `field`, the seed form's last segment, or a secret's only field. */
async function selectValue(
  read: (path: VaultPath) => Promise<ReadOutcome>,
  ref: string,
  field: string | undefined,
): Promise<string> {
  const path = parseRef(ref);
  const outcome = await read(path);
  if (field !== undefined) {
    if ("missing" in outcome) throw notFound(path, outcome.missing);
    return fieldOf(outcome.found, field, `Vault secret ${shown(path)}`);
  }
  if ("found" in outcome) {
    const names = Object.keys(outcome.found);
    if (names.length === 1) return fieldOf(outcome.found, names[0]!, `Vault secret ${shown(path)}`);
    if (names.length === 0) throw new ProviderError(`Vault secret ${shown(path)} has no fields`);
    throw new ProviderError(`Vault secret ${shown(path)} has fields ${names.join(", ")} — add field = "…" to pick one`);
  }
  const parent = parentOf(path);
  if (parent) {
    const parentOutcome = await read(parent);
    if ("found" in parentOutcome) return fieldOf(parentOutcome.found, path.segments.at(-1)!, `Vault secret ${shown(parent)}`);
  }
  throw notFound(path, outcome.missing);
}

// ---------------------------------------------------------------- HTTP

interface VaultRequest {
  method: "GET" | "POST";
  /** API path after /v1/. */
  path: string;
  token?: string;
  body?: Record<string, string>;
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

// ---------------------------------------------------------------- the provider

/** Shares one pending result per key; a failure is forgotten so a later call may try again. */
function once<T>(cache: Map<string, Promise<T>>, key: string, work: () => Promise<T>): Promise<T> {
  let pending = cache.get(key);
  if (!pending) {
    pending = work();
    cache.set(key, pending);
    pending.catch(() => cache.delete(key));
  }
  return pending;
}

const createVaultProvider: ProviderFactory = async (ctx) => {
  const conn = connectionFrom(ctx);
  const ca = conn.caCertPath ? await readCaCert(conn.caCertPath) : undefined;
  const logins = new Map<string, Promise<string>>();
  const reads = new Map<string, Promise<ReadOutcome>>();

  // The first caller's signal bounds the shared login and read; all callers share the provider's timeout.
  const clientToken = (signal: AbortSignal) =>
    once(logins, "token", async () => {
      const plan = await planAuth(conn.auth, ctx.env, ctx.configDir);
      if (plan.kind === "token") return plan.token;
      const answer = await send(conn, ca, { method: "POST", path: plan.path, body: plan.body, signal });
      const token = answer.status === 200 ? clientTokenOf(answer.body) : undefined;
      if (token) return token;
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

  const read = (signal: AbortSignal) => (path: VaultPath) =>
    once(reads, shown(path), async () => {
      const token = await clientToken(signal);
      const answer = await send(conn, ca, { method: "GET", path: apiPathOf(path), token, signal });
      return readOutcomeOf(answer, path, conn.address);
    });

  return {
    async fetch({ ref, field, signal }) {
      const value = await selectValue(read(signal), ref, field);
      if (value === "") throw new ProviderError(`Vault secret ${ref}${field ? ` field "${field}"` : ""} is empty`);
      return new SecretValue(value);
    },
  };
};

export default createVaultProvider;
