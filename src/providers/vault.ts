// vault provider: one field of a HashiCorp Vault KV v1 or v2 secret, or of a dynamic secret (any read
// answering with a lease_id: database/creds/<role>, aws/creds/<role>…), read over Vault's HTTP API.
// Per provider instance it logs in once and reads each path once (two secrets naming two fields of one
// path cost one request; for a dynamic secret, once per resolution, its lease reported to the request's
// LeaseSink). Transient failures (429, 500, 502, 504, network) are retried with backoff;
// Vault's answers — 403, 404, sealed, unreachable, untrusted TLS — become one-line reasons that name the
// path or address and never carry a value or a token.

import { SecretValue } from "../secret.ts";
import { fieldOf } from "./field.ts";
import type { Lease, LeaseSink } from "./lease.ts";
import { ProviderError, type ProviderFactory } from "./types.ts";
import { isRecord, once, saying, unexpectedAnswer, vaultClient, vaultErrorsOf, type VaultAnswer } from "./vault-client.ts";
import { leaseOf } from "./vault-lease.ts";

export { connectionFrom, vaultErrorsOf, type VaultConnection } from "./vault-client.ts";

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

/** A read's result; `lease` when Vault minted the secret for this read (a dynamic secret). */
type ReadOutcome = { found: Record<string, unknown>; lease?: Lease } | { missing: { deletedVersion?: number; errors: string } };

function readOutcomeOf(answer: VaultAnswer, path: VaultPath, address: string, lease: Lease | undefined): ReadOutcome {
  const { status, body } = answer;
  const errors = vaultErrorsOf(body);
  const data = isRecord(body) ? body.data : undefined;
  if (status === 200) {
    if (lease) {
      if (isRecord(data)) return { found: data, lease };
      throw new ProviderError(`Vault answered for ${shown(path)} with a lease but no credential data`);
    }
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

// ---------------------------------------------------------------- the provider

const createVaultProvider: ProviderFactory = async (ctx) => {
  const client = await vaultClient(ctx);
  // Static (KV) reads are shared by every later request to this provider instance. A dynamic read mints a
  // credential and a lease for its reader, so it is shared only within one resolution (one LeaseSink):
  // `username` and `password` of database/creds/<role> come from one lease, another run gets its own.
  const staticReads = new Map<string, Promise<ReadOutcome>>();
  const scopedReads = new WeakMap<object, Map<string, Promise<ReadOutcome>>>();
  const unscoped = {};

  const readOnce = (path: VaultPath, signal: AbortSignal, sink: LeaseSink | undefined, name: string): Promise<ReadOutcome> => {
    const key = shown(path);
    const known = staticReads.get(key);
    if (known) return known;
    const scope = sink ?? unscoped;
    let reads = scopedReads.get(scope);
    if (!reads) scopedReads.set(scope, (reads = new Map()));
    return once(reads, key, async () => {
      // The first caller's signal bounds the shared login and read; all callers share the provider's timeout.
      const token = await client.token(signal);
      const answer = await client.send({ method: "GET", path: apiPathOf(path), token, signal });
      const lease = answer.status === 200 ? leaseOf(answer.body, key, client) : undefined;
      // Reported as soon as it exists, even if this caller has given up waiting: it must still be revoked.
      if (lease) sink?.add(lease, name);
      const outcome = readOutcomeOf(answer, path, client.conn.address, lease);
      if (!lease) staticReads.set(key, Promise.resolve(outcome));
      return outcome;
    });
  };

  return {
    async fetch({ name, ref, field, signal, leases }) {
      const read = async (path: VaultPath) => {
        const outcome = await readOnce(path, signal, leases, name);
        if ("found" in outcome && outcome.lease) leases?.add(outcome.lease, name);
        return outcome;
      };
      const value = await selectValue(read, ref, field);
      if (value === "") throw new ProviderError(`Vault secret ${ref}${field ? ` field "${field}"` : ""} is empty`);
      return new SecretValue(value);
    },
  };
};

export default createVaultProvider;
