// The kz provider against the in-repo policy server stand-in (test/servers/kz-pdp.ts): values and fields,
// where the identity token comes from, the server's refusals (401, 403, 404, 5xx, redirects), transport
// failures, the plain-http rule, TLS with a private CA, and the config keys that select it. Every failure
// is checked to be one line that names the server and never carries the token or a value.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadConfig } from "../../src/config/load.ts";
import createKzProvider, { parseServerUrl } from "../../src/providers/kz.ts";
import { isLoopbackName } from "../../src/config/loopback.ts";
import type { Provider } from "../../src/providers/types.ts";
import { describeFailure, resolveSecrets } from "../../src/resolve/resolve.ts";
import { startPdpServer, type PdpServer } from "../servers/kz-pdp.ts";
import { providerFailure } from "../helpers/provider-failure.ts";

const AGENT_TOKEN = "fake.kz-identity-agent.0001";
const SUPPORT_TOKEN = "fake.kz-identity-support.0002";
const FILE_TOKEN = "fake.kz-identity-from-file.0003";
const STALE_TOKEN = "fake.kz-identity-stale.0004";

const DB_PROD = "fake-db-prod-pass-3c9a";
const ZENDESK = "fake-zendesk-key-7b21";
const DB_JSON = { user: "fake-db-user-41d2", password: "fake-db-pass-json-9e0d" };

const SENSITIVE = [AGENT_TOKEN, SUPPORT_TOKEN, FILE_TOKEN, STALE_TOKEN, DB_PROD, ZENDESK, ...Object.values(DB_JSON)];

let pdp: PdpServer;
let dir: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "kz-provider-kz-"));
  writeFileSync(join(dir, "agent.jwt"), `${FILE_TOKEN}\n`);
  writeFileSync(join(dir, "empty.jwt"), "\n");
  pdp = startPdpServer({
    secrets: { DB_PROD, ZENDESK_KEY: ZENDESK, DB_JSON: JSON.stringify(DB_JSON), EMPTY: "" },
    identities: { [AGENT_TOKEN]: ["*"], [SUPPORT_TOKEN]: ["ZENDESK_KEY"], [FILE_TOKEN]: ["DB_PROD"] },
  });
});

afterAll(() => {
  pdp.stop();
  rmSync(dir, { recursive: true, force: true });
});

type Settings = Record<string, unknown>;
type Env = Record<string, string | undefined>;

function providerFor(settings: Settings = {}, env: Env = { KZ_IDENTITY_TOKEN: AGENT_TOKEN }): Promise<Provider> {
  return Promise.resolve().then(() => createKzProvider({ settings: { url: pdp.url, ...settings }, env, configDir: dir }));
}

async function read(provider: Provider, ref: string, field?: string): Promise<string> {
  return (await provider.fetch({ name: "TEST_SECRET", ref, field, signal: new AbortController().signal })).reveal();
}

/** The ProviderError message a promise rejects with, checked to reveal nothing. */
const failureOf = (work: Promise<unknown>): Promise<string> => providerFailure(work, SENSITIVE);

async function newRequests<T>(work: () => Promise<T>) {
  const before = pdp.requests.length;
  const result = await work();
  return { result, requests: pdp.requests.slice(before) };
}

