// The blind child's environment as a pure function: no inherited variable that holds a real value —
// alone or inside a longer string (a connection URL, a header line) — reaches the child; backend
// credentials and the run's proxy variables are handled; tokens take the secrets' names.

import { expect, test } from "bun:test";
import { buildBlindChildEnv } from "../../src/blind/child-env.ts";

const REAL = "fake-db-password-abcdefghij0123";

function build(base: Record<string, string>) {
  return buildBlindChildEnv({
    base,
    tokens: new Map([["DB_PASSWORD", "KZ_TOK_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"]]),
    raw: new Map(),
    realValues: [REAL],
    trust: { env: { HTTPS_PROXY: "http://kz:cred@127.0.0.1:1" }, unset: ["NO_PROXY"] },
  });
}

test("a variable holding a real value inside a longer string is not inherited", () => {
  const env = build({
    DB_URL: `postgres://u:${REAL}@h:5432/app`,
    HEADER: `Authorization: Bearer ${REAL}`,
    EXACT: REAL,
    HARMLESS: "stays",
    NO_PROXY: "*",
    VAULT_TOKEN: "fake-vault-token",
  });
  expect(env).toEqual({ HARMLESS: "stays", HTTPS_PROXY: "http://kz:cred@127.0.0.1:1", DB_PASSWORD: "KZ_TOK_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" });
  expect(JSON.stringify(env)).not.toContain(REAL);
});
