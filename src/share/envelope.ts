// The share envelope: how `kz share`, the server's MCP `share` tool and the share page encrypt and decrypt
// a one-time share. WebCrypto only and no imports, so the very same file is transpiled and served to the
// browser page (src/web/envelope-js.ts, a build-time macro): the page's decrypt is this code, not a copy of it.
//
// A fresh 256-bit key K (it travels only in the link's fragment) and, optionally, a passphrase P:
//   kp  = PBKDF2-SHA256(NFC(P), salt, 600 000 iterations, 256 bits)            (only with a passphrase)
//   key = HKDF-SHA256(ikm = K ‖ kp, salt, info = "kz-share v1 aes-256-gcm")     → AES-256-GCM
//   chk = HKDF-SHA256(ikm = K, no salt, info = "kz-share v1 key-check")[0:16]
// so neither the link nor the passphrase alone opens it. `chk` lets the page tell a broken link (wrong K)
// from a wrong passphrase; it is a one-way function of a random 256-bit key and reveals nothing usable.
// Envelope bytes (base64url): version(1)=1 ‖ flags(1: bit0 passphrase) ‖ chk(16) ‖ iv(12) ‖ salt(16, with
// a passphrase) ‖ AES-GCM ciphertext+tag. The header is the GCM additional data, so altering any byte of it
// (dropping the passphrase flag included) fails authentication.

export const ENVELOPE_VERSION = 1;
export const PBKDF2_ITERATIONS = 600_000;
const KEY_BYTES = 32;
const IV_BYTES = 12;
const SALT_BYTES = 16;
const CHECK_BYTES = 16;
const TAG_BYTES = 16;
const FLAG_PASSPHRASE = 1;
const INFO_KEY = "kz-share v1 aes-256-gcm";
const INFO_CHECK = "kz-share v1 key-check";

/**
 * Why a share did not open, as a code the page and the CLI turn into words:
 * `bad_key` the fragment is not a key at all (link cut short) · `wrong_key` a well-formed key for another
 * share (link altered) · `bad_envelope` the stored ciphertext is not an envelope · `passphrase_required` ·
 * `wrong_passphrase` · `tampered` the key is right but the ciphertext was altered.
 */
export type ShareErrorCode = "bad_key" | "wrong_key" | "bad_envelope" | "passphrase_required" | "wrong_passphrase" | "tampered";

export class ShareError extends Error {
  readonly code: ShareErrorCode;
  constructor(code: ShareErrorCode, message: string) {
    super(message);
    this.name = "ShareError";
    this.code = code;
  }
}

export interface SealOptions {
  passphrase?: string;
}

export interface Sealed {
  /** The envelope, base64url: what the server stores. */
  ciphertext: string;
  /** K, base64url (43 characters): what goes in the link's fragment and nowhere else. */
  key: string;
}

function subtle(): SubtleCrypto {
  const s = globalThis.crypto?.subtle;
  if (!s) throw new Error("WebCrypto is not available (the page needs a secure context: https or localhost)");
  return s;
}

function random(n: number): Uint8Array<ArrayBuffer> {
  return globalThis.crypto.getRandomValues(new Uint8Array(n));
}

export function toBase64url(bytes: Uint8Array): string {
  let binary = "";
  for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

/** Strict base64url (no padding, no other characters); undefined for anything else. */
export function fromBase64url(text: string): Uint8Array<ArrayBuffer> | undefined {
  if (!/^[A-Za-z0-9_-]*$/.test(text) || text.length % 4 === 1) return undefined;
  const padded = text.replace(/-/g, "+").replace(/_/g, "/") + "===".slice((text.length + 3) % 4);
  const binary = atob(padded);
  const out = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) out[i] = binary.charCodeAt(i);
  // Reject non-canonical trailing bits, so one key has exactly one spelling.
  return toBase64url(out) === text ? out : undefined;
}

async function hkdf(ikm: Uint8Array<ArrayBuffer>, salt: Uint8Array<ArrayBuffer>, info: string, bits: number): Promise<Uint8Array<ArrayBuffer>> {
  const base = await subtle().importKey("raw", ikm, "HKDF", false, ["deriveBits"]);
  const out = await subtle().deriveBits({ name: "HKDF", hash: "SHA-256", salt, info: new TextEncoder().encode(info) }, base, bits);
  return new Uint8Array(out);
}

async function passphraseKey(passphrase: string, salt: Uint8Array<ArrayBuffer>): Promise<Uint8Array<ArrayBuffer>> {
  const base = await subtle().importKey("raw", new TextEncoder().encode(passphrase.normalize("NFC")), "PBKDF2", false, ["deriveBits"]);
  const out = await subtle().deriveBits({ name: "PBKDF2", hash: "SHA-256", salt, iterations: PBKDF2_ITERATIONS }, base, KEY_BYTES * 8);
  return new Uint8Array(out);
}

async function aesKey(k: Uint8Array<ArrayBuffer>, salt: Uint8Array<ArrayBuffer> | undefined, passphrase: string | undefined): Promise<CryptoKey> {
  let ikm = k;
  if (salt && passphrase !== undefined) {
    const kp = await passphraseKey(passphrase, salt);
    ikm = new Uint8Array(KEY_BYTES * 2);
    ikm.set(k, 0);
    ikm.set(kp, KEY_BYTES);
  }
  const raw = await hkdf(ikm, salt ?? new Uint8Array(0), INFO_KEY, KEY_BYTES * 8);
  return subtle().importKey("raw", raw, { name: "AES-GCM" }, false, ["encrypt", "decrypt"]);
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i]! ^ b[i]!;
  return diff === 0;
}

