import { afterAll, expect, test } from "bun:test";
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import createLocalProvider from "../../src/providers/local.ts";
import { LocalStore } from "../../src/providers/local-store.ts";
import { ProviderError } from "../../src/providers/types.ts";
import { SecretValue } from "../../src/secret.ts";

const root = mkdtempSync(join(tmpdir(), "kz-local-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
const freshEnv = (extra: Record<string, string> = {}) => {
  const dir = join(root, `h${n++}`);
  return { HOME: dir, XDG_DATA_HOME: join(dir, "data"), XDG_CONFIG_HOME: join(dir, "config"), ...extra };
};
const VALUE = "fake-local-store-value-0001";
const fetchVia = async (env: Record<string, string>, ref: string) =>
  (await createLocalProvider({ settings: {}, env, configDir: root })).fetch({ name: ref, ref, signal: new AbortController().signal });

test("round trip: stored encrypted, files 0600, read back through the provider", async () => {
  const env = freshEnv();
  const store = new LocalStore(env);
  await store.set("API", new SecretValue(VALUE));
  expect(readFileSync(store.paths.data, "utf8")).not.toContain(VALUE);
  expect(statSync(store.paths.data).mode & 0o777).toBe(0o600);
  expect(statSync(store.paths.key).mode & 0o777).toBe(0o600);
  expect((await fetchVia(env, "API")).reveal()).toBe(VALUE);
  expect(store.names()).toEqual(["API"]);
  expect(store.delete("API")).toBe(true);
  expect(store.has("API")).toBe(false);
});

test("KZ_LOCAL_KEY is used instead of a key file, and must be 64 hex characters", async () => {
  const env = freshEnv({ KZ_LOCAL_KEY: "0f".repeat(32) });
  const store = new LocalStore(env);
  await store.set("A", new SecretValue(VALUE));
  expect(() => statSync(store.paths.key)).toThrow();
  const wrongKey = new LocalStore({ ...env, KZ_LOCAL_KEY: "0e".repeat(32) });
  await expect(wrongKey.get("A")).rejects.toThrow(/cannot be decrypted/);
  await expect(new LocalStore({ ...env, KZ_LOCAL_KEY: "short" }).get("A")).rejects.toThrow(/64 hex characters/);
});

test("an entry moved to another name fails authentication (the name is bound in)", async () => {
  const env = freshEnv();
  const store = new LocalStore(env);
  await store.set("A", new SecretValue(VALUE));
  const doc = JSON.parse(readFileSync(store.paths.data, "utf8"));
  doc.secrets.B = doc.secrets.A;
  writeFileSync(store.paths.data, JSON.stringify(doc), { mode: 0o600 });
  const reread = new LocalStore(env); // one instance reads the files once
  await expect(reread.get("B")).rejects.toThrow(/cannot be decrypted/);
  expect((await reread.get("A"))!.reveal()).toBe(VALUE);
});

test("a key file readable by others is refused with the chmod fix", async () => {
  const env = freshEnv();
  const store = new LocalStore(env);
  await store.set("A", new SecretValue(VALUE));
  chmodSync(store.paths.key, 0o644);
  await expect(new LocalStore(env).get("A")).rejects.toThrow(`chmod 600 ${store.paths.key}`);
});

test("a missing entry is a ProviderError that says how to add it", async () => {
  const env = freshEnv();
  await new LocalStore(env).set("OTHER", new SecretValue(VALUE));
  const error = await fetchVia(env, "MISSING").catch((e) => e);
  expect(error).toBeInstanceOf(ProviderError);
  expect(error.message).toBe("not in the local store — add it with `kz put MISSING`");
});

test("the sealed format is plain AES-256-GCM (name as AAD, tag appended): stores written with node:crypto still open, and back", async () => {
  const { createCipheriv, createDecipheriv, randomBytes } = await import("node:crypto");
  const keyHex = "1f".repeat(32);
  const env = freshEnv({ KZ_LOCAL_KEY: keyHex });
  const key = Buffer.from(keyHex, "hex");
  // Written the way earlier kz versions did, with node:crypto.
  const iv = randomBytes(12);
  const cipher = createCipheriv("aes-256-gcm", key, iv).setAAD(Buffer.from("OLD"));
  const data = Buffer.concat([cipher.update(VALUE, "utf8"), cipher.final(), cipher.getAuthTag()]);
  const store = new LocalStore(env);
  await store.set("NEW", new SecretValue(VALUE)); // creates the store file
  const doc = JSON.parse(readFileSync(store.paths.data, "utf8"));
  doc.secrets.OLD = { iv: iv.toString("base64"), data: data.toString("base64"), updated: "2026-01-01T00:00:00.000Z" };
  writeFileSync(store.paths.data, JSON.stringify(doc), { mode: 0o600 });
  expect((await new LocalStore(env).get("OLD"))!.reveal()).toBe(VALUE);
  // And what kz writes now opens with node:crypto.
  const sealed = Buffer.from(doc.secrets.NEW.data, "base64");
  const decipher = createDecipheriv("aes-256-gcm", key, Buffer.from(doc.secrets.NEW.iv, "base64")).setAAD(Buffer.from("NEW"));
  decipher.setAuthTag(sealed.subarray(sealed.length - 16));
  expect(Buffer.concat([decipher.update(sealed.subarray(0, sealed.length - 16)), decipher.final()]).toString("utf8")).toBe(VALUE);
  expect(Buffer.from(doc.secrets.NEW.iv, "base64").length).toBe(12);
});
