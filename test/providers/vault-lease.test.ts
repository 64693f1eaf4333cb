// Vault dynamic secrets at the provider layer: a read answering with a lease_id is reported to the
// request's LeaseSink once, shared by the secrets of one resolution and not by the next; renewLease and
// revokeLease work by id alone (logging in like the provider); their failures name the path, not the id.

import { afterAll, beforeAll, expect, test } from "bun:test";
import createVaultProvider from "../../src/providers/vault.ts";
import { renewLease, revokeLease, pathOfLease } from "../../src/providers/vault-lease.ts";
import type { ProviderContext } from "../../src/providers/types.ts";
import { resolveSecrets } from "../../src/resolve/resolve.ts";
import { LeaseSet } from "../../src/resolve/leases.ts";
import type { KzConfig, SecretSpec } from "../../src/config/types.ts";
import { startVaultServer, type VaultServer } from "../servers/vault.ts";

const ROOT = "fake-vault-root-lease-0001";
const ROLE_ID = "fake-role-lease-0002";
const SECRET_ID = "fake-secret-lease-0003";
let vault: VaultServer;
let ctx: ProviderContext;

beforeAll(() => {
  vault = startVaultServer({ rootToken: ROOT, logins: [{ method: "approle", roleId: ROLE_ID, secretId: SECRET_ID }] });
  vault.writeSecret("secret/app/static", { token: "fake-static-value-9a" });
  ctx = { settings: { address: vault.url }, env: { VAULT_TOKEN: ROOT }, configDir: "/" };
});
afterAll(() => vault.stop());

const signal = () => AbortSignal.timeout(5_000);

function config(): KzConfig {
  return { providers: { vault: { address: vault.url } }, dir: "/" } as unknown as KzConfig;
}
const spec = (name: string, ref: string, field?: string): SecretSpec => ({ name, provider: "vault", ref, field, optional: false }) as SecretSpec;

test("two fields of one dynamic path: one read, one lease, both secrets named", async () => {
  vault.setLeaseDuration(120, { maxTtl: 600 });
  const before = vault.countRequests("/v1/database/creds/readonly");
  const r = await resolveSecrets(config(), [spec("DB_USER", "database/creds/readonly", "username"), spec("DB_PASS", "database/creds/readonly", "password")], { env: { VAULT_TOKEN: ROOT } });
  expect(r.failures).toEqual([]);
  expect(vault.countRequests("/v1/database/creds/readonly") - before).toBe(1);
  expect(r.leases.size).toBe(1);
  const [held] = r.leases.all();
  expect(held!.secrets.sort()).toEqual(["DB_PASS", "DB_USER"]);
  expect(held!.lease).toMatchObject({ provider: "vault", path: "database/creds/readonly", durationSeconds: 120, renewable: true });
  const minted = vault.leases.get(held!.lease.id)!;
  expect(r.values.get("DB_USER")!.reveal()).toBe(minted.username);
});

test("a provider instance shared by two resolutions (the server) mints a lease for each; static reads stay cached", async () => {
  const provider = await createVaultProvider(ctx);
  const a = new LeaseSet();
  const b = new LeaseSet();
  const first = await provider.fetch({ name: "U", ref: "database/creds/ro", field: "username", signal: signal(), leases: a });
  const second = await provider.fetch({ name: "U", ref: "database/creds/ro", field: "username", signal: signal(), leases: b });
  expect(first.reveal()).not.toBe(second.reveal());
  expect(a.all()[0]!.lease.id).not.toBe(b.all()[0]!.lease.id);
  const before = vault.countRequests("/v1/secret/data/app/static");
  await provider.fetch({ name: "S", ref: "secret/data/app/static", field: "token", signal: signal(), leases: a });
  await provider.fetch({ name: "S", ref: "secret/data/app/static", field: "token", signal: signal(), leases: b });
  expect(vault.countRequests("/v1/secret/data/app/static") - before).toBe(1);
  expect(a.size).toBe(1); // a KV read is no lease
});

test("a field missing from a dynamic secret still reports its lease (it must be revoked)", async () => {
  const provider = await createVaultProvider(ctx);
  const sink = new LeaseSet();
  await expect(provider.fetch({ name: "X", ref: "database/creds/ro", field: "nope", signal: signal(), leases: sink })).rejects.toThrow(/no field "nope" \(fields: username, password\)/);
  expect(sink.size).toBe(1);
});

test("Lease.renew and Lease.revoke; renewLease/revokeLease by id with an AppRole login", async () => {
  vault.setLeaseDuration(60, { maxTtl: 100 });
  const provider = await createVaultProvider(ctx);
  const sink = new LeaseSet();
  await provider.fetch({ name: "P", ref: "database/creds/ro", field: "password", signal: signal(), leases: sink });
  const lease = sink.all()[0]!.lease;
  expect(await lease.renew(60)).toEqual({ durationSeconds: 60, renewable: true });
  const capped = await lease.renew(3600); // max TTL 100 s from issue
  expect(capped.durationSeconds).toBeLessThanOrEqual(100);
  expect(capped.durationSeconds).toBeGreaterThan(90);
  const renewals = vault.requests.filter((r) => r.path === "/v1/sys/leases/renew").slice(-2);
  expect(renewals.map((r) => [r.method, r.body])).toEqual([["PUT", { lease_id: lease.id, increment: 60 }], ["PUT", { lease_id: lease.id, increment: 3600 }]]);

  const approle: ProviderContext = { settings: { address: vault.url, auth: { method: "approle" } }, env: { VAULT_ROLE_ID: ROLE_ID, VAULT_SECRET_ID: SECRET_ID }, configDir: "/" };
  expect((await renewLease(approle, lease.id, 30)).durationSeconds).toBe(30);
  await revokeLease(approle, lease.id);
  expect(vault.leases.get(lease.id)!.revoked).toBe(true);
  const revoke = vault.requests.findLast((r) => r.path === "/v1/sys/leases/revoke")!;
  expect(revoke.method).toBe("PUT");
  expect(revoke.headers["x-vault-token"]).toStartWith("hvs.fake-issued-token");
  await expect(renewLease(approle, lease.id, 30)).rejects.toThrow("Vault would not renew it (Vault: lease not found or lease is not renewable)");
});

test("a refused revocation names the policy to fix, never the token", async () => {
  vault.failRevocations(403);
  try {
    const error = await revokeLease(ctx, "database/creds/ro/abc").catch((e: Error) => e);
    expect(String(error)).toContain(`permission denied — the token's policy needs "update" on sys/leases/revoke (Vault: permission denied)`);
    expect(String(error)).not.toContain(ROOT);
  } finally {
    vault.failRevocations(undefined);
  }
  expect(pathOfLease("aws/creds/deploy/xyz")).toBe("aws/creds/deploy");
});
