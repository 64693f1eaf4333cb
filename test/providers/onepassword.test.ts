// The 1password provider against real stand-ins: test/servers/op (an executable answering `op read` like
// the 1Password CLI, put first on PATH) and test/servers/onepassword-connect.ts (a Connect REST server on
// 127.0.0.1). Every failure is checked for leaking a value or a token.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describeOpFailure } from "../../src/providers/onepassword-cli.ts";
import createOnePasswordProvider, { parseOpRef } from "../../src/providers/onepassword.ts";
import type { ProviderContext } from "../../src/providers/types.ts";
import { connectId, startFakeConnect, type FakeConnect, type FakeConnectVault } from "../servers/onepassword-connect.ts";
import { providerFailure } from "../helpers/provider-failure.ts";
import { fakeOpDir } from "../servers/fake-op.ts";

// The fake `op`, runnable without a `bun` on PATH (test/servers/fake-op.ts).
const FAKE_OP_DIR = fakeOpDir();

const OPENAI_KEY = "sk-fake-openai-key-0001";
const DB_USER = "fake-db-user-0002";
const DB_PASSWORD = "fake-db-password-0003";
const DB_PROD_PASSWORD = "fake-db-prod-password-0004";
const DB_STAGING_PASSWORD = "fake-db-staging-password-0005";
const DB_PROD_HOST = "fake-db-prod-host-0006";
const CLIENT_SECRET = "fake-client-secret-0007";
const CLIENT_JSON = JSON.stringify({ client_id: "fake-client-id-0008", client_secret: CLIENT_SECRET });
const PEM_LIKE = "fake-multiline-first-0009\nfake-multiline-second-0010";
const DEPLOY_KEY = "fake-deploy-key-0011";
const SERVICE_ACCOUNT_TOKEN = "ops_fake-service-account-token-0001";
const CONNECT_TOKEN = "fake-connect-token-0001";
const SCOPED_TOKEN = "fake-connect-token-scoped-0002";
const WRONG_TOKEN = "fake-connect-token-wrong-9999";
const ACCOUNT = "work.example.1password.com";

/** Nothing a failure message may contain. */
const NEVER_SHOWN = [
  OPENAI_KEY,
  DB_USER,
  DB_PASSWORD,
  DB_PROD_PASSWORD,
  DB_STAGING_PASSWORD,
  DB_PROD_HOST,
  CLIENT_SECRET,
  "fake-multiline-first-0009",
  DEPLOY_KEY,
  SERVICE_ACCOUNT_TOKEN,
  CONNECT_TOKEN,
  SCOPED_TOKEN,
  WRONG_TOKEN,
];

let work: string;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), "kz-1password-"));
});

afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

async function fetchValue(ctx: ProviderContext, ref: string, field?: string, signal = new AbortController().signal): Promise<string> {
  const provider = await createOnePasswordProvider(ctx);
  return (await provider.fetch({ name: "SECRET", ref, field, signal })).reveal();
}

/** The ProviderError a failing call raised; asserts it shows no value or token. */
const failureOf = (attempt: () => Promise<unknown>): Promise<string> => providerFailure(attempt(), NEVER_SHOWN);

describe("op references", () => {
  test("parses the three- and four-segment forms", () => {
    expect(parseOpRef("op://Dev/OpenAI/api-key")).toMatchObject({ vault: "Dev", item: "OpenAI", field: "api-key", section: undefined });
    expect(parseOpRef("op://Dev/Database/prod/password")).toMatchObject({ item: "Database", section: "prod", field: "password" });
    expect(parseOpRef("op://Dev/Totp/one-time password?attribute=otp")).toMatchObject({
      field: "one-time password",
      query: "attribute=otp",
      text: "op://Dev/Totp/one-time password?attribute=otp",
    });
  });

  test("a field completes a two-segment ref and selects a JSON key of a full one", () => {
    expect(parseOpRef("op://Dev/OpenAI", "api-key")).toMatchObject({ field: "api-key", text: "op://Dev/OpenAI/api-key", jsonKey: undefined });
    expect(parseOpRef("op://Dev/Client/json", "client_secret")).toMatchObject({ field: "json", jsonKey: "client_secret" });
  });

  test("rejects malformed refs with the expected forms", () => {
    for (const bad of ["Dev/OpenAI/api-key", "op://Dev/OpenAI", "op://Dev//api-key", "op://a/b/c/d/e"]) {
      expect(() => parseOpRef(bad)).toThrow(/op:\/\/vault\/item\/field/);
    }
  });
});

