// The Redis backend against a real redis-server (started here, on a free loopback port, no persistence):
// the shared contract, plus what is Redis's own — TTLs set on every key so Redis expires them itself, a
// consumed share's ciphertext gone at once, Redis down → StateUnavailableError (and back again), and a
// password in the URL never in an error.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { TOMBSTONE_MS } from "../../src/state/common.ts";
import { openState } from "../../src/state/open.ts";
import { RedisState } from "../../src/state/redis.ts";
import { StateUnavailableError, type ServerState } from "../../src/state/types.ts";
import { redisMissing, startRedis, type Redis } from "../servers/redis.ts";
import { PLAIN_CAPTURED, share, stateContract } from "./contract.ts";

const missing = redisMissing();
if (missing) console.warn(`skipping: ${missing}`);
const suite = missing ? describe.skip : describe;

let redis: Redis;
beforeAll(async () => {
  if (!missing) redis = await startRedis();
});
afterAll(async () => {
  if (!missing) {
    expect(redis.dump()).not.toContain(PLAIN_CAPTURED);
    await redis.cleanup();
  }
});

if (!missing) {
  stateContract("redis", () => ({
    open: () => openState({ kind: "redis", url: redis.url, keyFile: "/nonexistent/state.key" }),
    raw: async () => redis.dump(),
  }));
}

suite("redis backend", () => {
  let state: ServerState;
  beforeAll(async () => {
    state = await openState({ kind: "redis", url: redis.url, keyFile: "/unused" });
  });
  afterAll(async () => {
    await state.close();
  });

  const pttl = (key: string) => Number(redis.cli("PTTL", key).trim());

  test("every key carries a TTL: shares and tombstones, captured secrets, revocations", async () => {
    const now = Date.now();
    const s = share({ expiresAt: now + 600_000 });
    await state.putShare(s);
    expect(pttl(`kz:share:{${s.id}}`)).toBeGreaterThan(590_000);
    expect(pttl(`kz:share:{${s.id}}`)).toBeLessThanOrEqual(600_000);
    expect(pttl(`kz:tomb:{${s.id}}`)).toBeGreaterThan(TOMBSTONE_MS); // "expired" outlives the share itself
    await state.openShare(s.id);
    expect(redis.cli("EXISTS", `kz:share:{${s.id}}`).trim()).toBe("0");
    expect(redis.dump()).not.toContain(s.ciphertext); // consumed: the ciphertext is gone at once
    expect(redis.cli("GET", `kz:tomb:{${s.id}}`).trim()).toBe("consumed");
    expect(pttl(`kz:tomb:{${s.id}}`)).toBeLessThanOrEqual(TOMBSTONE_MS);

    await state.putCaptured({ owner: "ttl-owner", name: "N", sealed: "kzs1.abc", hosts: [], expiresAt: now + 120_000, createdAt: now });
    const capKeys = redis.cli("--scan", "--pattern", "kz:cap*").split("\n").filter(Boolean);
    expect(capKeys.length).toBeGreaterThanOrEqual(2);
    for (const key of capKeys) expect(pttl(key)).toBeGreaterThan(0);

    await state.revoke("ttl-jti", Math.floor(now / 1000) + 60);
    expect(pttl("kz:rev:ttl-jti")).toBeGreaterThan(60_000); // exp + the 300 s grace
    expect(pttl("kz:rev:ttl-jti")).toBeLessThanOrEqual(361_000);
  });

  test("Redis down: every operation is StateUnavailableError; back up: it works again", async () => {
    const s = share();
    await state.putShare(s);
    await redis.stop();
    const ops: Promise<unknown>[] = [
      state.openShare(s.id),
      state.peekShare(s.id),
      state.putShare(share()),
      (async () => state.isRevoked("x"))(),
      (async () => state.revoke("x", Math.floor(Date.now() / 1000) + 60))(),
      state.getCaptured("o", "n"),
      state.listCaptured("o"),
      state.takeLeasesHeldBy("x"),
    ];
    const settled = await Promise.allSettled(ops);
    for (const r of settled) expect(r.status === "rejected" && r.reason instanceof StateUnavailableError).toBe(true);
    await redis.start();
    // The data went with the process (no persistence); the client reconnects by itself.
    expect(await state.peekShare(s.id)).toEqual({ status: "unknown" });
    await state.putShare(s);
    expect(await state.openShare(s.id)).toMatchObject({ status: "opened" });
  });

  test("a server that is not running at start: open() still returns, and each call is StateUnavailableError", async () => {
    const lines: string[] = [];
    const down = await RedisState.open("redis://:pa55-word@127.0.0.1:1", { log: (l) => lines.push(l) });
    expect(lines.join("\n")).toMatch(/state: redis at redis:\/\/127\.0\.0\.1:1 is unreachable/);
    expect(lines.join("\n")).not.toContain("pa55");
    const error = await down.isRevoked("x").catch((e: Error) => e);
    expect(error).toBeInstanceOf(StateUnavailableError);
    expect(String((error as Error).message)).not.toContain("pa55");
    await down.close();
  });
});

suite("redis with a password", () => {
  let locked: Redis;
  beforeAll(async () => {
    locked = await startRedis({ password: "s3cret-redis-pw" });
  });
  afterAll(async () => {
    await locked.cleanup();
  });

  test("the right password works; a wrong one is StateUnavailableError that never shows either", async () => {
    const good = await openState({ kind: "redis", url: locked.url, keyFile: "/unused" });
    await good.revoke("pw-jti", Math.floor(Date.now() / 1000) + 60);
    expect(await good.isRevoked("pw-jti")).toBe(true);
    await good.close();

    const lines: string[] = [];
    const bad = await RedisState.open(locked.url.replace("s3cret-redis-pw", "wrong-pw-guess"), { log: (l) => lines.push(l) });
    const error = await bad.isRevoked("pw-jti").catch((e: Error) => e);
    expect(error).toBeInstanceOf(StateUnavailableError);
    const shown = `${lines.join("\n")}\n${(error as Error).message}`;
    expect(shown).not.toContain("wrong-pw-guess");
    expect(shown).not.toContain("s3cret");
    await bad.close();
  });

  test("a URL that is not redis:// is refused in one line without the password", () => {
    expect(() => RedisState.open("http://:s3cret@127.0.0.1:6379")).toThrow(/^state\.redis http:\/\/127\.0\.0\.1:6379: expected a redis:\/\/ or rediss:\/\/ URL$/);
  });
});
