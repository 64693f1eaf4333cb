// aws-sm provider against test/servers/aws-sm.ts through the real AWS SDK client: values, JSON fields,
// version stages, binary secrets, the error messages for each AWS failure, and proof that the server's
// SigV4 verification really refuses a request signed with the wrong key.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import createAwsSmProvider, { awsSmOptions } from "../../src/providers/aws-sm.ts";
import type { SecretRequest } from "../../src/providers/types.ts";
import { startAwsSmServer, type AwsSmServer } from "../servers/aws-sm.ts";
import { providerFailure } from "../helpers/provider-failure.ts";

const REGION = "eu-west-3";
const ACCESS_KEY_ID = "AKIAFAKE0000EXAMPLE";
const SECRET_ACCESS_KEY = "fakeSecretKeyForTestsOnly0000000000000000";
const CREDENTIALS_ENV = { AWS_ACCESS_KEY_ID: ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY: SECRET_ACCESS_KEY };

const CURRENT = "xoxb-fake-current-0001";
const PREVIOUS = "xoxb-fake-previous-0001";
const DB = { username: "kz-app", password: "fake-db-password-0001", port: 5432 };
const BINARY = "fake-binary-secret-0001";
const BINARY_JSON = { token: "fake-binary-token-0001" };
const ALL_VALUES = [CURRENT, PREVIOUS, DB.password, BINARY, BINARY_JSON.token, SECRET_ACCESS_KEY];

const utf8 = (text: string) => new TextEncoder().encode(text);

let server: AwsSmServer;

beforeAll(() => {
  server = startAwsSmServer({
    region: REGION,
    credentials: [{ accessKeyId: ACCESS_KEY_ID, secretAccessKey: SECRET_ACCESS_KEY }],
    secrets: [
      {
        name: "prod/slack-bot-token",
        versions: [
          { versionId: "v2", stages: ["AWSCURRENT"], string: CURRENT },
          { versionId: "v1", stages: ["AWSPREVIOUS"], string: PREVIOUS },
        ],
      },
      { name: "prod/db", versions: [{ versionId: "v1", stages: ["AWSCURRENT"], string: JSON.stringify(DB) }] },
      { name: "prod/binary", versions: [{ versionId: "v1", stages: ["AWSCURRENT"], binary: utf8(BINARY) }] },
      { name: "prod/binary-json", versions: [{ versionId: "v1", stages: ["AWSCURRENT"], binary: utf8(JSON.stringify(BINARY_JSON)) }] },
      { name: "prod/not-text", versions: [{ versionId: "v1", stages: ["AWSCURRENT"], binary: new Uint8Array([0xff, 0xfe, 0x00, 0x80]) }] },
      { name: "prod/denied", error: "AccessDeniedException" },
      { name: "prod/undecryptable", error: "DecryptionFailure" },
      { name: "prod/deleted", error: "InvalidRequestException" },
      { name: "prod/slow", hang: true },
    ],
  });
});

afterAll(() => server.stop());

interface Call {
  settings?: Record<string, unknown>;
  env?: Record<string, string | undefined>;
  signal?: AbortSignal;
}

async function fetchSecret(request: Partial<SecretRequest> & { ref: string }, call: Call = {}): Promise<string> {
  const provider = await createAwsSmProvider({
    settings: call.settings ?? { region: REGION, endpoint: server.url },
    env: call.env ?? CREDENTIALS_ENV,
    configDir: "/nonexistent",
  });
  const value = await provider.fetch({ name: "TEST", signal: call.signal ?? new AbortController().signal, ...request });
  return value.reveal();
}

const failureOf = (promise: Promise<unknown>): Promise<string> => providerFailure(promise, ALL_VALUES);

describe("values", () => {
  test("a plain SecretString, current stage by default", async () => {
    expect(await fetchSecret({ ref: "prod/slack-bot-token" })).toBe(CURRENT);
  });

  test("one field of a JSON secret, by ARN", async () => {
    expect(await fetchSecret({ ref: server.arnOf("prod/db"), field: "password" })).toBe(DB.password);
    expect(await fetchSecret({ ref: "prod/db", field: "port" })).toBe("5432");
  });

  test("version_stage AWSPREVIOUS", async () => {
    expect(await fetchSecret({ ref: "prod/slack-bot-token", versionStage: "AWSPREVIOUS" })).toBe(PREVIOUS);
  });

  test("a SecretBinary is decoded as UTF-8, and parsed as JSON with a field", async () => {
    expect(await fetchSecret({ ref: "prod/binary" })).toBe(BINARY);
    expect(await fetchSecret({ ref: "prod/binary-json", field: "token" })).toBe(BINARY_JSON.token);
  });

  test("endpoint from AWS_ENDPOINT_URL and region from AWS_DEFAULT_REGION in the context env", async () => {
    const env = { ...CREDENTIALS_ENV, AWS_ENDPOINT_URL: server.url, AWS_DEFAULT_REGION: REGION };
    expect(await fetchSecret({ ref: "prod/slack-bot-token" }, { settings: {}, env })).toBe(CURRENT);
  });

  test("one client per provider serves several fetches", async () => {
    const provider = await createAwsSmProvider({ settings: { region: REGION, endpoint: server.url }, env: CREDENTIALS_ENV, configDir: "/" });
    const signal = new AbortController().signal;
    const [a, b] = await Promise.all([
      provider.fetch({ name: "A", ref: "prod/slack-bot-token", signal }),
      provider.fetch({ name: "B", ref: "prod/db", field: "username", signal }),
    ]);
    expect([a.reveal(), b.reveal()]).toEqual([CURRENT, DB.username]);
  });
});

