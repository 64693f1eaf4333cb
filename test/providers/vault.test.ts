// The vault provider against the in-repo Vault server (test/servers/vault.ts): KV v1/v2 reads and the ref
// forms, field selection, one read per path, the four auth methods, namespaces, Vault's error answers,
// retries, and TLS with a throwaway CA. Every failure is checked to name no stored value or credential.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import createVaultProvider from "../../src/providers/vault.ts";
import type { Provider } from "../../src/providers/types.ts";
import { startVaultServer, type RecordedRequest, type VaultServer } from "../servers/vault.ts";
import { providerFailure } from "../helpers/provider-failure.ts";

const ROOT_TOKEN = "fake-vault-token-0001";
const LIMITED_TOKEN = "fake-vault-token-limited-0002";
const ROLE_ID = "fake-role-id-0003";
const SECRET_ID = "fake-secret-id-0004";
const CI_JWT = "fake.ci-jwt.0005";
const K8S_JWT = "fake.k8s-sa-jwt.0006";

const GITHUB = { token: "fake-gh-token-7c1e9a", user: "kz-bot-fake-user" };
const DB = { username: "fake-db-user-5b2d", password: "fake-db-pass-8e4f" };
const STRIPE = { key: "fake-stripe-key-2a6c" };
const LEGACY = { api_key: "fake-legacy-kv1-key-9d3b", region: "fake-region-eu" };
const TEAM_A = { token: "fake-team-a-token-4f1a" };
const MIXED = { port: 5432, tls: true, nested: { inner: "fake-nested-value-6c2e" }, blank: "" };
const RETIRED = { token: "fake-retired-token-1b7d" };

/** Everything the server holds that must never appear in a message. */
const SENSITIVE = [
  ROOT_TOKEN, LIMITED_TOKEN, ROLE_ID, SECRET_ID, CI_JWT, K8S_JWT, "hvs.fake-issued-token",
  ...[GITHUB, DB, STRIPE, LEGACY, TEAM_A, RETIRED].flatMap(Object.values), MIXED.nested.inner,
];

let vault: VaultServer;
let dir: string;
let onRequest: ((request: RecordedRequest) => void) | undefined;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "kz-vault-test-"));
  writeFileSync(join(dir, "ci.jwt"), `${CI_JWT}\n`);
  writeFileSync(join(dir, "sa-token"), K8S_JWT);
  vault = startVaultServer({
    rootToken: ROOT_TOKEN,
    kv2Mounts: ["secret"],
    kv1Mounts: ["kv"],
    limitedTokens: { [LIMITED_TOKEN]: ["secret/data/app/"] },
    logins: [
      { method: "approle", roleId: ROLE_ID, secretId: SECRET_ID },
      { method: "jwt", mount: "ci-jwt", role: "deploy", jwt: CI_JWT },
      { method: "kubernetes", role: "kz-reader", jwt: K8S_JWT },
    ],
    onRequest: (request) => onRequest?.(request),
  });
  vault.writeSecret("secret/prod/github", { token: "fake-gh-token-old-version", user: GITHUB.user });
  vault.writeSecret("secret/prod/github", GITHUB);
  vault.writeSecret("secret/prod/db", DB);
  vault.writeSecret("secret/app/stripe", STRIPE);
  vault.writeSecret("secret/app/mixed", MIXED);
  vault.writeSecret("secret/app/retired", RETIRED);
  vault.deleteCurrentVersion("secret/app/retired");
  vault.writeSecret("kv/legacy/service", LEGACY);
  vault.writeSecret("secret/shared/github", TEAM_A, "team-a");
});

afterAll(() => {
  vault.stop();
  rmSync(dir, { recursive: true, force: true });
});

type Settings = Record<string, unknown>;
type Env = Record<string, string | undefined>;

function providerFor(settings: Settings = {}, env: Env = { VAULT_TOKEN: ROOT_TOKEN }): Promise<Provider> {
  return Promise.resolve(createVaultProvider({ settings: { address: vault.url, ...settings }, env, configDir: dir }));
}

async function read(provider: Provider, ref: string, field?: string, signal = new AbortController().signal): Promise<string> {
  return (await provider.fetch({ name: "TEST_SECRET", ref, field, signal })).reveal();
}