describe("op CLI failure messages", () => {
  test("keeps op's reason and drops its timestamp", () => {
    const reason = describeOpFailure('[ERROR] 2024/01/01 12:00:00 "X" isn\'t an item in the "Dev" vault.\n', 1);
    expect(reason).toBe('1Password CLI: "X" isn\'t an item in the "Dev" vault.');
  });

  test("recognises a signed-out CLI", () => {
    const reason = describeOpFailure("[ERROR] 2024/01/01 12:00:00 You are not currently signed in. Please run `op signin --help` for instructions", 1);
    expect(reason).toContain("not signed in — run `op signin` or set OP_SERVICE_ACCOUNT_TOKEN");
  });

  test("without an [ERROR] line, names the exit status or signal", () => {
    expect(describeOpFailure("", 3)).toBe("op read exited with status 3");
    expect(describeOpFailure("segfault somewhere\n", 139, "SIGSEGV")).toBe("op read was killed by SIGSEGV: segfault somewhere");
  });
});

describe("1password through the op CLI", () => {
  let fixturePath: string;
  let logCount = 0;

  const fixture = (extra: object = {}) => ({
    accounts: [ACCOUNT],
    vaults: [
      {
        name: "Dev",
        items: [
          { title: "OpenAI", fields: [{ label: "api-key", value: OPENAI_KEY }] },
          {
            title: "Database",
            fields: [
              { label: "username", value: DB_USER },
              { label: "password", value: DB_PROD_PASSWORD, section: "prod" },
              { label: "password", value: DB_STAGING_PASSWORD, section: "staging" },
            ],
          },
          { title: "Client", fields: [{ label: "json", value: CLIENT_JSON }] },
          { title: "Cert", fields: [{ label: "pem", value: `${PEM_LIKE}\n` }] },
        ],
      },
    ],
    ...extra,
  });

  async function writeFixture(name: string, content: object): Promise<string> {
    const path = join(work, `${name}.json`);
    await writeFile(path, JSON.stringify(content));
    return path;
  }

  beforeAll(async () => {
    fixturePath = await writeFixture("op-fixture", fixture());
  });

  /** A context whose PATH starts with the fake `op`, logging its argv to a fresh file. */
  function cliContext(options: { settings?: Record<string, unknown>; env?: Record<string, string>; fixture?: string } = {}) {
    const argvLog = join(work, `argv-${++logCount}.jsonl`);
    const ctx: ProviderContext = {
      settings: options.settings ?? {},
      env: {
        PATH: `${FAKE_OP_DIR}:${process.env.PATH}`,
        KZ_FAKE_OP_FIXTURE: options.fixture ?? fixturePath,
        KZ_FAKE_OP_ARGV_LOG: argvLog,
        ...options.env,
      },
      configDir: work,
    };
    const argvs = async (): Promise<string[][]> =>
      (await readFile(argvLog, "utf8"))
        .trim()
        .split("\n")
        .map((line) => (JSON.parse(line) as { argv: string[] }).argv);
    return { ctx, argvs };
  }

  test("reads a field with `op read --no-newline`, value without a trailing newline", async () => {
    const { ctx, argvs } = cliContext();
    const value = await fetchValue(ctx, "op://Dev/OpenAI/api-key");
    expect(value).toBe(OPENAI_KEY);
    expect(await argvs()).toEqual([["read", "--no-newline", "op://Dev/OpenAI/api-key"]]);
  });

  test("reads a field inside a section", async () => {
    const { ctx } = cliContext();
    expect(await fetchValue(ctx, "op://Dev/Database/prod/password")).toBe(DB_PROD_PASSWORD);
    expect(await fetchValue(ctx, "op://Dev/Database/staging/password")).toBe(DB_STAGING_PASSWORD);
  });

  test("a two-segment ref takes its field from `field`; a full ref's `field` selects a JSON key", async () => {
    const { ctx, argvs } = cliContext();
    expect(await fetchValue(ctx, "op://Dev/OpenAI", "api-key")).toBe(OPENAI_KEY);
    expect(await fetchValue(ctx, "op://Dev/Client/json", "client_secret")).toBe(CLIENT_SECRET);
    expect((await argvs()).map((a) => a.at(-1))).toEqual(["op://Dev/OpenAI/api-key", "op://Dev/Client/json"]);
  });

  test("strips one trailing newline and keeps the value's inner newlines", async () => {
    const { ctx } = cliContext();
    expect(await fetchValue(ctx, "op://Dev/Cert/pem")).toBe(PEM_LIKE);
  });

  test("a missing item passes op's own error through without its timestamp", async () => {
    const { ctx } = cliContext();
    const message = await failureOf(() => fetchValue(ctx, "op://Dev/Nope/api-key"));
    expect(message).toBe(
      `1Password CLI: could not read secret 'op://Dev/Nope/api-key': "Nope" isn't an item in the "Dev" vault. Specify the item with its UUID, name, or domain.`,
    );
  });

  test("a missing field passes op's own error through", async () => {
    const { ctx } = cliContext();
    const message = await failureOf(() => fetchValue(ctx, "op://Dev/Database/nope"));
    expect(message).toContain("item 'Dev/Database' does not have a field 'nope'");
    expect(message).not.toMatch(/\[ERROR\]|\d{4}\/\d{2}\/\d{2}/);
  });

  test("a signed-out CLI says how to sign in", async () => {
    const signedOut = await writeFixture("op-signed-out", fixture({ signedIn: false }));
    const { ctx } = cliContext({ fixture: signedOut });
    const message = await failureOf(() => fetchValue(ctx, "op://Dev/OpenAI/api-key"));
    expect(message).toBe("the 1Password CLI is not signed in — run `op signin` or set OP_SERVICE_ACCOUNT_TOKEN");
  });

  test("passes the environment through, so OP_SERVICE_ACCOUNT_TOKEN signs op in", async () => {
    const serviceAccount = await writeFixture("op-service-account", fixture({ serviceAccountToken: SERVICE_ACCOUNT_TOKEN }));
    const withToken = cliContext({ fixture: serviceAccount, env: { OP_SERVICE_ACCOUNT_TOKEN: SERVICE_ACCOUNT_TOKEN } });
    expect(await fetchValue(withToken.ctx, "op://Dev/OpenAI/api-key")).toBe(OPENAI_KEY);

    const withoutToken = cliContext({ fixture: serviceAccount });
    expect(await failureOf(() => fetchValue(withoutToken.ctx, "op://Dev/OpenAI/api-key"))).toContain("not signed in");
  });

  test("op missing from PATH is a clear error", async () => {
    const emptyDir = join(work, "empty-bin");
    await mkdir(emptyDir, { recursive: true });
    const { ctx } = cliContext({ env: { PATH: emptyDir } });
    const message = await failureOf(() => fetchValue(ctx, "op://Dev/OpenAI/api-key"));
    expect(message).toBe("the 1Password CLI `op` is not on PATH — install it or set [providers.1password] connect_host");
  });

  test("op_path overrides the executable, relative to the config dir", async () => {
    const emptyDir = join(work, "empty-bin");
    await mkdir(emptyDir, { recursive: true });
    const absolute = cliContext({ settings: { op_path: join(FAKE_OP_DIR, "op") }, env: { PATH: `${emptyDir}:${process.env.PATH}` } });
    expect(await fetchValue(absolute.ctx, "op://Dev/OpenAI/api-key")).toBe(OPENAI_KEY);

    const relative = cliContext({ settings: { op_path: "../op" } });
    relative.ctx.configDir = join(FAKE_OP_DIR, "config");
    expect(await fetchValue(relative.ctx, "op://Dev/OpenAI/api-key")).toBe(OPENAI_KEY);

    const missing = cliContext({ settings: { op_path: "./no-such-op" } });
    expect(await failureOf(() => fetchValue(missing.ctx, "op://Dev/OpenAI/api-key"))).toContain("no-such-op does not exist");
  });

  test("the account setting is passed as --account", async () => {
    const { ctx, argvs } = cliContext({ settings: { account: ACCOUNT } });
    expect(await fetchValue(ctx, "op://Dev/OpenAI/api-key")).toBe(OPENAI_KEY);
    expect(await argvs()).toEqual([["read", "--no-newline", "--account", ACCOUNT, "op://Dev/OpenAI/api-key"]]);

    const unknown = cliContext({ settings: { account: "other.example.1password.com" } });
    const message = await failureOf(() => fetchValue(unknown.ctx, "op://Dev/OpenAI/api-key"));
    expect(message).toBe('1Password CLI: no account found for filter "other.example.1password.com"');
  });

  test("several secrets resolve concurrently, one op child each", async () => {
    // The fake holds every read until three have started, so sequential reads would never finish.
    const refs = ["op://Dev/OpenAI/api-key", "op://Dev/Database/username", "op://Dev/Database/prod/password"];
    const { ctx, argvs } = cliContext({ env: { KZ_FAKE_OP_BARRIER_DIR: join(work, "barrier"), KZ_FAKE_OP_BARRIER_COUNT: "3" } });
    const provider = await createOnePasswordProvider(ctx);
    const signal = new AbortController().signal;
    const values = await Promise.all(refs.map((ref) => provider.fetch({ name: "S", ref, signal })));
    expect(values.map((v) => v.reveal())).toEqual([OPENAI_KEY, DB_USER, DB_PROD_PASSWORD]);
    expect((await argvs()).map((a) => a.at(-1)).sort()).toEqual([...refs].sort());
  });

  test("an abort kills the op child", async () => {
    let started!: (pid: number) => void;
    const childStarted = new Promise<number>((resolve) => (started = resolve));
    const notify = Bun.serve({
      hostname: "127.0.0.1",
      port: 0,
      async fetch(req) {
        started(((await req.json()) as { pid: number }).pid);
        return new Response("ok");
      },
    });
    try {
      const { ctx } = cliContext({ env: { KZ_FAKE_OP_HANG_ITEM: "OpenAI", KZ_FAKE_OP_NOTIFY_URL: `http://127.0.0.1:${notify.port}/` } });
      const controller = new AbortController();
      const pending = fetchValue(ctx, "op://Dev/OpenAI/api-key", undefined, controller.signal);
      const pid = await childStarted;
      controller.abort();
      await expect(pending).rejects.toThrow();
      expect(() => process.kill(pid, 0)).toThrow();
    } finally {
      await notify.stop(true);
    }
  });
});

