// The SQLite backend: the shared contract on a temp file, plus what is SQLite's own — the file's mode,
// opens racing from several processes on one file, the sweep (expired shares become tombstones, old
// tombstones and revocations go, deleted ciphertext leaves the file), and a broken file as one line.

import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { TOMBSTONE_MS } from "../../src/state/common.ts";
import { SqliteState } from "../../src/state/sqlite.ts";
import { openState } from "../../src/state/open.ts";
import { StateUnavailableError } from "../../src/state/types.ts";
import { stateContract, share, PLAIN_CAPTURED } from "./contract.ts";

const dir = mkdtempSync(join(tmpdir(), "kz-state-sqlite-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function rawFile(path: string): string {
  return [path, `${path}-wal`].filter(existsSync).map((p) => readFileSync(p).toString("latin1")).join("");
}

const contractPath = join(dir, "contract.db");
stateContract("sqlite", () => ({
  open: () => openState({ kind: "sqlite", path: contractPath, keyFile: join(dir, "state.key") }),
  raw: async () => rawFile(contractPath),
}));

describe("sqlite backend", () => {
  test("the file (and its WAL) is created 0600, in WAL mode", async () => {
    const path = join(dir, "mode.db");
    const state = new SqliteState(path);
    await state.putShare(share());
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(statSync(`${path}-wal`).mode & 0o777).toBe(0o600);
    await state.close();
  });

  test("an existing file readable by others is narrowed to 0600", async () => {
    const path = join(dir, "wide.db");
    writeFileSync(path, "", { mode: 0o644 });
    const state = new SqliteState(path);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    await state.close();
  });

  test("a share opened from several processes on one file: n views open exactly n times (1, 2, 3; 4 processes × 10 opens)", async () => {
    const path = join(dir, "race.db");
    const state = new SqliteState(path);
    for (const views of [1, 2, 3]) {
      const s = share({ views });
      await state.putShare(s);
      const children = Array.from({ length: 4 }, () =>
        Bun.spawn([process.execPath, join(import.meta.dir, "fixtures/open-share.ts"), path, s.id, "10"], { stdin: "pipe", stdout: "pipe", stderr: "inherit" }),
      );
      const readers = children.map((c) => c.stdout.getReader());
      const decoder = new TextDecoder();
      const readLine = async (reader: (typeof readers)[number]) => {
        let text = "";
        while (!text.includes("\n")) {
          const { value, done } = await reader.read();
          if (done) break;
          text += decoder.decode(value);
        }
        return text;
      };
      const ready = await Promise.all(readers.map(readLine));
      expect(ready.every((l) => l.startsWith("ready"))).toBe(true);
      for (const c of children) {
        c.stdin.write("go\n");
        c.stdin.end();
      }
      const outputs = await Promise.all(
        readers.map(async (r) => {
          let text = "";
          for (;;) {
            const { value, done } = await r.read();
            if (done) return text;
            text += decoder.decode(value);
          }
        }),
      );
      expect(await Promise.all(children.map((c) => c.exited))).toEqual([0, 0, 0, 0]);
      const statuses = outputs.flatMap((o) => JSON.parse(o.trim()) as string[]);
      expect(statuses).toHaveLength(40);
      expect(statuses.filter((x) => x === "opened")).toHaveLength(views);
      expect(statuses.filter((x) => x === "consumed")).toHaveLength(40 - views);
    }
    await state.close();
  });

  test("sweep: expired shares become tombstones, old tombstones, captured secrets and revocations go", async () => {
    let clock = Date.now();
    const path = join(dir, "sweep.db");
    const state = new SqliteState(path, { now: () => clock });
    const expiring = share({ expiresAt: clock + 1_000 });
    const consumed = share();
    await state.putShare(expiring);
    await state.putShare(consumed);
    await state.openShare(consumed.id);
    expect(rawFile(path).includes(consumed.ciphertext)).toBe(false); // the last view folds the WAL: gone from disk at once
    expect(rawFile(path).includes(expiring.ciphertext)).toBe(true);
    await state.putCaptured({ owner: "o", name: "N", sealed: "kzs1.x", hosts: [], expiresAt: clock + 1_000, createdAt: clock });
    await state.revoke("jti-1", Math.floor(clock / 1000) + 1);
    expect(await state.isRevoked("jti-1")).toBe(true);

    clock += 2_000;
    await state.sweep();
    expect(await state.peekShare(expiring.id)).toEqual({ status: "expired" });
    expect(await state.peekShare(consumed.id)).toEqual({ status: "consumed" });
    const raw = rawFile(path);
    expect(raw.includes(expiring.ciphertext)).toBe(false); // secure_delete + a truncated WAL: the bytes are gone
    expect(raw.includes("kzs1.x")).toBe(false);
    expect(await state.isRevoked("jti-1")).toBe(true); // exp + grace not yet passed

    clock += TOMBSTONE_MS;
    expect(await state.isRevoked("jti-1")).toBe(false);
    await state.sweep();
    expect(await state.peekShare(expiring.id)).toEqual({ status: "unknown" });
    expect(await state.openShare(consumed.id)).toEqual({ status: "unknown" });
    await state.close();
  });

  test("a file that is not a database stops the server with one line", () => {
    const path = join(dir, "junk.db");
    writeFileSync(path, "this is not sqlite ".repeat(100), { mode: 0o600 });
    expect(() => new SqliteState(path)).toThrow(/^state file .*junk\.db: not a usable SQLite database/);
    expect(() => new SqliteState(join(dir, "no/such/dir/state.db"))).toThrow(/its directory does not exist/);
  });

  test("a failing database answers StateUnavailableError", async () => {
    const state = new SqliteState(join(dir, "closed.db"));
    await state.close();
    await expect(state.openShare("x")).rejects.toThrow(/server state \(sqlite\) failed/);
    expect(() => state.isRevoked("x")).toThrow(StateUnavailableError); // synchronous: the verifier's hot path
  });

  test("no plain captured value in any file of the test", () => {
    for (const name of ["contract.db", "sweep.db"]) expect(rawFile(join(dir, name))).not.toContain(PLAIN_CAPTURED);
  });
});