/** The ProviderError message a promise rejects with, checked to reveal nothing. */
const failureOf = (work: Promise<unknown>): Promise<string> => providerFailure(work, SENSITIVE);

async function newRequests<T>(work: () => Promise<T>): Promise<{ result: T; requests: RecordedRequest[] }> {
  const before = vault.requests.length;
  const result = await work();
  return { result, requests: vault.requests.slice(before) };
}

describe("reading KV secrets", () => {
  test("KV v2 with field reads body.data.data[field] of the current version", async () => {
    const provider = await providerFor();
    const { result, requests } = await newRequests(() => read(provider, "secret/data/prod/github", "token"));
    expect(result).toBe(GITHUB.token);
    expect(requests.map((r) => `${r.method} ${r.path}`)).toEqual(["GET /v1/secret/data/prod/github"]);
    expect(requests[0]!.headers["x-vault-token"]).toBe(ROOT_TOKEN);
    expect(requests[0]!.headers["x-vault-request"]).toBe("true");
    expect(requests[0]!.headers["x-vault-namespace"]).toBeUndefined();
  });

  test("KV v1 reads body.data[field]", async () => {
    const provider = await providerFor();
    expect(await read(provider, "kv/legacy/service", "api_key")).toBe(LEGACY.api_key);
    expect(await read(provider, "kv/legacy/service", "region")).toBe(LEGACY.region);
  });

  test("seed form: the last segment is the field when the full path does not exist", async () => {
    const provider = await providerFor();
    const { result, requests } = await newRequests(() => read(provider, "secret/data/prod/github/token"));
    expect(result).toBe(GITHUB.token);
    expect(requests.map((r) => r.path)).toEqual(["/v1/secret/data/prod/github/token", "/v1/secret/data/prod/github"]);
  });

  test("seed form naming a field the secret lacks lists the fields", async () => {
    const message = await failureOf(providerFor().then((p) => read(p, "secret/data/prod/github/passwd")));
    expect(message).toContain('no field "passwd"');
    expect(message).toContain("token, user");
  });

  test("a secret with exactly one key needs no field", async () => {
    expect(await read(await providerFor(), "secret/data/app/stripe")).toBe(STRIPE.key);
  });

  test("several keys and no field: lists the field names and says to add field", async () => {
    const message = await failureOf(providerFor().then((p) => read(p, "secret/data/prod/db")));
    expect(message).toContain("username, password");
    expect(message).toContain('add field = "…"');
  });

  test("a missing field lists the names present", async () => {
    const message = await failureOf(providerFor().then((p) => read(p, "secret/data/prod/github", "password")));
    expect(message).toContain('no field "password"');
    expect(message).toContain("fields: token, user");
  });

  test("numbers and booleans become strings; objects and empty strings are refused", async () => {
    const provider = await providerFor();
    expect(await read(provider, "secret/data/app/mixed", "port")).toBe("5432");
    expect(await read(provider, "secret/data/app/mixed", "tls")).toBe("true");
    expect(await failureOf(read(provider, "secret/data/app/mixed", "nested"))).toContain('field "nested" is not a string');
    expect(await failureOf(read(provider, "secret/data/app/mixed", "blank"))).toContain("is empty");
  });

  test("two fields of one path cost one request", async () => {
    const provider = await providerFor();
    const { result, requests } = await newRequests(() =>
      Promise.all([read(provider, "secret/data/prod/db", "username"), read(provider, "secret/data/prod/db", "password")]),
    );
    expect(result).toEqual([DB.username, DB.password]);
    expect(requests.filter((r) => r.path === "/v1/secret/data/prod/db")).toHaveLength(1);
    // Later reads of the same path are served from the same result.
    const later = await newRequests(() => read(provider, "secret/data/prod/db", "username"));
    expect(later.requests).toHaveLength(0);
  });
});

