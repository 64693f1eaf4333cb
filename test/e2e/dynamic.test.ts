// Vault dynamic secrets through the compiled kz: one read (one lease) per run however many fields it
// feeds; renewal of a short lease while the run lasts, and one warning when its max TTL is reached;
// revocation when the run ends — exit 0, non-zero, SIGTERM, ^C (on a pty and as a process-group SIGINT),
// after a later secret failed, in blind mode; a refused revocation is one warning line plus an audit
// record, and the exit status stays the child's; kz status shows the lease without keeping it.
// Nothing here waits on a timer: a child that must outlive a renewal polls the test Vault's request count.

import { afterAll, beforeAll, beforeEach, describe, expect, test } from "bun:test";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { KZ, Sandbox } from "../helpers/kz.ts";
import { PtySession } from "../helpers/pty.ts";
import { startVaultServer, type VaultLease, type VaultServer } from "../servers/vault.ts";

const ROOT = "fake-vault-root-dynamic-7f3a";
const CREDS = "/v1/database/creds/readonly";
const ROLE_ID = "fake-role-id-dynamic-1";
const SECRET_ID = "fake-secret-id-dynamic-2";
let vault: VaultServer;
let box: Sandbox;

beforeAll(() => {
  vault = startVaultServer({ rootToken: ROOT, logins: [{ method: "approle", roleId: ROLE_ID, secretId: SECRET_ID }] });
  vault.writeSecret("secret/app/static", { token: "fake-static-token-5e1d" });
  box = new Sandbox({ VAULT_TOKEN: ROOT, TEST_VAULT: "" });
  box.env.TEST_VAULT = vault.url;
  box.write(
    ".keyzero.toml",
    `[providers.vault]
address = "${vault.url}"

[secrets]
DB_USER = { provider = "vault", ref = "database/creds/readonly", field = "username", hosts = ["db.example.test"] }
DB_PASS = { provider = "vault", ref = "database/creds/readonly", field = "password", hosts = ["db.example.test"] }
`,
  );
  box.write(
    "approle.toml",
    `[providers.vault]
address = "${vault.url}"
auth = { method = "approle" }

[secrets]
DB_PASS = { provider = "vault", ref = "database/creds/approle-ro", field = "password" }
`,
  );
  box.write(
    "slow.toml",
    `[providers.vault]
address = "${vault.url}"

[secrets]
DB_USER = { provider = "vault", ref = "database/creds/slowrun", field = "username" }
STATIC = { provider = "vault", ref = "secret/data/app/static", field = "token" }
`,
  );
  box.write(
    "failing.toml",
    `[providers.vault]
address = "${vault.url}"

[secrets]
DB_USER = { provider = "vault", ref = "database/creds/readonly", field = "username" }
DB_PASS = { provider = "vault", ref = "database/creds/readonly", field = "password" }
GONE = { provider = "vault", ref = "secret/data/app/missing", field = "token" }
`,
  );
});

afterAll(() => {
  vault?.stop();
  box?.cleanup();
});

beforeEach(() => {
  vault.setLeaseDuration(3600);
  vault.setLoginTtl(2764800);
  vault.failRevocations(undefined);
});

/** The leases minted while `work` ran. */
async function minted<T>(work: () => Promise<T>): Promise<{ result: T; leases: VaultLease[] }> {
  const before = new Set(vault.leases.keys());
  const result = await work();
  return { result, leases: [...vault.leases.values()].filter((l) => !before.has(l.id)) };
}

/** Waits for kz's child to print `text` on stdout. */
async function readUntil(stream: ReadableStream<Uint8Array>, text: string): Promise<void> {
  const decoder = new TextDecoder();
  let seen = "";
  for await (const chunk of stream) {
    seen += decoder.decode(chunk);
    if (seen.includes(text)) return;
  }
  throw new Error(`stream ended before "${text}"`);
}

/** A child that ends once the test Vault has seen one more renewal than now (it polls; kz renews on its own time). */
const waitForRenewal = () =>
  `until [ "$(curl -s "$TEST_VAULT/_test/count?path=/v1/sys/leases/renew")" -gt ${vault.countRequests("/v1/sys/leases/renew")} ]; do sleep 0.05; done`;