describe("errors", () => {
  test("a missing field lists the field names", async () => {
    const message = await failureOf(fetchSecret({ ref: "prod/db", field: "pasword" }));
    expect(message).toContain('no field "pasword"');
    expect(message).toContain("username, password, port");
  });

  test("field on a secret that is not JSON", async () => {
    expect(await failureOf(fetchSecret({ ref: "prod/slack-bot-token", field: "token" }))).toContain("is not JSON");
  });

  test("binary that is not UTF-8", async () => {
    expect(await failureOf(fetchSecret({ ref: "prod/not-text" }))).toContain("not UTF-8");
  });

  test("not found names the secret and the region", async () => {
    expect(await failureOf(fetchSecret({ ref: "prod/nope" }))).toContain(`no secret named "prod/nope" in region ${REGION}`);
  });

  test("an unknown version stage", async () => {
    expect(await failureOf(fetchSecret({ ref: "prod/slack-bot-token", versionStage: "AWSPENDING" }))).toContain("with stage AWSPENDING");
  });

  test("access denied", async () => {
    const message = await failureOf(fetchSecret({ ref: "prod/denied" }));
    expect(message).toContain('access denied to secret "prod/denied"');
    expect(message).toContain("secretsmanager:GetSecretValue");
  });

  test("decryption failure and a secret marked for deletion", async () => {
    expect(await failureOf(fetchSecret({ ref: "prod/undecryptable" }))).toContain("kms:Decrypt");
    expect(await failureOf(fetchSecret({ ref: "prod/deleted" }))).toContain("marked for deletion");
  });

  test("a wrong secret key is refused by the server's SigV4 check", async () => {
    const before = server.rejections.length;
    const wrongKey = "fakeWrongSecretKey0000000000000000000000";
    const message = await failureOf(fetchSecret({ ref: "prod/slack-bot-token" }, { env: { AWS_ACCESS_KEY_ID: ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY: wrongKey } }));
    expect(message).toContain("rejected the request signature");
    expect(message).not.toContain(wrongKey);
    // The server recomputed the HMAC and refused it: same access key, same request shape, only the key differs.
    const rejected = server.rejections.slice(before);
    expect(rejected.length).toBeGreaterThan(0);
    expect(rejected.every((r) => r.type === "InvalidSignatureException")).toBe(true);
    expect(rejected[0]!.reason).toContain("does not match the signature you provided");
  });

  test("an unknown access key", async () => {
    const before = server.rejections.length;
    const env = { AWS_ACCESS_KEY_ID: "AKIAFAKE0000UNKNOWN", AWS_SECRET_ACCESS_KEY: SECRET_ACCESS_KEY };
    expect(await failureOf(fetchSecret({ ref: "prod/slack-bot-token" }, { env }))).toContain("does not recognize the access key ID");
    expect(server.rejections.slice(before).map((r) => r.type)).toContain("UnrecognizedClientException");
  });

  test("an unreachable endpoint is named", async () => {
    const closed = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response() });
    const endpoint = `http://127.0.0.1:${closed.port}`;
    closed.stop(true);
    const message = await failureOf(fetchSecret({ ref: "prod/slack-bot-token" }, { settings: { region: REGION, endpoint } }));
    expect(message).toContain(`cannot reach AWS Secrets Manager at ${endpoint}`);
  });

  test("an endpoint that is not a URL", async () => {
    const env = { ...CREDENTIALS_ENV, AWS_ENDPOINT_URL: "localhost-no-scheme" };
    expect(await failureOf(fetchSecret({ ref: "x" }, { settings: { region: REGION }, env }))).toContain("AWS_ENDPOINT_URL");
  });

  test("aborting the signal ends a request the server never answers", async () => {
    const controller = new AbortController();
    const pending = fetchSecret({ ref: "prod/slow" }, { signal: controller.signal });
    await server.received;
    controller.abort();
    expect(await failureOf(pending)).toContain("aborted");
  });
});

describe("options", () => {
  test("settings win over env; env endpoint prefers the service-specific variable", () => {
    const env = {
      AWS_REGION: "us-east-1",
      AWS_DEFAULT_REGION: "us-west-2",
      AWS_ENDPOINT_URL: "http://general.test",
      AWS_ENDPOINT_URL_SECRETS_MANAGER: "http://sm.test",
    };
    expect(awsSmOptions({ region: "eu-west-3", endpoint: "http://setting.test" }, env)).toMatchObject({
      region: "eu-west-3",
      endpoint: "http://setting.test",
    });
    expect(awsSmOptions({}, env)).toMatchObject({ region: "us-east-1", endpoint: "http://sm.test", endpointSource: "AWS_ENDPOINT_URL_SECRETS_MANAGER" });
  });

  test("a named profile wins over static keys in the env, as in the SDK", () => {
    expect(awsSmOptions({}, CREDENTIALS_ENV).credentials).toEqual({ accessKeyId: ACCESS_KEY_ID, secretAccessKey: SECRET_ACCESS_KEY, sessionToken: undefined });
    expect(awsSmOptions({ profile: "dev" }, CREDENTIALS_ENV).credentials).toBeUndefined();
    const fromEnvProfile = awsSmOptions({}, { ...CREDENTIALS_ENV, AWS_PROFILE: "dev" });
    expect(fromEnvProfile.profile).toBe("dev");
    expect(fromEnvProfile.credentials).toBeUndefined();
  });
});