describe("authentication", () => {
  test("token from VAULT_TOKEN, or from the variable auth.token_env names", async () => {
    const viaDefault = await newRequests(async () => read(await providerFor(), "secret/data/app/stripe"));
    expect(viaDefault.requests[0]!.headers["x-vault-token"]).toBe(ROOT_TOKEN);

    const custom = await providerFor({ auth: { token_env: "CI_VAULT_TOKEN" } }, { CI_VAULT_TOKEN: ROOT_TOKEN });
    expect(await read(custom, "secret/data/app/stripe")).toBe(STRIPE.key);
  });

  test("without VAULT_TOKEN, ~/.vault-token (left by `vault login`) is used", async () => {
    const home = join(dir, "home");
    mkdirSync(home, { recursive: true });
    writeFileSync(join(home, ".vault-token"), `${ROOT_TOKEN}\n`);
    expect(await read(await providerFor({}, { HOME: home }), "secret/data/app/stripe")).toBe(STRIPE.key);
  });

  test("no token: names the variable to set", async () => {
    expect(await failureOf(providerFor({}, {}).then((p) => read(p, "secret/data/app/stripe")))).toContain("VAULT_TOKEN");
    const message = await failureOf(providerFor({ auth: { token_env: "CI_VAULT_TOKEN" } }, {}).then((p) => read(p, "secret/data/app/stripe")));
    expect(message).toContain("CI_VAULT_TOKEN is not set");
  });

  test("approle logs in once and reads with the client token", async () => {
    const provider = await providerFor({ auth: { method: "approle" } }, { VAULT_ROLE_ID: ROLE_ID, VAULT_SECRET_ID: SECRET_ID });
    const { result, requests } = await newRequests(() =>
      Promise.all([read(provider, "secret/data/prod/github", "token"), read(provider, "kv/legacy/service", "api_key")]),
    );
    expect(result).toEqual([GITHUB.token, LEGACY.api_key]);
    const logins = requests.filter((r) => r.path === "/v1/auth/approle/login");
    expect(logins.map((r) => r.method)).toEqual(["POST"]);
    const reads = requests.filter((r) => r.method === "GET");
    expect(reads).toHaveLength(2);
    for (const r of reads) expect(r.headers["x-vault-token"]).toStartWith("hvs.fake-issued-token-");
  });

  test("approle with role_id in the config and custom variable names", async () => {
    const provider = await providerFor(
      { auth: { method: "approle", role_id: ROLE_ID, secret_id_env: "KZ_SECRET_ID" } },
      { KZ_SECRET_ID: SECRET_ID },
    );
    expect(await read(provider, "secret/data/app/stripe")).toBe(STRIPE.key);
  });

  test("approle refused: Vault's reason and what to check, no credentials", async () => {
    const provider = await providerFor({ auth: { method: "approle" } }, { VAULT_ROLE_ID: ROLE_ID, VAULT_SECRET_ID: "fake-wrong-secret-id" });
    const message = await failureOf(read(provider, "secret/data/app/stripe"));
    expect(message).toContain("Vault refused the approle login at auth/approle/login");
    expect(message).toContain("invalid role or secret ID");
    expect(message).toContain("VAULT_SECRET_ID");
    expect(message).not.toContain("fake-wrong-secret-id");
  });

  test("approle without a secret_id names the variable", async () => {
    const message = await failureOf(providerFor({ auth: { method: "approle" } }, { VAULT_ROLE_ID: ROLE_ID }).then((p) => read(p, "secret/data/app/stripe")));
    expect(message).toContain("VAULT_SECRET_ID is not set");
  });

  test("jwt login from an env var, on a custom mount", async () => {
    const provider = await providerFor({ auth: { method: "jwt", mount: "ci-jwt", role: "deploy", jwt_env: "CI_JWT" } }, { CI_JWT });
    const { result, requests } = await newRequests(() => read(provider, "secret/data/prod/github", "user"));
    expect(result).toBe(GITHUB.user);
    expect(requests[0]!.path).toBe("/v1/auth/ci-jwt/login");
  });

  test("jwt login from a file relative to the config dir", async () => {
    const provider = await providerFor({ auth: { method: "jwt", mount: "ci-jwt", role: "deploy", jwt_file: "ci.jwt" } }, {});
    expect(await read(provider, "secret/data/prod/github", "user")).toBe(GITHUB.user);
  });

  test("jwt login with an unknown role is refused with Vault's reason", async () => {
    const provider = await providerFor({ auth: { method: "jwt", mount: "ci-jwt", role: "admin", jwt_env: "CI_JWT" } }, { CI_JWT });
    const message = await failureOf(read(provider, "secret/data/prod/github", "user"));
    expect(message).toContain('role "admin" could not be found');
  });

  test("kubernetes login reads the service account token from jwt_file", async () => {
    const provider = await providerFor({ auth: { method: "kubernetes", role: "kz-reader", jwt_file: join(dir, "sa-token") } }, {});
    const { result, requests } = await newRequests(() => read(provider, "secret/data/prod/db", "password"));
    expect(result).toBe(DB.password);
    expect(requests.map((r) => `${r.method} ${r.path}`)).toEqual(["POST /v1/auth/kubernetes/login", "GET /v1/secret/data/prod/db"]);
  });

  test("kubernetes login with a missing token file names the file", async () => {
    const provider = await providerFor({ auth: { method: "kubernetes", role: "kz-reader", jwt_file: "no-such-token" } }, {});
    const message = await failureOf(read(provider, "secret/data/prod/db", "password"));
    expect(message).toContain(join(dir, "no-such-token"));
    expect(message).toContain("does not exist");
  });

  test("an unknown auth mount is reported as such", async () => {
    const provider = await providerFor({ auth: { method: "jwt", jwt_env: "CI_JWT" } }, { CI_JWT });
    const message = await failureOf(read(provider, "secret/data/prod/db", "password"));
    expect(message).toContain("no jwt auth method at auth/jwt/login");
    expect(message).toContain("auth.mount");
  });
});

