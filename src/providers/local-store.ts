// kz's own encrypted store, the zero-setup default. Each entry is sealed with AES-256-GCM under a
// 32-byte key, with the entry's name as associated data so ciphertexts cannot be swapped between names.
// Data: $XDG_DATA_HOME/keyzero/store.json (0600). Key: KZ_LOCAL_KEY (64 hex characters) or
// $XDG_CONFIG_HOME/keyzero/local.key (0600, created by the first `kz put`). Writes are atomic.
// AES-GCM and the random bytes come from WebCrypto (native, the same BoringSSL as node:crypto): loading
// node:crypto costs several ms of `kz run`'s start-up, and this module is on every run's path.

import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { KzError } from "../errors.ts";
import { SecretValue } from "../secret.ts";

type Env = Record<string, string | undefined>;

interface SealedEntry {
  iv: string; // base64, 12 bytes
  data: string; // base64 ciphertext followed by the 16-byte GCM tag
  updated: string; // ISO time
}

interface StoreFile {
  version: 1;
  secrets: Record<string, SealedEntry>;
}

export function storePaths(env: Env = process.env): { data: string; key: string } {
  const home = env.HOME || (require("node:os") as typeof import("node:os")).homedir(); // node:os only without HOME
  const dataHome = env.XDG_DATA_HOME || join(home, ".local", "share");
  const configHome = env.XDG_CONFIG_HOME || join(home, ".config");
  return { data: join(dataHome, "keyzero", "store.json"), key: join(configHome, "keyzero", "local.key") };
}

function parseHexKey(hex: string, from: string): Buffer {
  const trimmed = hex.trim();
  if (!/^[0-9a-fA-F]{64}$/.test(trimmed)) {
    throw new KzError(`${from} must be 32 bytes written as 64 hex characters (make one with: openssl rand -hex 32)`);
  }
  return Buffer.from(trimmed, "hex");
}

function assertPrivate(path: string): void {
  const mode = statSync(path).mode & 0o777;
  if (mode & 0o077) {
    throw new KzError(`${path} is readable by other users (mode ${mode.toString(8)}) — run: chmod 600 ${path}`);
  }
}

/** A Buffer as WebCrypto's BufferSource (Node's Buffer type allows a SharedArrayBuffer; ours never is one). */
const bytes = (buffer: Buffer): Uint8Array<ArrayBuffer> => buffer as Uint8Array<ArrayBuffer>;

function writePrivate(path: string, content: string): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, content, { mode: 0o600 });
  chmodSync(tmp, 0o600);
  renameSync(tmp, path);
}

export class LocalStore {
  readonly paths: { data: string; key: string };
  /** Read once per instance: a run resolving ten local secrets reads the files once. */
  private cached?: StoreFile;
  private cachedKey?: Buffer;

  constructor(private readonly env: Env = process.env) {
    this.paths = storePaths(env);
  }

  /** The store key; with `create`, a missing key file is generated. */
  private key(create: boolean): Buffer {
    this.cachedKey ??= this.loadKey(create);
    return this.cachedKey;
  }

  private loadKey(create: boolean): Buffer {
    if (this.env.KZ_LOCAL_KEY) return parseHexKey(this.env.KZ_LOCAL_KEY, "KZ_LOCAL_KEY");
    if (existsSync(this.paths.key)) {
      assertPrivate(this.paths.key);
      return parseHexKey(readFileSync(this.paths.key, "utf8"), this.paths.key);
    }
    if (!create) throw new KzError(`the local store has no key yet (${this.paths.key}) — add a secret with \`kz put NAME\``);
    const key = Buffer.from(crypto.getRandomValues(new Uint8Array(32)));
    writePrivate(this.paths.key, `${key.toString("hex")}\n`);
    return key;
  }

  private read(): StoreFile {
    this.cached ??= this.load();
    return this.cached;
  }

  private load(): StoreFile {
    if (!existsSync(this.paths.data)) return { version: 1, secrets: {} };
    assertPrivate(this.paths.data);
    try {
      const parsed = JSON.parse(readFileSync(this.paths.data, "utf8")) as StoreFile;
      if (parsed.version !== 1 || typeof parsed.secrets !== "object") throw new Error("shape");
      return parsed;
    } catch {
      throw new KzError(`${this.paths.data} is not a kz store file (corrupt or edited by hand)`);
    }
  }

  names(): string[] {
    return Object.keys(this.read().secrets).sort();
  }

  has(name: string): boolean {
    return name in this.read().secrets;
  }

  /** The AES-GCM key for WebCrypto, imported once per instance (not extractable). */
  private cryptoKey?: Promise<CryptoKey>;

  private aesKey(create: boolean): Promise<CryptoKey> {
    this.cryptoKey ??= crypto.subtle.importKey("raw", bytes(this.key(create)), "AES-GCM", false, ["encrypt", "decrypt"]);
    return this.cryptoKey;
  }

  async get(name: string): Promise<SecretValue | undefined> {
    const entry = this.read().secrets[name];
    if (!entry) return undefined;
    const key = this.aesKey(false);
    // WebCrypto takes the ciphertext with its 16-byte tag appended, as stored.
    const sealed = Buffer.from(entry.data, "base64");
    try {
      const plain = await crypto.subtle.decrypt({ name: "AES-GCM", iv: bytes(Buffer.from(entry.iv, "base64")), additionalData: bytes(Buffer.from(name)) }, await key, bytes(sealed));
      return new SecretValue(Buffer.from(plain).toString("utf8"));
    } catch {
      throw new KzError(`local store entry ${name} cannot be decrypted — wrong key (KZ_LOCAL_KEY or ${this.paths.key}) or a tampered store`);
    }
  }

  async set(name: string, value: SecretValue): Promise<void> {
    const key = await this.aesKey(true);
    const store = this.read();
    const iv = Buffer.from(crypto.getRandomValues(new Uint8Array(12)));
    const sealed = await crypto.subtle.encrypt({ name: "AES-GCM", iv: bytes(iv), additionalData: bytes(Buffer.from(name)) }, key, bytes(Buffer.from(value.reveal(), "utf8")));
    const data = Buffer.from(sealed); // ciphertext followed by the 16-byte tag
    store.secrets[name] = { iv: iv.toString("base64"), data: data.toString("base64"), updated: new Date().toISOString() };
    writePrivate(this.paths.data, `${JSON.stringify(store, null, 2)}\n`);
  }

  delete(name: string): boolean {
    const store = this.read();
    if (!(name in store.secrets)) return false;
    delete store.secrets[name];
    writePrivate(this.paths.data, `${JSON.stringify(store, null, 2)}\n`);
    return true;
  }
}
