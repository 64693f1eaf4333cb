// The share envelope: round trips, tamper detection, and a wrong key or passphrase named as such.
import { describe, expect, test } from "bun:test";
import { fromBase64url, inspectEnvelope, openShare, sealShare, ShareError, shareLink, toBase64url } from "../../src/share/envelope.ts";

const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array) => new TextDecoder().decode(b);

async function failure(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (error) {
    if (error instanceof ShareError) return error.code;
    throw error;
  }
  return "opened";
}

/** Flips one bit of the envelope's byte `index` (negative: from the end). */
function flip(ciphertext: string, index: number): string {
  const bytes = fromBase64url(ciphertext)!;
  const i = index < 0 ? bytes.length + index : index;
  bytes[i]! ^= 1;
  return toBase64url(bytes);
}

describe("envelope", () => {
  test("round trip without a passphrase; fresh key and iv each time; no plaintext inside", async () => {
    const value = enc("s3cr3t-value-✓");
    const a = await sealShare(value);
    const b = await sealShare(value);
    expect(a.key).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(a.key).not.toBe(b.key);
    expect(a.ciphertext).not.toBe(b.ciphertext);
    expect(dec(await openShare(a.ciphertext, a.key))).toBe("s3cr3t-value-✓");
    expect(inspectEnvelope(a.ciphertext)).toEqual({ version: 1, passphrase: false });
    expect(dec(fromBase64url(a.ciphertext)!)).not.toContain("s3cr3t");
  });

  test("empty and binary values survive", async () => {
    const empty = await sealShare(new Uint8Array(0));
    expect((await openShare(empty.ciphertext, empty.key)).length).toBe(0);
    const bytes = crypto.getRandomValues(new Uint8Array(70_000));
    const big = await sealShare(bytes);
    expect(Buffer.from(await openShare(big.ciphertext, big.key)).equals(Buffer.from(bytes))).toBe(true);
  });

  test("a flipped bit anywhere is detected", async () => {
    const s = await sealShare(enc("value"));
    // version, flags, key check, iv, ciphertext body, tag
    expect(await failure(openShare(flip(s.ciphertext, 0), s.key))).toBe("bad_envelope");
    expect(await failure(openShare(flip(s.ciphertext, 1), s.key))).toBe("bad_envelope");
    expect(await failure(openShare(flip(s.ciphertext, 5), s.key))).toBe("wrong_key");
    expect(await failure(openShare(flip(s.ciphertext, 20), s.key))).toBe("tampered");
    expect(await failure(openShare(flip(s.ciphertext, 31), s.key))).toBe("tampered");
    expect(await failure(openShare(flip(s.ciphertext, -1), s.key))).toBe("tampered");
    expect(await failure(openShare(s.ciphertext.slice(0, 30), s.key))).toBe("bad_envelope");
  });

  test("a wrong or cut-short key is told apart", async () => {
    const s = await sealShare(enc("value"));
    const other = await sealShare(enc("value"));
    expect(await failure(openShare(s.ciphertext, other.key))).toBe("wrong_key");
    expect(await failure(openShare(s.ciphertext, s.key.slice(0, 42)))).toBe("bad_key");
    expect(await failure(openShare(s.ciphertext, s.key + "A"))).toBe("bad_key");
    expect(await failure(openShare(s.ciphertext, ""))).toBe("bad_key");
    expect(await failure(openShare(s.ciphertext, s.key.replace(/^./, "+")))).toBe("bad_key");
  });

  test("passphrase: both factors needed, and a wrong passphrase is named as such", async () => {
    const s = await sealShare(enc("two-factor"), { passphrase: "correct horse" });
    expect(inspectEnvelope(s.ciphertext)).toEqual({ version: 1, passphrase: true });
    expect(dec(await openShare(s.ciphertext, s.key, "correct horse"))).toBe("two-factor");
    expect(await failure(openShare(s.ciphertext, s.key))).toBe("passphrase_required");
    expect(await failure(openShare(s.ciphertext, s.key, ""))).toBe("passphrase_required");
    expect(await failure(openShare(s.ciphertext, s.key, "correct horse!"))).toBe("wrong_passphrase");
    const other = await sealShare(enc("x"));
    expect(await failure(openShare(s.ciphertext, other.key, "correct horse"))).toBe("wrong_key");
    // Dropping the passphrase flag (a server trying to skip the second factor) breaks authentication.
    const bytes = fromBase64url(s.ciphertext)!;
    bytes[1] = 0;
    expect(await failure(openShare(toBase64url(bytes), s.key))).toBe("tampered");
  }, 20_000);

  test("the passphrase is compared after Unicode normalisation", async () => {
    const s = await sealShare(enc("v"), { passphrase: "caf\u00e9" });
    expect(dec(await openShare(s.ciphertext, s.key, "cafe\u0301"))).toBe("v");
  }, 20_000);

  test("an empty passphrase is refused when sealing", async () => {
    expect(await failure(sealShare(enc("v"), { passphrase: "" }))).toBe("passphrase_required");
  });

  test("shareLink puts the key only in the fragment", () => {
    expect(shareLink("https://kz.example.test/", "abc", "KEY")).toBe("https://kz.example.test/s/abc#KEY");
  });

  test("base64url is strict", () => {
    expect(fromBase64url("AA")).toEqual(new Uint8Array([0]));
    expect(fromBase64url("AB")).toBeUndefined(); // non-canonical trailing bits
    expect(fromBase64url("AA==")).toBeUndefined();
    expect(fromBase64url("A")).toBeUndefined();
    expect(fromBase64url("a+b/")).toBeUndefined();
  });
});