describe("namespaces", () => {
  test("namespace setting sends X-Vault-Namespace and reads that namespace's secrets", async () => {
    const provider = await providerFor({ namespace: "team-a" });
    const { result, requests } = await newRequests(() => read(provider, "secret/data/shared/github", "token"));
    expect(result).toBe(TEAM_A.token);
    expect(requests[0]!.headers["x-vault-namespace"]).toBe("team-a");
  });

  test("VAULT_NAMESPACE is the fallback; the root namespace does not see the secret", async () => {
    const viaEnv = await providerFor({}, { VAULT_TOKEN: ROOT_TOKEN, VAULT_NAMESPACE: "team-a" });
    expect(await read(viaEnv, "secret/data/shared/github", "token")).toBe(TEAM_A.token);
    const message = await failureOf(providerFor().then((p) => read(p, "secret/data/shared/github", "token")));
    expect(message).toContain("no secret at secret/data/shared/github");
  });
});

describe("the address", () => {
  test("a credential pasted as the address, or carried in it, is never echoed", async () => {
    const pasted = "hvs.PASTEDVAULTTOKEN0123456789";
    const read1 = (settings: Settings, env: Env = { VAULT_TOKEN: ROOT_TOKEN }) => providerFor(settings, env).then((p) => read(p, "secret/data/app/stripe"));
    const notUrl = await providerFailure(read1({ address: pasted }), [pasted, "PASTEDVAULTTOKEN"]);
    expect(notUrl).toBe("[providers.vault] address: invalid value — not a URL (expected e.g. https://vault.example:8200)");
    const viaEnv = await providerFailure(Promise.resolve(createVaultProvider({ settings: {}, env: { VAULT_TOKEN: ROOT_TOKEN, VAULT_ADDR: pasted }, configDir: dir })).then((p) => read(p, "secret/data/app/stripe")), ["PASTEDVAULTTOKEN"]);
    expect(viaEnv).toStartWith("VAULT_ADDR: invalid value — not a URL");
    const scheme = await providerFailure(read1({ address: `ftp://${pasted}` }), ["PASTEDVAULTTOKEN"]);
    expect(scheme).toContain("must start with https:// or http://");
    const userinfo = await providerFailure(read1({ address: `http://root:${pasted}@127.0.0.1:1` }), ["PASTEDVAULTTOKEN"]);
    expect(userinfo).toContain("must not contain a user name or password");
  });
});

