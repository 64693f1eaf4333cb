// The audit chain's key: 32 random bytes, kept where the audited process cannot read them, so that no one
// who can only write the log can re-chain it after removing or editing records. A key file holds the
// bytes as 64 hex characters (0600); it is created on first use with an exclusive link, so two runs
// starting at once agree on one key. `kz run` keeps its key at $XDG_CONFIG_HOME/keyzero/audit.key (beside
// the local store's key, a directory the blind sandbox hides); `kz server` keeps one beside its audit log
// unless the bundle's audit.key_file names another.

import { createHmac, randomBytes } from "node:crypto";
import { chmodSync, linkSync, mkdirSync, readFileSync, statSync, unlinkSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { dirname, join } from "node:path";
import { ConfigError } from "../errors.ts";

export const AUDIT_KEY_BYTES = 32;

/** An HMAC-SHA256 key for the audit chain, with a short public id (so a wrong key is named as such). */
export class AuditKey {
  readonly #bytes: Buffer;
  /** 8 hex characters derived from the key (an HMAC of a constant): names the key, reveals nothing of it. */
  readonly id: string;

  constructor(bytes: Uint8Array) {
    if (bytes.length !== AUDIT_KEY_BYTES) throw new TypeError(`an audit key is ${AUDIT_KEY_BYTES} bytes`);
    this.#bytes = Buffer.from(bytes);
    this.id = this.mac("kz audit key id").slice(0, 8);
  }

  /** HMAC-SHA256 of `text` under this key, in hex. */
  mac(text: string): string {
    return createHmac("sha256", this.#bytes).update(text).digest("hex");
  }
}

/** `$XDG_CONFIG_HOME/keyzero/audit.key` (default ~/.config/keyzero/): the key of `kz run`'s local audit log. */
export function localAuditKeyPath(env: Record<string, string | undefined> = process.env): string {
  const configHome = env.XDG_CONFIG_HOME || join(env.HOME || homedir(), ".config");
  return join(configHome, "keyzero", "audit.key");
}

function errno(error: unknown): string {
  const code = (error as NodeJS.ErrnoException).code;
  return code === "ENOENT" ? "it does not exist" : code === "EACCES" ? "permission denied" : code === "EISDIR" ? "it is a directory" : (code ?? "error");
}

/** Reads a key file; a one-line ConfigError naming the file (never its content) when it cannot be used. */
export function readAuditKey(path: string): AuditKey {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (error) {
    throw new ConfigError(`cannot read audit key ${path} (${errno(error)})`);
  }
  const hex = text.trim();
  if (!/^[0-9a-fA-F]{64}$/.test(hex)) throw new ConfigError(`audit key ${path} must be 32 bytes written as 64 hex characters`);
  const mode = statSync(path).mode & 0o777;
  if (mode & 0o077) throw new ConfigError(`audit key ${path} is readable by other users (mode ${mode.toString(8)}) — run: chmod 600 ${path}`);
  return new AuditKey(Buffer.from(hex, "hex"));
}

/** Reads the key file, creating it (0600, in a 0700 directory) with a fresh random key when absent. */
export function loadOrCreateAuditKey(path: string): AuditKey {
  try {
    statSync(path);
    return readAuditKey(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") {
      if (error instanceof ConfigError) throw error;
      throw new ConfigError(`cannot read audit key ${path} (${errno(error)})`);
    }
  }
  try {
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    const tmp = `${path}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`;
    writeFileSync(tmp, `${randomBytes(AUDIT_KEY_BYTES).toString("hex")}\n`, { mode: 0o600 });
    chmodSync(tmp, 0o600);
    try {
      linkSync(tmp, path); // fails if another process created the key first: then its key is the one
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
    } finally {
      unlinkSync(tmp);
    }
  } catch (error) {
    throw new ConfigError(`cannot create audit key ${path} (${errno(error)})`);
  }
  return readAuditKey(path);
}