/** Encrypts `value` under a fresh key (and the passphrase, when given). */
export async function sealShare(value: Uint8Array, options: SealOptions = {}): Promise<Sealed> {
  const passphrase = options.passphrase;
  if (passphrase !== undefined && passphrase === "") throw new ShareError("passphrase_required", "the passphrase is empty");
  const k = random(KEY_BYTES);
  const iv = random(IV_BYTES);
  const salt = passphrase !== undefined ? random(SALT_BYTES) : undefined;
  const check = await hkdf(k, new Uint8Array(0), INFO_CHECK, CHECK_BYTES * 8);
  const header = new Uint8Array(2 + CHECK_BYTES + IV_BYTES + (salt ? SALT_BYTES : 0));
  header[0] = ENVELOPE_VERSION;
  header[1] = salt ? FLAG_PASSPHRASE : 0;
  header.set(check, 2);
  header.set(iv, 2 + CHECK_BYTES);
  if (salt) header.set(salt, 2 + CHECK_BYTES + IV_BYTES);
  const key = await aesKey(k, salt, passphrase);
  const plain = new Uint8Array(value.length);
  plain.set(value);
  const ct = new Uint8Array(await subtle().encrypt({ name: "AES-GCM", iv, additionalData: header }, key, plain));
  plain.fill(0);
  const out = new Uint8Array(header.length + ct.length);
  out.set(header, 0);
  out.set(ct, header.length);
  return { ciphertext: toBase64url(out), key: toBase64url(k) };
}

export interface EnvelopeInfo {
  version: number;
  passphrase: boolean;
}

/** Reads the envelope's header without any key (the server uses it to check what it is asked to store). */
export function inspectEnvelope(ciphertext: string): EnvelopeInfo | undefined {
  const bytes = fromBase64url(ciphertext);
  if (!bytes || bytes.length < 2) return undefined;
  if (bytes[0] !== ENVELOPE_VERSION || (bytes[1]! & ~FLAG_PASSPHRASE) !== 0) return undefined;
  const passphrase = (bytes[1]! & FLAG_PASSPHRASE) !== 0;
  const headerLength = 2 + CHECK_BYTES + IV_BYTES + (passphrase ? SALT_BYTES : 0);
  if (bytes.length < headerLength + TAG_BYTES) return undefined;
  return { version: bytes[0]!, passphrase };
}

/** Whether the envelope needs a passphrase (false for anything that is not an envelope). */
export function needsPassphrase(ciphertext: string): boolean {
  return inspectEnvelope(ciphertext)?.passphrase ?? false;
}

/** Decrypts an envelope; throws ShareError saying which part was wrong. */
export async function openShare(ciphertext: string, key: string, passphrase?: string): Promise<Uint8Array> {
  const k = fromBase64url(key);
  if (!k || k.length !== KEY_BYTES) throw new ShareError("bad_key", "the link is incomplete or corrupted (its key is not a share key)");
  const info = inspectEnvelope(ciphertext);
  const bytes = fromBase64url(ciphertext);
  if (!info || !bytes) throw new ShareError("bad_envelope", "the stored share is not a kz share envelope");
  const check = await hkdf(k, new Uint8Array(0), INFO_CHECK, CHECK_BYTES * 8);
  if (!equalBytes(check, bytes.subarray(2, 2 + CHECK_BYTES))) throw new ShareError("wrong_key", "the link's key does not belong to this share (the link is altered or incomplete)");
  const ivStart = 2 + CHECK_BYTES;
  const iv = bytes.slice(ivStart, ivStart + IV_BYTES);
  const salt = info.passphrase ? bytes.slice(ivStart + IV_BYTES, ivStart + IV_BYTES + SALT_BYTES) : undefined;
  if (info.passphrase && (passphrase === undefined || passphrase === "")) throw new ShareError("passphrase_required", "this share needs its passphrase");
  const headerLength = ivStart + IV_BYTES + (salt ? SALT_BYTES : 0);
  const aes = await aesKey(k, salt, info.passphrase ? passphrase : undefined);
  try {
    const plain = await subtle().decrypt({ name: "AES-GCM", iv, additionalData: bytes.slice(0, headerLength) }, aes, bytes.slice(headerLength));
    return new Uint8Array(plain);
  } catch {
    // The key check passed, so K is right: with a passphrase the likeliest cause is the passphrase.
    if (info.passphrase) throw new ShareError("wrong_passphrase", "the passphrase is wrong");
    throw new ShareError("tampered", "the share's ciphertext was altered");
  }
}

/** The link a person opens: the page's URL (no key) plus the key in the fragment, which browsers never send. */
export function shareLink(publicUrl: string, id: string, key: string): string {
  return `${shareUrl(publicUrl, id)}#${key}`;
}

/** The page's URL without the fragment (what the server may know and return). */
export function shareUrl(publicUrl: string, id: string): string {
  return `${publicUrl.replace(/\/+$/, "")}/s/${encodeURIComponent(id)}`;
}
