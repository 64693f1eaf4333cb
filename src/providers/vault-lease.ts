// Vault leases: spotting a dynamic secret in a read (a non-empty lease_id), and renewing or revoking a
// lease (PUT /v1/sys/leases/renew, /v1/sys/leases/revoke) with the same connection and login as the vault
// provider. renewLease/revokeLease stand alone for a caller that kept only the lease id (the server after
// a restart); a Lease from a read carries its own renew/revoke on the client that read it.
// Vault revokes a lease when the token that created it ends, so when kz logged in for its token
// (AppRole, JWT, Kubernetes) a lease lasts no longer than that token: its duration is capped at the
// token's, and renewing it renews the token first (auth/token/renew-self).

import type { Lease, LeaseRenewal } from "./lease.ts";
import { ProviderError, type ProviderContext } from "./types.ts";
import { isRecord, saying, unexpectedAnswer, vaultClient, vaultErrorsOf, type VaultAnswer, type VaultClient } from "./vault-client.ts";

const DEFAULT_TIMEOUT_MS = 10_000;

/** The lease a read answered with, if it is a dynamic secret (lease_id present and non-empty). */
export function leaseOf(body: unknown, path: string, client: VaultClient, provider = "vault"): Lease | undefined {
  if (!isRecord(body) || typeof body.lease_id !== "string" || body.lease_id === "") return undefined;
  const id = body.lease_id;
  return {
    id,
    provider,
    path,
    durationSeconds: cappedByToken(secondsOf(body.lease_duration), client),
    renewable: body.renewable === true,
    obtainedAt: Date.now(),
    renew: (increment, signal) => renewWith(client, id, increment, signal),
    revoke: (signal) => revokeWith(client, id, signal),
  };
}

/** A lease's seconds, no more than the login token has left (Vault ends the lease with the token). */
function cappedByToken(seconds: number, client: VaultClient): number {
  const token = client.tokenLease();
  if (!token) return seconds;
  const left = Math.max(0, Math.ceil((token.expiresAt - Date.now()) / 1000));
  return seconds === 0 ? left : Math.min(seconds, left);
}

function secondsOf(value: unknown): number {
  return typeof value === "number" && Number.isFinite(value) && value >= 0 ? Math.floor(value) : 0;
}

async function renewWith(client: VaultClient, leaseId: string, increment: number, signal?: AbortSignal): Promise<LeaseRenewal> {
  signal ??= AbortSignal.timeout(DEFAULT_TIMEOUT_MS);
  const token = await client.token(signal);
  if (client.tokenLease()?.renewable) await client.renewToken(increment, signal);
  const body = { lease_id: leaseId, increment: Math.max(1, Math.floor(increment)) };
  const answer = await client.send({ method: "PUT", path: "sys/leases/renew", token, body, signal });
  if (answer.status === 200 && isRecord(answer.body)) {
    return { durationSeconds: cappedByToken(secondsOf(answer.body.lease_duration), client), renewable: answer.body.renewable === true };
  }
  throw leaseError(client, answer, "renew");
}

async function revokeWith(client: VaultClient, leaseId: string, signal?: AbortSignal): Promise<void> {
  signal ??= AbortSignal.timeout(DEFAULT_TIMEOUT_MS);
  const token = await client.token(signal);
  const answer = await client.send({ method: "PUT", path: "sys/leases/revoke", token, body: { lease_id: leaseId }, signal });
  if (answer.status === 204 || answer.status === 200) return;
  throw leaseError(client, answer, "revoke");
}

/** Why Vault would not renew or revoke; the caller names the lease (its path), so this does not. */
function leaseError(client: VaultClient, answer: VaultAnswer, action: "renew" | "revoke"): ProviderError {
  if (answer.status === 403) {
    return new ProviderError(`permission denied — the token's policy needs "update" on sys/leases/${action}${saying(vaultErrorsOf(answer.body))}`);
  }
  if (answer.status === 400 || answer.status === 404) {
    return new ProviderError(`Vault would not ${action} it${saying(vaultErrorsOf(answer.body))}`);
  }
  return unexpectedAnswer(answer, `to the lease ${action}`, client.conn.address);
}

/** Renews a lease known only by its id, logging in as the vault provider with these settings does. */
export async function renewLease(ctx: ProviderContext, leaseId: string, increment: number, signal?: AbortSignal): Promise<LeaseRenewal> {
  return renewWith(await vaultClient(ctx), leaseId, increment, signal);
}

/** Revokes a lease known only by its id, logging in as the vault provider with these settings does. */
export async function revokeLease(ctx: ProviderContext, leaseId: string, signal?: AbortSignal): Promise<void> {
  return revokeWith(await vaultClient(ctx), leaseId, signal);
}

/** "database/creds/ro/AbC" → "database/creds/ro": the lease id's path without its unique suffix, for messages. */
export function pathOfLease(leaseId: string): string {
  const cut = leaseId.lastIndexOf("/");
  return cut > 0 ? leaseId.slice(0, cut) : "a Vault lease";
}