describe("1password through Connect", () => {
  const devId = connectId("devvault");
  const opsId = connectId("opsvault");
  const openAiId = connectId("openaiitem");
  const databaseId = connectId("databaseitem");
  const vaults: FakeConnectVault[] = [
    {
      id: devId,
      name: "Dev",
      items: [
        { id: openAiId, title: "OpenAI", fields: [{ id: "credential", label: "api-key", value: OPENAI_KEY }] },
        {
          id: databaseId,
          title: "Database",
          category: "DATABASE",
          sections: [
            { id: "prodsection", label: "prod" },
            { id: "stagingsection", label: "staging" },
          ],
          fields: [
            { id: "username", label: "username", value: DB_USER, type: "STRING", purpose: "USERNAME" },
            { id: "password", label: "password", value: DB_PASSWORD, purpose: "PASSWORD" },
            { id: "prodpassword", label: "password", value: DB_PROD_PASSWORD, section: "prodsection" },
            { id: "prodhost", label: "host", value: DB_PROD_HOST, type: "STRING", section: "prodsection" },
            { id: "stagingpassword", label: "password", value: DB_STAGING_PASSWORD, section: "stagingsection" },
          ],
        },
        { id: connectId("olditem"), title: "Old", state: "ARCHIVED", fields: [{ id: "k", label: "key", value: OPENAI_KEY }] },
        {
          id: connectId("twinsitem"),
          title: "Twins",
          sections: [
            { id: "blue", label: "blue" },
            { id: "green", label: "green" },
          ],
          fields: [
            { id: "bluetoken", label: "token", value: DB_PROD_PASSWORD, section: "blue" },
            { id: "greentoken", label: "token", value: DB_STAGING_PASSWORD, section: "green" },
            { id: "blank", label: "blank" },
          ],
        },
      ],
    },
    { id: opsId, name: "Ops", items: [{ id: connectId("deployitem"), title: "Deploy", fields: [{ id: "k", label: "key", value: DEPLOY_KEY }] }] },
  ];
  let connect: FakeConnect;

  beforeAll(() => {
    connect = startFakeConnect({ vaults, tokens: { [CONNECT_TOKEN]: "all", [SCOPED_TOKEN]: [devId] } });
  });

  afterAll(async () => {
    await connect.stop();
  });

  /** A context pointing at the fake Connect server; PATH is empty, so the CLI cannot be what answers. */
  function connectContext(options: { settings?: Record<string, unknown>; env?: Record<string, string | undefined>; host?: string } = {}): ProviderContext {
    return {
      settings: { connect_host: options.host ?? connect.url, ...options.settings },
      env: { PATH: "", OP_CONNECT_TOKEN: CONNECT_TOKEN, ...options.env },
      configDir: work,
    };
  }

  test("looks up the vault by name and the item by title, then reads the field", async () => {
    const before = connect.requests.length;
    expect(await fetchValue(connectContext(), "op://Dev/OpenAI/api-key")).toBe(OPENAI_KEY);
    const made = connect.requests.slice(before);
    expect(made.map((r) => [r.path, r.filter])).toEqual([
      ["/v1/vaults", 'name eq "Dev"'],
      [`/v1/vaults/${devId}/items`, 'title eq "OpenAI"'],
      [`/v1/vaults/${devId}/items/${openAiId}`, undefined],
    ]);
    expect(made.every((r) => r.authorized)).toBe(true);
  });

  test("picks the field inside the named section, or the unsectioned one", async () => {
    const ctx = connectContext();
    expect(await fetchValue(ctx, "op://Dev/Database/prod/password")).toBe(DB_PROD_PASSWORD);
    expect(await fetchValue(ctx, "op://Dev/Database/staging/password")).toBe(DB_STAGING_PASSWORD);
    expect(await fetchValue(ctx, "op://Dev/Database/password")).toBe(DB_PASSWORD);
    expect(await fetchValue(ctx, "op://Dev/Database/PROD/Host")).toBe(DB_PROD_HOST);
  });

  test("matches a field by id, and vaults and items by id", async () => {
    expect(await fetchValue(connectContext(), "op://Dev/OpenAI/credential")).toBe(OPENAI_KEY);
    expect(await fetchValue(connectContext(), `op://${devId}/${openAiId}/api-key`)).toBe(OPENAI_KEY);
  });

  test("names match in any case, as with the op CLI", async () => {
    expect(await fetchValue(connectContext(), "op://dev/openai/API-KEY")).toBe(OPENAI_KEY);
  });

  test("a label in several sections must be qualified by its section", async () => {
    const message = await failureOf(() => fetchValue(connectContext(), "op://Dev/Twins/token"));
    expect(message).toBe(
      'item "Twins" in vault "Dev" has several fields "token" (in sections: blue, green) — name the section: op://vault/item/section/field',
    );
    expect(await fetchValue(connectContext(), "op://Dev/Twins/green/token")).toBe(DB_STAGING_PASSWORD);
  });

  test("a field without a value is reported empty", async () => {
    expect(await failureOf(() => fetchValue(connectContext(), "op://Dev/Twins/blank"))).toBe("1Password field op://Dev/Twins/blank is empty");
  });

  test("an item is fetched once for two of its fields", async () => {
    const provider = await createOnePasswordProvider(connectContext());
    const itemPath = `/v1/vaults/${devId}/items/${databaseId}`;
    const [vaultLists, itemLists, itemGets] = [connect.count("/v1/vaults"), connect.count(`/v1/vaults/${devId}/items`), connect.count(itemPath)];
    const signal = new AbortController().signal;
    const [user, host] = await Promise.all([
      provider.fetch({ name: "DB_USER", ref: "op://Dev/Database/username", signal }),
      provider.fetch({ name: "DB_HOST", ref: "op://Dev/Database/prod/host", signal }),
    ]);
    const password = await provider.fetch({ name: "DB_PASSWORD", ref: "op://Dev/Database/prod/password", signal });
    expect([user.reveal(), host.reveal(), password.reveal()]).toEqual([DB_USER, DB_PROD_HOST, DB_PROD_PASSWORD]);
    expect(connect.count("/v1/vaults") - vaultLists).toBe(1);
    expect(connect.count(`/v1/vaults/${devId}/items`) - itemLists).toBe(1);
    expect(connect.count(itemPath) - itemGets).toBe(1);
  });

  test("different items are fetched concurrently", async () => {
    // This server answers item GETs only once two are waiting together.
    const gated = startFakeConnect({ vaults, tokens: { [CONNECT_TOKEN]: "all" }, itemBarrier: 2 });
    try {
      const provider = await createOnePasswordProvider(connectContext({ host: gated.url }));
      const signal = new AbortController().signal;
      const values = await Promise.all([
        provider.fetch({ name: "A", ref: "op://Dev/OpenAI/api-key", signal }),
        provider.fetch({ name: "B", ref: "op://Dev/Database/username", signal }),
      ]);
      expect(values.map((v) => v.reveal())).toEqual([OPENAI_KEY, DB_USER]);
    } finally {
      await gated.stop();
    }
  });

  test("a missing field lists the item's field labels", async () => {
    const message = await failureOf(() => fetchValue(connectContext(), "op://Dev/Database/nope"));
    expect(message).toBe('item "Database" in vault "Dev" has no field "nope" (fields: username, password, host)');
    const inSection = await failureOf(() => fetchValue(connectContext(), "op://Dev/Database/prod/username"));
    expect(inSection).toBe('item "Database" in vault "Dev" has no field "username" in section "prod" (fields: password, host)');
  });

  test("a missing section lists the item's sections", async () => {
    const message = await failureOf(() => fetchValue(connectContext(), "op://Dev/Database/qa/password"));
    expect(message).toBe('item "Database" in vault "Dev" has no section "qa" (sections: prod, staging)');
  });

  test("missing vaults and items are named; archived items do not count", async () => {
    expect(await failureOf(() => fetchValue(connectContext(), "op://Nope/OpenAI/api-key"))).toContain('vault "Nope" was not found');
    expect(await failureOf(() => fetchValue(connectContext(), "op://Dev/Nope/api-key"))).toBe(
      'item "Nope" in vault "Dev" was not found in 1Password Connect',
    );
    expect(await failureOf(() => fetchValue(connectContext(), "op://Dev/Old/key"))).toContain('item "Old" in vault "Dev" was not found');
  });

  test("a bad token is reported as such, without the token", async () => {
    const message = await failureOf(() => fetchValue(connectContext({ env: { OP_CONNECT_TOKEN: WRONG_TOKEN } }), "op://Dev/OpenAI/api-key"));
    expect(message).toBe(
      "1Password Connect rejected the token in OP_CONNECT_TOKEN (Invalid token signature) — check that it is a valid Connect token",
    );
  });

  test("a vault outside the token's scope is a 403 naming the vault", async () => {
    const scoped = connectContext({ env: { OP_CONNECT_TOKEN: SCOPED_TOKEN } });
    expect(await fetchValue(scoped, "op://Dev/OpenAI/api-key")).toBe(OPENAI_KEY);
    const byId = await failureOf(() => fetchValue(scoped, `op://${opsId}/Deploy/key`));
    expect(byId).toBe(
      `1Password Connect denied access to item "Deploy" in vault "${opsId}" (vault ${opsId} is not in scope) — give the Connect token access to that vault`,
    );
    expect(await failureOf(() => fetchValue(scoped, "op://Ops/Deploy/key"))).toContain('vault "Ops" was not found');
  });

  test("a missing token is a clear error; connect_token_env names another variable", async () => {
    const message = await failureOf(() => fetchValue(connectContext({ env: { OP_CONNECT_TOKEN: undefined } }), "op://Dev/OpenAI/api-key"));
    expect(message).toBe(`1Password Connect (${connect.url}) needs a token: set OP_CONNECT_TOKEN (or [providers.1password] connect_token_env)`);

    const custom = connectContext({ settings: { connect_token_env: "KZ_TEST_OP_TOKEN" }, env: { OP_CONNECT_TOKEN: undefined, KZ_TEST_OP_TOKEN: CONNECT_TOKEN } });
    expect(await fetchValue(custom, "op://Dev/OpenAI/api-key")).toBe(OPENAI_KEY);
  });

  test("OP_CONNECT_HOST in the environment selects Connect", async () => {
    const ctx: ProviderContext = { settings: {}, env: { PATH: "", OP_CONNECT_HOST: connect.url, OP_CONNECT_TOKEN: CONNECT_TOKEN }, configDir: work };
    expect(await fetchValue(ctx, "op://Dev/Database/prod/password")).toBe(DB_PROD_PASSWORD);
  });

  test("an unreachable Connect server is named", async () => {
    const gone = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response("") });
    const url = `http://127.0.0.1:${gone.port}`;
    await gone.stop(true);
    const message = await failureOf(() => fetchValue(connectContext({ host: url }), "op://Dev/OpenAI/api-key"));
    expect(message).toStartWith(`cannot reach 1Password Connect at ${url}`);
  });

  test("query parameters need the CLI", async () => {
    const message = await failureOf(() => fetchValue(connectContext(), "op://Dev/OpenAI/api-key?attribute=otp"));
    expect(message).toContain("need the op CLI");
  });
});