describe("one lease per run", () => {
  test("two fields of one dynamic path: one read, the child gets that lease's credential, revoked on exit 0", async () => {
    const out = join(box.dir, "creds.txt");
    const before = vault.countRequests(CREDS);
    const { result, leases } = await minted(() => box.kz(["run", "--", "sh", "-c", `printf '%s %s' "$DB_USER" "$DB_PASS" > ${out}`]));
    expect(result.code).toBe(0);
    expect(vault.countRequests(CREDS) - before).toBe(1);
    expect(leases).toHaveLength(1);
    expect(readFileSync(out, "utf8")).toStartWith(`${leases[0]!.username} dyn-pass-`);
    expect(leases[0]!.revoked).toBe(true);
    expect(result.stderr).toBe("");
    const revoke = vault.requests.findLast((r) => r.path === "/v1/sys/leases/revoke")!;
    expect(revoke).toMatchObject({ method: "PUT", body: { lease_id: leases[0]!.id } });
  });

  test("each run gets its own lease", async () => {
    const { leases } = await minted(async () => {
      await box.kz(["run", "--", "true"]);
      await box.kz(["run", "--", "true"]);
    });
    expect(leases).toHaveLength(2);
    expect(leases.every((l) => l.revoked)).toBe(true);
  });
});

describe("revoked however the run ends", () => {
  test("non-zero exit: the status passes through, the lease is revoked", async () => {
    const { result, leases } = await minted(() => box.kz(["run", "--", "sh", "-c", "exit 3"]));
    expect(result.code).toBe(3);
    expect(leases.map((l) => l.revoked)).toEqual([true]);
  });

  test("SIGTERM to kz: forwarded, the child dies, the lease is revoked", async () => {
    const { result, leases } = await minted(async () => {
      const proc = Bun.spawn([KZ, "run", "--", "sh", "-c", "echo ready; while :; do sleep 0.1; done"], { cwd: box.dir, env: box.env, stdout: "pipe", stderr: "pipe", stdin: "ignore" });
      await readUntil(proc.stdout, "ready");
      expect(vault.leases.size).toBeGreaterThan(0);
      proc.kill("SIGTERM");
      return proc.exited;
    });
    expect(result).toBe(143);
    expect(leases.map((l) => l.revoked)).toEqual([true]);
  });

  test("^C on a terminal: the lease is revoked", async () => {
    const { result, leases } = await minted(async () => {
      const session = new PtySession(["run", "--", "sh", "-c", "echo ready; while :; do sleep 0.1; done"], { cwd: box.dir, env: box.env });
      await session.waitFor("ready");
      session.type("\x03");
      return session.exit();
    });
    expect(result).toBe(130);
    expect(leases.map((l) => l.revoked)).toEqual([true]);
  });

  test("SIGINT to kz's process group (kz and the child both get it): the lease is revoked", async () => {
    const { result, leases } = await minted(async () => {
      const proc = Bun.spawn([KZ, "run", "--", "sh", "-c", "echo ready; while :; do sleep 0.1; done"], {
        cwd: box.dir,
        env: box.env,
        stdout: "pipe",
        stderr: "pipe",
        stdin: "ignore",
        detached: true, // its own process group, as a shell job is
      });
      await readUntil(proc.stdout, "ready");
      process.kill(-proc.pid, "SIGINT");
      return proc.exited;
    });
    expect(result).toBe(130);
    expect(leases.map((l) => l.revoked)).toEqual([true]);
  });

  test("a later secret fails: nothing starts, the lease already obtained is revoked", async () => {
    const marker = join(box.dir, "started");
    const { result, leases } = await minted(() => box.kz(["run", "--config", "failing.toml", "--", "touch", marker]));
    expect(result.code).toBe(4);
    expect(result.stderr).toContain("GONE (vault secret/data/app/missing#token)");
    expect(existsSync(marker)).toBe(false);
    expect(leases).toHaveLength(1);
    expect(leases[0]!.revoked).toBe(true);
  });

  for (const [signal, status] of [["SIGTERM", 143], ["SIGINT", 130]] as const) {
    test(`${signal} while kz is still resolving: it finishes, revokes the lease already taken, starts nothing`, async () => {
      const marker = join(box.dir, `started-${signal}`);
      const slow = vault.holdRequests("/v1/secret/data/app/static");
      const { result, leases } = await minted(async () => {
        const proc = Bun.spawn([KZ, "run", "--config", "slow.toml", "--", "touch", marker], { cwd: box.dir, env: box.env, stdout: "pipe", stderr: "pipe", stdin: "ignore" });
        await slow.arrived;
        while (![...vault.leases.values()].some((l) => l.path === "database/creds/slowrun")) await new Promise((r) => setImmediate(r));
        proc.kill(signal);
        await readUntil(proc.stderr, `${signal}: stopping once the secrets being read are in`);
        slow.release(); // the read completes only now: kz must still be there to revoke
        return proc.exited;
      });
      expect(result).toBe(status);
      expect(existsSync(marker)).toBe(false);
      expect(leases.map((l) => l.revoked)).toEqual([true]);
    });
  }

  test("the command cannot start (kz's own failure after resolution): the lease is revoked", async () => {
    const { result, leases } = await minted(() => box.kz(["run", "--", "/nonexistent/cmd"]));
    expect(result.code).toBe(127);
    expect(leases.map((l) => l.revoked)).toEqual([true]);
  });

  test("blind mode: the child holds tokens, the lease is revoked when it ends", async () => {
    expect((await box.kz(["allow"])).code).toBe(0);
    const { result, leases } = await minted(() => box.kz(["run", "--blind", "--no-masking", "--", "sh", "-c", 'echo "$DB_USER $DB_PASS"; exit 6']));
    expect(result.code).toBe(6);
    expect(result.stdout).toMatch(/^KZ_TOK_\S+ KZ_TOK_\S+\n$/);
    expect(leases).toHaveLength(1);
    expect(result.stdout).not.toContain(leases[0]!.username);
    expect(leases[0]!.revoked).toBe(true);
  });

  test("a refused revocation: one warning line and an audit record; the exit status stays the child's", async () => {
    vault.failRevocations(403);
    const { result, leases } = await minted(() => box.kz(["run", "--", "sh", "-c", "exit 5"]));
    expect(result.code).toBe(5);
    const lease = leases[0]!;
    expect(lease.revoked).toBe(false);
    const lines = result.stderr.trimEnd().split("\n");
    expect(lines).toHaveLength(1);
    expect(lines[0]).toBe(
      `kz: warning: could not revoke the vault lease on database/creds/readonly (DB_PASS, DB_USER): permission denied — the token's policy needs "update" on sys/leases/revoke (Vault: permission denied); it ends by itself when its TTL runs out`,
    );
    expect(result.stderr).not.toContain(lease.id);
    expect(result.stderr).not.toContain(lease.username);
    expect(result.stderr).not.toContain(ROOT);
    const audit = readFileSync(join(box.dir, "state", "keyzero", "audit.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l));
    const record = audit.findLast((r) => r.event === "lease.revoke_failed");
    expect(record).toMatchObject({ provider: "vault", path: "database/creds/readonly", lease_id: lease.id, secrets: ["DB_USER", "DB_PASS"].sort() });
    expect(JSON.stringify(audit)).not.toContain("dyn-pass-");
    const verify = await box.kz(["audit", "verify", join(box.dir, "state", "keyzero", "audit.jsonl")]);
    expect(verify.code).toBe(0);
  });
});

describe("renewal", () => {
  test("a lease shorter than the run is renewed (asking for its duration again), then revoked", async () => {
    vault.setLeaseDuration(2, { maxTtl: 600 });
    const { result, leases } = await minted(() => box.kz(["run", "--", "sh", "-c", waitForRenewal()]));
    expect(result.code).toBe(0);
    expect(result.stderr).toBe("");
    const lease = leases[0]!;
    expect(lease.renewals[0]).toBe(2);
    expect(vault.requests.find((r) => r.path === "/v1/sys/leases/renew" && r.body?.lease_id === lease.id)?.body).toEqual({ lease_id: lease.id, increment: 2 });
    expect(lease.revoked).toBe(true);
  }, 15_000);

  test("Vault grants less than asked (max TTL): one warning line before it ends", async () => {
    vault.setLeaseDuration(3, { maxTtl: 4 });
    const { result, leases } = await minted(() => box.kz(["run", "--", "sh", "-c", waitForRenewal()]));
    expect(result.code).toBe(0);
    const lines = result.stderr.trimEnd().split("\n");
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^kz: warning: the vault lease on database\/creds\/readonly \(DB_PASS, DB_USER\) reached its max TTL and ends in \ds; the run goes on without it then$/);
    expect(leases[0]!.renewals).toHaveLength(1);
    expect(leases[0]!.revoked).toBe(true);
  }, 15_000);

  test("a long lease is not renewed during a short run, and kz exits as soon as the child does", async () => {
    const renewalsBefore = vault.countRequests("/v1/sys/leases/renew");
    const started = performance.now();
    const { result, leases } = await minted(() => box.kz(["run", "--", "true"]));
    expect(result.code).toBe(0);
    expect(performance.now() - started).toBeLessThan(3_000); // a timer that held kz would hold it for 40 min
    expect(vault.countRequests("/v1/sys/leases/renew")).toBe(renewalsBefore);
    expect(leases[0]!.revoked).toBe(true);
  });
});

describe("a login token shorter than the lease (Vault ends a lease with the token that made it)", () => {
  test("kz renews its AppRole token with the lease, so the credential outlives the token's first TTL", async () => {
    vault.setLoginTtl(2, 600);
    const renewSelf = "/v1/auth/token/renew-self";
    const twice = vault.countRequests(renewSelf) + 1;
    // Past two token renewals the token's first 2 s are over; the child then asks whether its lease holds.
    const child = `until [ "$(curl -s "$TEST_VAULT/_test/count?path=${renewSelf}")" -gt ${twice} ]; do sleep 0.05; done; curl -s "$TEST_VAULT/_test/alive?path=database/creds/approle-ro"`;
    const { result, leases } = await minted(() =>
      box.kz(["run", "--config", "approle.toml", "--", "sh", "-c", child], { env: { VAULT_ROLE_ID: ROLE_ID, VAULT_SECRET_ID: SECRET_ID } }),
    );
    expect(result.stderr).toBe("");
    expect(result.stdout).toBe("1");
    expect(result.code).toBe(0);
    expect(vault.requests.findLast((r) => r.path === renewSelf)?.body).toEqual({ increment: 2 });
    expect(leases[0]!.renewals.length).toBeGreaterThanOrEqual(2);
    expect(leases[0]!.revoked).toBe(true);
  }, 20_000);
});

describe("kz status, validate, export", () => {
  test("shows a dynamic secret with its TTL and keeps no lease", async () => {
    const { result, leases } = await minted(() => box.kz(["status"]));
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/DB_USER\s+vault\s+database\/creds\/readonly#username\s+ok \(dynamic, ttl 1h, renewable\)/);
    expect(leases).toHaveLength(1);
    expect(leases[0]!.revoked).toBe(true);
    expect(result.stdout).not.toContain(leases[0]!.username);
  });

  test("kz validate resolves it to prove it can, and revokes the lease at once", async () => {
    const { result, leases } = await minted(() => box.kz(["validate"]));
    expect(result.code).toBe(0);
    expect(leases).toHaveLength(1);
    expect(leases[0]!.revoked).toBe(true);
  });

  test("kz export prints the credential and leaves its lease to its TTL, saying so", async () => {
    const { result, leases } = await minted(() => box.kz(["export", "--only", "DB_USER,DB_PASS"]));
    expect(result.code).toBe(0);
    expect(result.stdout).toContain(`DB_USER='${leases[0]!.username}'`);
    expect(result.stderr).toContain("DB_USER, DB_PASS: dynamic (vault lease on database/creds/readonly); kz leaves the lease to end by itself in 3600s");
    expect(leases[0]!.revoked).toBe(false);
  });

  test("--json: dynamic {ttl_seconds, renewable}, no value", async () => {
    vault.setLeaseDuration(900, { renewable: false });
    const { result, leases } = await minted(() => box.kz(["status", "--json"]));
    const doc = JSON.parse(result.stdout);
    expect(doc.secrets.map((s: { name: string; dynamic: unknown }) => [s.name, s.dynamic])).toEqual([
      ["DB_USER", { ttl_seconds: 900, renewable: false }],
      ["DB_PASS", { ttl_seconds: 900, renewable: false }],
    ]);
    expect(leases[0]!.revoked).toBe(true);
    expect(result.stdout).not.toContain(leases[0]!.username);
  });
});