describe("resolving", () => {
  test("POSTs {secret: ref} with the bearer token and returns the value", async () => {
    const provider = await providerFor();
    const { result, requests } = await newRequests(() => read(provider, "DB_PROD"));
    expect(result).toBe(DB_PROD);
    expect(requests).toHaveLength(1);
    const [request] = requests;
    expect(`${request!.method} ${request!.path}`).toBe("POST /v1/resolve");
    expect(request!.headers.authorization).toBe(`Bearer ${AGENT_TOKEN}`);
    expect(request!.headers["content-type"]).toBe("application/json");
    expect(JSON.parse(request!.body)).toEqual({ secret: "DB_PROD" });
  });

  test("the value comes back as a SecretValue that prints redacted", async () => {
    const value = await (await providerFor()).fetch({ name: "X", ref: "DB_PROD", signal: new AbortController().signal });
    expect(String(value)).not.toContain(DB_PROD);
    expect(JSON.stringify({ value })).not.toContain(DB_PROD);
    expect(Bun.inspect(value)).not.toContain(DB_PROD);
  });

  test("a url with a trailing slash or a base path is joined cleanly", async () => {
    expect(await read(await providerFor({ url: `${pdp.url}/` }), "ZENDESK_KEY")).toBe(ZENDESK);
    expect(parseServerUrl("https://gw.example/kz/")).toBe("https://gw.example/kz");
  });

  test("field selects a key of a JSON value; two fields of one secret cost one request", async () => {
    const provider = await providerFor();
    const { result, requests } = await newRequests(() =>
      Promise.all([read(provider, "DB_JSON", "user"), read(provider, "DB_JSON", "password")]),
    );
    expect(result).toEqual([DB_JSON.user, DB_JSON.password]);
    expect(requests).toHaveLength(1);
  });

  test("nothing is cached once answered: a later fetch asks the server again", async () => {
    const provider = await providerFor();
    const { requests } = await newRequests(async () => {
      await read(provider, "DB_PROD");
      await read(provider, "DB_PROD");
    });
    expect(requests).toHaveLength(2);
  });

  test("field on a value that is not JSON, or a missing field, is named without the value", async () => {
    const provider = await providerFor();
    const notJson = await failureOf(read(provider, "DB_PROD", "password"));
    expect(notJson).toContain(`secret DB_PROD from kz server ${pdp.url} is not JSON`);
    const missing = await failureOf(read(provider, "DB_JSON", "pass"));
    expect(missing).toContain(`has no field "pass" (fields: user, password)`);
  });

  test("an empty value is an error, not an empty variable", async () => {
    expect(await failureOf(read(await providerFor(), "EMPTY"))).toBe(`kz server ${pdp.url} returned an empty value for EMPTY`);
  });
});

describe("the identity token", () => {
  test("KZ_IDENTITY_TOKEN by default", async () => {
    const { requests } = await newRequests(() => providerFor().then((p) => read(p, "DB_PROD")));
    expect(requests[0]!.headers.authorization).toBe(`Bearer ${AGENT_TOKEN}`);
  });

  test("token_env names another variable (and KZ_IDENTITY_TOKEN is then ignored)", async () => {
    const env = { AGENT_JWT: SUPPORT_TOKEN, KZ_IDENTITY_TOKEN: AGENT_TOKEN };
    const { result, requests } = await newRequests(() => providerFor({ token_env: "AGENT_JWT" }, env).then((p) => read(p, "ZENDESK_KEY")));
    expect(result).toBe(ZENDESK);
    expect(requests[0]!.headers.authorization).toBe(`Bearer ${SUPPORT_TOKEN}`);
  });

  test("token_file, relative to the config file, trimmed, wins over the variable", async () => {
    const { result, requests } = await newRequests(() => providerFor({ token_file: "agent.jwt" }).then((p) => read(p, "DB_PROD")));
    expect(result).toBe(DB_PROD);
    expect(requests[0]!.headers.authorization).toBe(`Bearer ${FILE_TOKEN}`);
  });

  test("no token: one line saying where to put it, and no request is made", async () => {
    const { result: message, requests } = await newRequests(() => failureOf(providerFor({}, {})));
    expect(message).toBe(
      `no identity token for kz server ${pdp.url}: set KZ_IDENTITY_TOKEN, or point [providers.kz] token_file at a file holding it`,
    );
    expect(requests).toHaveLength(0);
    expect(await failureOf(providerFor({ token_env: "AGENT_JWT" }, { KZ_IDENTITY_TOKEN: AGENT_TOKEN }))).toContain(
      "set AGENT_JWT (named by [providers.kz] token_env)",
    );
  });

  test("a token file that is missing or empty is named", async () => {
    expect(await failureOf(providerFor({ token_file: "nope.jwt" }))).toBe(
      `cannot read the identity token for kz server ${pdp.url} from ${join(dir, "nope.jwt")} (it does not exist) — check [providers.kz] token_file`,
    );
    expect(await failureOf(providerFor({ token_file: "empty.jwt" }))).toContain(`the identity token file ${join(dir, "empty.jwt")}`);
  });

  test("a token with inner spaces or newlines is refused without being echoed", async () => {
    const pasted = `${AGENT_TOKEN}\n${SUPPORT_TOKEN}`;
    const message = await failureOf(providerFor({}, { KZ_IDENTITY_TOKEN: pasted }));
    expect(message).toBe("the identity token in KZ_IDENTITY_TOKEN contains spaces or control characters — it should be one JWT");
  });
});

