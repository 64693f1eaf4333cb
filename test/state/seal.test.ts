// Captured values at rest: AES-256-GCM under the state key. The sealed text never holds the value (nor
// its base64 or hex); it opens only under the same key and aad; any change is caught. The key file is
// created 0600 on first use, and a file that cannot be used stops the server with one line.

import { afterAll, describe, expect, test } from "bun:test";
import { randomBytes } from "node:crypto";
import { chmodSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ConfigError } from "../../src/errors.ts";
import { loadOrCreateStateKey, readStateKey, seal, SealError, unseal } from "../../src/state/seal.ts";

const dir = mkdtempSync(join(tmpdir(), "kz-seal-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const VALUE = "ghp_plainCapturedValue0123456789";

describe("seal", () => {
  const key = randomBytes(32);

  test("round-trips, and the sealed text holds no form of the value", () => {
    const sealed = seal(key, VALUE, "owner\u0000NAME");
    expect(unseal(key, sealed, "owner\u0000NAME")).toBe(VALUE);
    for (const form of [VALUE, Buffer.from(VALUE).toString("base64"), Buffer.from(VALUE).toString("base64url"), Buffer.from(VALUE).toString("hex")]) {
      expect(sealed).not.toContain(form);
    }
    expect(seal(key, VALUE, "a")).not.toBe(seal(key, VALUE, "a")); // a fresh nonce each time
  });

  test("opens only under the same key and aad; any altered character is refused", () => {
    const sealed = seal(key, VALUE, "alice\u0000TOKEN");
    expect(() => unseal(randomBytes(32), sealed, "alice\u0000TOKEN")).toThrow(SealError);
    expect(() => unseal(key, sealed, "mallory\u0000TOKEN")).toThrow(SealError); // moved to another owner
    for (const i of [6, Math.floor(sealed.length / 2), sealed.length - 2]) {
      const flipped = sealed.slice(0, i) + (sealed[i] === "A" ? "B" : "A") + sealed.slice(i + 1);
      expect(() => unseal(key, flipped, "alice\u0000TOKEN")).toThrow(SealError);
    }
    expect(() => unseal(key, "kzs1.", "x")).toThrow(SealError);
    expect(() => unseal(key, VALUE, "x")).toThrow(SealError);
    try {
      unseal(randomBytes(32), sealed, "alice\u0000TOKEN");
    } catch (error) {
      expect(String((error as Error).message)).not.toContain(VALUE);
    }
  });

  test("a key of the wrong size is refused", () => {
    expect(() => seal(randomBytes(16), VALUE, "")).toThrow(TypeError);
  });
});

describe("the state key file", () => {
  test("is created 0600 with 32 random bytes on first use, then read back the same", () => {
    const path = join(dir, "sub", "state.key");
    const key = loadOrCreateStateKey(path);
    expect(key).toHaveLength(32);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(loadOrCreateStateKey(path).equals(key)).toBe(true);
  });

  test("a file that cannot be used stops with one line naming it, never its content", () => {
    const junk = join(dir, "junk.key");
    writeFileSync(junk, "not-a-key-but-maybe-a-secret\n", { mode: 0o600 });
    expect(() => loadOrCreateStateKey(junk)).toThrow(ConfigError);
    expect(() => loadOrCreateStateKey(junk)).toThrow(/^state key .*junk\.key must be 32 bytes written as 64 hex characters$/);
    expect(() => loadOrCreateStateKey(junk)).not.toThrow(/maybe-a-secret/);

    const wide = join(dir, "wide.key");
    writeFileSync(wide, `${randomBytes(32).toString("hex")}\n`);
    chmodSync(wide, 0o644);
    expect(() => readStateKey(wide)).toThrow(/is readable by other users \(mode 644\) — run: chmod 600/);

    expect(() => loadOrCreateStateKey(dir)).toThrow(/^cannot read state key .* \(it is a directory\)$/);
  });
});