describe("Vault's error answers", () => {
  test("403 from policy: permission denied for the path", async () => {
    const provider = await providerFor({}, { VAULT_TOKEN: LIMITED_TOKEN });
    expect(await read(provider, "secret/data/app/stripe")).toBe(STRIPE.key);
    const message = await failureOf(read(provider, "secret/data/prod/github", "token"));
    expect(message).toStartWith("permission denied for secret/data/prod/github — the token's policy does not allow read");
    expect(message).toContain("(Vault: permission denied)");
  });

  test("403 for an unknown token says it may be invalid or expired", async () => {
    const provider = await providerFor({}, { VAULT_TOKEN: "fake-vault-token-unknown-0009" });
    const message = await failureOf(read(provider, "secret/data/prod/github", "token"));
    expect(message).toContain("permission denied for secret/data/prod/github");
    expect(message).toContain("invalid/expired");
    expect(message).not.toContain("fake-vault-token-unknown-0009");
  });

  test("404: no secret at the path, with the KV v2 hint", async () => {
    const provider = await providerFor();
    expect(await failureOf(read(provider, "secret/data/prod/nothing", "token"))).toBe(
      "no secret at secret/data/prod/nothing (KV v2 paths need /data/ after the mount)",
    );
    // A KV v2 secret addressed without data/ is not found either.
    expect(await failureOf(read(provider, "secret/prod/github", "token"))).toContain("KV v2 paths need /data/");
  });

  test("404 for an unmounted path carries Vault's reason", async () => {
    const message = await failureOf(providerFor().then((p) => read(p, "nomount/app", "token")));
    expect(message).toContain('no handler for route "nomount/app"');
  });

  test("a deleted current version is reported as deleted", async () => {
    const message = await failureOf(providerFor().then((p) => read(p, "secret/data/app/retired", "token")));
    expect(message).toContain("current version (1) of secret/data/app/retired is deleted");
  });

  test("sealed: a distinct message naming the address, without retrying", async () => {
    const provider = await providerFor({ retries: 3 });
    vault.setSealed(true);
    try {
      const { result: message, requests } = await newRequests(() => failureOf(read(provider, "secret/data/prod/github", "token")));
      expect(message).toStartWith(`Vault at ${vault.url} is sealed — unseal it`);
      expect(requests).toHaveLength(1);
    } finally {
      vault.setSealed(false);
    }
    // Failures are not remembered: once unsealed the same provider reads the secret.
    expect(await read(provider, "secret/data/prod/github", "token")).toBe(GITHUB.token);
  });
});

describe("retries and reachability", () => {
  test("500 twice, then success: three requests", async () => {
    const provider = await providerFor({ retries: 3 });
    vault.failNext(2, 500);
    const { result, requests } = await newRequests(() => read(provider, "secret/data/prod/github", "token"));
    expect(result).toBe(GITHUB.token);
    expect(requests.filter((r) => r.path === "/v1/secret/data/prod/github")).toHaveLength(3);
  });

  test("429 is retried too, including on login", async () => {
    const provider = await providerFor({ retries: 2, auth: { method: "approle" } }, { VAULT_ROLE_ID: ROLE_ID, VAULT_SECRET_ID: SECRET_ID });
    vault.failNext(1, 429);
    const { result, requests } = await newRequests(() => read(provider, "secret/data/app/stripe"));
    expect(result).toBe(STRIPE.key);
    expect(requests.map((r) => r.path)).toEqual(["/v1/auth/approle/login", "/v1/auth/approle/login", "/v1/secret/data/app/stripe"]);
  });

  test("retries exhausted: the last status, Vault's reason and the attempt count", async () => {
    const provider = await providerFor({ retries: 2 });
    vault.failNext(10, 502);
    try {
      const { result: message, requests } = await newRequests(() => failureOf(read(provider, "secret/data/prod/github", "token")));
      expect(message).toBe(`Vault at ${vault.url} answered 502 reading secret/data/prod/github after 3 attempts (Vault: bad gateway)`);
      expect(requests).toHaveLength(3);
    } finally {
      vault.failNext(0, 500);
    }
  });

  test("retries: 0 makes a single attempt", async () => {
    const provider = await providerFor({ retries: 0 });
    vault.failNext(1, 504);
    const { result: message, requests } = await newRequests(() => failureOf(read(provider, "secret/data/prod/github", "token")));
    expect(message).toContain("answered 504");
    expect(requests).toHaveLength(1);
  });

  test("an aborted request stops retrying", async () => {
    const provider = await providerFor({ retries: 5 });
    const controller = new AbortController();
    vault.failNext(100, 500);
    onRequest = () => controller.abort();
    try {
      const { result: message, requests } = await newRequests(() =>
        failureOf(read(provider, "secret/data/prod/github", "token", controller.signal)),
      );
      expect(message).toContain("cancelled");
      expect(requests).toHaveLength(1);
    } finally {
      onRequest = undefined;
      vault.failNext(0, 500);
    }
  });

  test("an unreachable address is named", async () => {
    const closed = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response() });
    const address = `http://127.0.0.1:${closed.port}`;
    closed.stop(true);
    const provider = await providerFor({ address, retries: 1 });
    const message = await failureOf(read(provider, "secret/data/prod/github", "token"));
    expect(message).toStartWith(`cannot reach Vault at ${address} (`);
    expect(message).toContain("2 attempts");
  });

  test("no address: says to set [providers.vault] address or VAULT_ADDR", async () => {
    const message = await failureOf(
      Promise.resolve().then(() => createVaultProvider({ settings: {}, env: { VAULT_TOKEN: ROOT_TOKEN }, configDir: dir })),
    );
    expect(message).toContain("[providers.vault] address or VAULT_ADDR");
  });

  test("VAULT_ADDR is the address fallback", async () => {
    const provider = await createVaultProvider({ settings: {}, env: { VAULT_ADDR: `${vault.url}/`, VAULT_TOKEN: ROOT_TOKEN }, configDir: dir });
    expect(await read(provider, "secret/data/app/stripe")).toBe(STRIPE.key);
  });
});