describe("the server's refusals", () => {
  test("401: identity token rejected, with the server's reason and what to do", async () => {
    const message = await failureOf(providerFor({}, { KZ_IDENTITY_TOKEN: STALE_TOKEN }).then((p) => read(p, "DB_PROD")));
    expect(message).toBe(
      `identity token rejected (token signature does not verify) (kz server ${pdp.url}, secret DB_PROD): get a fresh token / check KZ_IDENTITY_TOKEN`,
    );
    const fromFile = await failureOf(
      providerFor({ token_file: "agent.jwt" }).then((p) => {
        pdp.answerNext(401, { error: { code: "token_expired", message: "token expired 3 minutes ago" } });
        return read(p, "DB_PROD");
      }),
    );
    expect(fromFile).toBe(
      `identity token rejected (token expired 3 minutes ago) (kz server ${pdp.url}, secret DB_PROD): get a fresh token / check token file ${join(dir, "agent.jwt")}`,
    );
  });

  test("403: denied by policy, with the server's message", async () => {
    const message = await failureOf(providerFor({}, { KZ_IDENTITY_TOKEN: SUPPORT_TOKEN }).then((p) => read(p, "DB_PROD")));
    expect(message).toBe(`denied by policy: no policy allows this identity to resolve DB_PROD (kz server ${pdp.url}, secret DB_PROD)`);
    pdp.answerNext(403, { error: { code: "denied", message: "denied by policy 0 rule 1 (decision dec_1)" } });
    expect(await failureOf(providerFor().then((p) => read(p, "DB_PROD")))).toBe(
      `denied by policy: policy 0 rule 1 (decision dec_1) (kz server ${pdp.url}, secret DB_PROD)`,
    );
  });

  test("404: the server has no secret of that name", async () => {
    const message = await failureOf(providerFor().then((p) => read(p, "DB_STAGING")));
    expect(message).toBe(`the server has no secret named DB_STAGING (kz server ${pdp.url}) — check the ref against the server's bundle`);
  });

  test("503 and other 5xx name the status and the server's reason", async () => {
    const provider = await providerFor();
    pdp.answerNext(503, { error: { code: "backend_unavailable", message: "vault at vault.internal:8200 is sealed" } });
    expect(await failureOf(read(provider, "DB_PROD"))).toBe(
      `server unavailable (vault at vault.internal:8200 is sealed) (kz server ${pdp.url}, secret DB_PROD): its backend or keys are unreachable — try again later`,
    );
    pdp.answerNext(500);
    expect(await failureOf(read(provider, "DB_PROD"))).toBe(`server answered 500 (kz server ${pdp.url}, secret DB_PROD)`);
    // A failure is not cached: the next call asks again and succeeds.
    expect(await read(provider, "DB_PROD")).toBe(DB_PROD);
  });

  test("a server message that echoes the token has it cut out; long ones are bounded", async () => {
    const provider = await providerFor();
    pdp.answerNext(401, { error: { code: "invalid_token", message: `bad token ${AGENT_TOKEN} ${"x".repeat(500)}` } });
    const message = await failureOf(read(provider, "DB_PROD"));
    expect(message).toContain("bad token [token] xxx");
    expect(message.length).toBeLessThan(400);
  });

  test("a 200 without a value, or naming another secret, is refused", async () => {
    const provider = await providerFor();
    pdp.answerNext(200, { ok: true });
    expect(await failureOf(read(provider, "DB_PROD"))).toContain(`answer without a value (kz server ${pdp.url}, secret DB_PROD)`);
    pdp.answerNext(200, { name: "ZENDESK_KEY", value: ZENDESK });
    expect(await failureOf(read(provider, "DB_PROD"))).toContain("answer names a different secret");
  });

  test("a redirect is not followed: the token never reaches its target", async () => {
    const elsewhere = startPdpServer({ secrets: { DB_PROD }, identities: { [AGENT_TOKEN]: ["*"] } });
    try {
      pdp.answerNext(307, undefined, { location: `${elsewhere.url}/v1/resolve?x=1` });
      const message = await failureOf(providerFor().then((p) => read(p, "DB_PROD")));
      expect(message).toStartWith(`server redirected to ${elsewhere.url}/v1/resolve (kz server ${pdp.url}, secret DB_PROD)`);
      expect(elsewhere.requests).toHaveLength(0);
    } finally {
      elsewhere.stop();
    }
  });
});

