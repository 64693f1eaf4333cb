// Captured secrets at rest: AES-256-GCM under the state key, a 32-byte key kept in its own file (64 hex
// characters, mode 0600; `state.key` beside the bundle unless `state.key_file` names another). The file is
// created on first start with an exclusive link, so replicas starting at once agree on one key; replicas
// must share it. seal/unseal are pure: a fresh 96-bit nonce per seal, and the caller's `aad` (e.g. the
// owner and name) is bound in, so a sealed value moved to another owner or name does not open.

import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto";
import { chmodSync, linkSync, mkdirSync, readFileSync, statSync, unlinkSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { ConfigError } from "../errors.ts";

export const STATE_KEY_BYTES = 32;
const PREFIX = "kzs1.";
const NONCE_BYTES = 12;
const TAG_BYTES = 16;

/** A sealed text that does not open under this key and aad (tampered, wrong key, or moved). */
export class SealError extends Error {
  constructor() {
    super("a sealed value could not be opened (wrong state key, or altered)");
    this.name = "SealError";
  }
}

/** The aad binding a captured secret's sealed value to its owner and name (so it cannot be moved). */
export function capturedAad(owner: string, name: string): string {
  return `kz captured\u0000${owner}\u0000${name}`;
}

function checkKey(key: Uint8Array): void {
  if (key.length !== STATE_KEY_BYTES) throw new TypeError(`the state key is ${STATE_KEY_BYTES} bytes`);
}

/** `kzs1.` + base64url(nonce ‖ ciphertext ‖ tag). */
export function seal(key: Uint8Array, plaintext: string, aad: string): string {
  checkKey(key);
  const nonce = randomBytes(NONCE_BYTES);
  const cipher = createCipheriv("aes-256-gcm", key, nonce);
  cipher.setAAD(Buffer.from(aad, "utf8"));
  const body = Buffer.concat([cipher.update(plaintext, "utf8"), cipher.final()]);
  return PREFIX + Buffer.concat([nonce, body, cipher.getAuthTag()]).toString("base64url");
}

/** The plain text of a sealed value; SealError when it does not open under `key` and `aad`. */
export function unseal(key: Uint8Array, sealed: string, aad: string): string {
  checkKey(key);
  if (typeof sealed !== "string" || !sealed.startsWith(PREFIX)) throw new SealError();
  const raw = Buffer.from(sealed.slice(PREFIX.length), "base64url");
  if (raw.length < NONCE_BYTES + TAG_BYTES) throw new SealError();
  try {
    const decipher = createDecipheriv("aes-256-gcm", key, raw.subarray(0, NONCE_BYTES));
    decipher.setAAD(Buffer.from(aad, "utf8"));
    decipher.setAuthTag(raw.subarray(raw.length - TAG_BYTES));
    return Buffer.concat([decipher.update(raw.subarray(NONCE_BYTES, raw.length - TAG_BYTES)), decipher.final()]).toString("utf8");
  } catch {
    throw new SealError();
  }
}

function errno(error: unknown): string {
  const code = (error as NodeJS.ErrnoException).code;
  return code === "ENOENT" ? "it does not exist" : code === "EACCES" ? "permission denied" : code === "EISDIR" ? "it is a directory" : (code ?? "error");
}

/** Reads the state key file; a one-line ConfigError naming the file (never its content) when unusable. */
export function readStateKey(path: string): Buffer {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (error) {
    throw new ConfigError(`cannot read state key ${path} (${errno(error)})`);
  }
  const hex = text.trim();
  if (!/^[0-9a-fA-F]{64}$/.test(hex)) throw new ConfigError(`state key ${path} must be 32 bytes written as 64 hex characters`);
  const mode = statSync(path).mode & 0o777;
  if (mode & 0o077) throw new ConfigError(`state key ${path} is readable by other users (mode ${mode.toString(8)}) — run: chmod 600 ${path}`);
  return Buffer.from(hex, "hex");
}

/** Reads the state key file, creating it (0600) with a fresh random key when absent. */
export function loadOrCreateStateKey(path: string): Buffer {
  try {
    statSync(path);
    return readStateKey(path);
  } catch (error) {
    if (error instanceof ConfigError) throw error;
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw new ConfigError(`cannot read state key ${path} (${errno(error)})`);
  }
  try {
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    const tmp = `${path}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`;
    writeFileSync(tmp, `${randomBytes(STATE_KEY_BYTES).toString("hex")}\n`, { mode: 0o600 });
    chmodSync(tmp, 0o600);
    try {
      linkSync(tmp, path); // fails if another process created the key first: then its key is the one
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
    } finally {
      unlinkSync(tmp);
    }
  } catch (error) {
    throw new ConfigError(`cannot create state key ${path} (${errno(error)})`);
  }
  return readStateKey(path);
}
