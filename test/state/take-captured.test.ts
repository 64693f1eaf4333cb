// takeCaptured: removes and returns a captured secret atomically — of many concurrent takes, on SQLite
// (two connections to one file, as two replicas) and on a real redis-server, exactly one gets it; an
// expired one is removed but not returned.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { RedisState } from "../../src/state/redis.ts";
import { SqliteState } from "../../src/state/sqlite.ts";
import type { CapturedSecret, ServerState } from "../../src/state/types.ts";
import { redisMissing, startRedis, type Redis } from "../servers/redis.ts";

let dir: string;
let redis: Redis | undefined;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "kz-take-"));
  if (!redisMissing()) redis = await startRedis();
});

afterAll(async () => {
  await redis?.cleanup();
  rmSync(dir, { recursive: true, force: true });
});

const secret = (name: string, expiresAt = Date.now() + 60_000): CapturedSecret => ({
  owner: '["https://idp.example.test","alice"]',
  name,
  sealed: "kzs1.sealed-form",
  hosts: ["api.example.test"],
  expiresAt,
  createdAt: Date.now(),
});

async function race(states: ServerState[]) {
  await states[0]!.putCaptured(secret("RACED"));
  const taken = await Promise.all(Array.from({ length: 20 }, (_, i) => states[i % states.length]!.takeCaptured(secret("RACED").owner, "RACED")));
  expect(taken.filter(Boolean)).toHaveLength(1);
  expect(taken.find(Boolean)).toMatchObject({ name: "RACED", sealed: "kzs1.sealed-form", hosts: ["api.example.test"] });
  expect(await states[0]!.listCaptured(secret("RACED").owner)).toEqual([]);

  await states[0]!.putCaptured(secret("OLD", Date.now() + 1000));
  expect(await states[1 % states.length]!.takeCaptured(secret("OLD").owner, "OLD", Date.now() + 2000)).toBeUndefined();
  expect(await states[0]!.getCaptured(secret("OLD").owner, "OLD", 0)).toBeUndefined();
}

describe("takeCaptured", () => {
  test("SQLite, two connections to one file", async () => {
    const path = join(dir, "state.db");
    const states = [new SqliteState(path), new SqliteState(path)];
    try {
      await race(states);
    } finally {
      await Promise.all(states.map((s) => s.close()));
    }
  });

  test.skipIf(redisMissing() !== undefined)("Redis, two clients", async () => {
    const states = [await RedisState.open(redis!.url), await RedisState.open(redis!.url)];
    try {
      await race(states);
    } finally {
      await Promise.all(states.map((s) => s.close()));
    }
  });
});