describe("transport", () => {
  test("connection refused: cannot reach kz server at URL", async () => {
    const gone = startPdpServer({ secrets: {}, identities: {} });
    const url = gone.url;
    gone.stop();
    const message = await failureOf(providerFor({ url }).then((p) => read(p, "DB_PROD")));
    expect(message).toBe(`cannot reach kz server at ${url} (ECONNREFUSED) resolving DB_PROD — check [providers.kz] url and that the server is running`);
  });

  test("plain http to another host is refused before any request, pointing at https", async () => {
    for (const url of ["http://pdp.example:8080", "http://10.0.0.7:8080", "http://127.0.0.1.nip.io:8080"]) {
      const message = await failureOf(providerFor({ url }));
      expect(message).toContain(`[providers.kz] url ${url} is plain http`);
      expect(message).toContain("use https://");
    }
  });

  test("loopback addresses may use plain http", () => {
    const loopback = (host: string) => isLoopbackName(new URL(`http://${host}:1/`).hostname);
    for (const host of ["localhost", "LOCALHOST.", "127.0.0.1", "127.3.2.1", "[::1]"]) expect({ host, ok: loopback(host) }).toEqual({ host, ok: true });
    for (const host of ["10.0.0.1", "localhost.example", "api.localhost", "128.0.0.1", "[::2]", "[::ffff:10.0.0.1]"]) {
      expect({ host, ok: loopback(host) }).toEqual({ host, ok: false });
    }
    expect(parseServerUrl("http://127.1:8080")).toBe("http://127.0.0.1:8080");
  });

  test("a missing or odd url is named", async () => {
    expect(await failureOf(Promise.resolve().then(() => createKzProvider({ settings: {}, env: {}, configDir: dir })))).toContain(
      "[providers.kz] url is not set",
    );
    expect(await failureOf(providerFor({ url: "kz.internal:8080" }))).toContain("must start with https://");
    expect(await failureOf(providerFor({ url: "not a url" }))).toContain("is not a URL");
    expect(await failureOf(providerFor({ url: `https://user:${AGENT_TOKEN}@pdp.example` }))).toContain("must not contain a user name or password");
    expect(await failureOf(providerFor({ url: "https://pdp.example/?token=x" }))).toContain("must not have a query");
  });
});