describe("TLS with a private CA", () => {
  let tlsVault: VaultServer;
  let certDir: string;

  beforeAll(() => {
    certDir = mkdtempSync(join(tmpdir(), "kz-vault-tls-"));
    const { cert, key } = makeCertificates(certDir);
    tlsVault = startVaultServer({ rootToken: ROOT_TOKEN, tls: { cert, key } });
    tlsVault.writeSecret("secret/prod/github", GITHUB);
  });

  afterAll(() => {
    tlsVault.stop();
    rmSync(certDir, { recursive: true, force: true });
  });

  const tlsProvider = (settings: Settings, env: Env = { VAULT_TOKEN: ROOT_TOKEN }) =>
    createVaultProvider({ settings: { address: tlsVault.url, retries: 0, ...settings }, env, configDir: certDir });

  test("ca_cert relative to the config dir makes the server trusted", async () => {
    expect(tlsVault.url).toStartWith("https://");
    expect(await read(await tlsProvider({ ca_cert: "ca.pem" }), "secret/data/prod/github", "token")).toBe(GITHUB.token);
  });

  test("VAULT_CACERT is the fallback", async () => {
    const provider = await tlsProvider({}, { VAULT_TOKEN: ROOT_TOKEN, VAULT_CACERT: join(certDir, "ca.pem") });
    expect(await read(provider, "secret/data/prod/github", "token")).toBe(GITHUB.token);
  });

  test("without the CA: a clear TLS message pointing at ca_cert", async () => {
    const message = await failureOf(Promise.resolve(tlsProvider({})).then((p) => read(p, "secret/data/prod/github", "token")));
    expect(message).toStartWith(`cannot verify Vault's TLS certificate at ${tlsVault.url}`);
    expect(message).toContain("ca_cert or VAULT_CACERT");
  });

  test("a ca_cert that is missing or not PEM is named", async () => {
    expect(await failureOf(Promise.resolve().then(() => tlsProvider({ ca_cert: "missing.pem" })))).toContain("does not exist");
    expect(await failureOf(Promise.resolve().then(() => tlsProvider({ ca_cert: "server.key" })))).toContain("is not a PEM certificate");
  });
});

/** A throwaway CA and a server certificate for 127.0.0.1/localhost signed by it, made with openssl. */
function makeCertificates(certDir: string): { cert: string; key: string } {
  const openssl = (...args: string[]) => {
    const run = Bun.spawnSync(["openssl", ...args], { cwd: certDir, stderr: "pipe" });
    if (run.exitCode !== 0) throw new Error(`openssl ${args[0]} failed: ${run.stderr.toString()}`);
  };
  writeFileSync(join(certDir, "server.ext"), "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n");
  openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "1",
    "-subj", "/CN=kz test CA", "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign");
  openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=localhost");
  openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-out", "server.pem",
    "-days", "1", "-extfile", "server.ext");
  return { cert: readFileSync(join(certDir, "server.pem"), "utf8"), key: readFileSync(join(certDir, "server.key"), "utf8") };
}