describe("TLS with a private CA", () => {
  let tlsPdp: PdpServer;
  let certDir: string;

  beforeAll(() => {
    certDir = mkdtempSync(join(tmpdir(), "kz-provider-kz-tls-"));
    const { cert, key } = makeCertificates(certDir);
    tlsPdp = startPdpServer({ secrets: { DB_PROD }, identities: { [AGENT_TOKEN]: ["*"] }, tls: { cert, key } });
  });

  afterAll(() => {
    tlsPdp.stop();
    rmSync(certDir, { recursive: true, force: true });
  });

  const tlsProvider = (settings: Settings) =>
    Promise.resolve().then(() =>
      createKzProvider({ settings: { url: tlsPdp.url, ...settings }, env: { KZ_IDENTITY_TOKEN: AGENT_TOKEN }, configDir: certDir }),
    );

  test("ca_file, relative to the config file, makes the server trusted", async () => {
    expect(tlsPdp.url).toStartWith("https://127.0.0.1:");
    expect(await read(await tlsProvider({ ca_file: "ca.pem" }), "DB_PROD")).toBe(DB_PROD);
  });

  test("without it: a TLS message pointing at ca_file, and the token is not sent", async () => {
    const before = tlsPdp.requests.length;
    const message = await failureOf(tlsProvider({}).then((p) => read(p, "DB_PROD")));
    expect(message).toStartWith(`cannot verify the TLS certificate of kz server ${tlsPdp.url}`);
    expect(message).toContain("[providers.kz] ca_file");
    expect(tlsPdp.requests.length).toBe(before);
  });

  test("a ca_file that is missing or not PEM is named", async () => {
    expect(await failureOf(tlsProvider({ ca_file: "missing.pem" }))).toContain("(it does not exist) — check [providers.kz] ca_file");
    expect(await failureOf(tlsProvider({ ca_file: "server.key" }))).toContain("is not a PEM certificate");
  });
});

describe("from .keyzero.toml", () => {
  test("[providers.kz] and a kz secret resolve through resolveSecrets; failures name the secret", async () => {
    const project = mkdtempSync(join(dir, "project-"));
    writeFileSync(
      join(project, ".keyzero.toml"),
      `[providers.kz]
url = "${pdp.url}"
token_file = "../agent.jwt"
timeout_ms = 5000

[secrets]
DB_PROD = { provider = "kz" }
SHORT = "kz://DB_PROD"
ZENDESK_KEY = { provider = "kz", ref = "ZENDESK_KEY" }
`,
    );
    const config = loadConfig({ cwd: project, env: {} });
    expect(config.secrets.map((s) => [s.name, s.provider, s.ref])).toEqual([
      ["DB_PROD", "kz", "DB_PROD"],
      ["SHORT", "kz", "DB_PROD"],
      ["ZENDESK_KEY", "kz", "ZENDESK_KEY"],
    ]);
    const { values, failures } = await resolveSecrets(config, config.secrets, { env: {} });
    expect(values.get("DB_PROD")?.reveal()).toBe(DB_PROD);
    expect(values.get("SHORT")?.reveal()).toBe(DB_PROD);
    expect(failures.map(describeFailure)).toEqual([
      `ZENDESK_KEY (kz ZENDESK_KEY): denied by policy: no policy allows this identity to resolve ZENDESK_KEY (kz server ${pdp.url}, secret ZENDESK_KEY)`,
    ]);
  });

  test("an unknown key under [providers.kz] is a config error naming it", () => {
    const project = mkdtempSync(join(dir, "project-"));
    writeFileSync(join(project, ".keyzero.toml"), `[providers.kz]\nurl = "${pdp.url}"\ntoken = "${AGENT_TOKEN}"\n`);
    let message = "";
    try {
      loadConfig({ cwd: project, env: {} });
    } catch (e) {
      message = (e as Error).message;
    }
    expect(message).toContain(`providers.kz.token: unknown key "token"`);
    expect(message).not.toContain(AGENT_TOKEN);
  });
});

/** A throwaway CA and a server certificate for 127.0.0.1/localhost signed by it, made with openssl. */
function makeCertificates(certDir: string): { cert: string; key: string } {
  const openssl = (...args: string[]) => {
    const run = Bun.spawnSync(["openssl", ...args], { cwd: certDir, stderr: "pipe" });
    if (run.exitCode !== 0) throw new Error(`openssl ${args[0]} failed: ${run.stderr.toString()}`);
  };
  writeFileSync(join(certDir, "server.ext"), "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n");
  openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "ca.key", "-out", "ca.pem",
    "-days", "1", "-subj", "/CN=kz test CA", "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign");
  openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=localhost");
  openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-out", "server.pem",
    "-days", "1", "-extfile", "server.ext");
  return { cert: readFileSync(join(certDir, "server.pem"), "utf8"), key: readFileSync(join(certDir, "server.key"), "utf8") };
}
