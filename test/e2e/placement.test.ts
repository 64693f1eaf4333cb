// Placement end to end: the compiled kz, curl as the (hostile) agent, and an HTTPS API that stores what it
// is sent and serves it back (base64, or raw in Range pieces). The agent tries to get the real value
// stored — in a JSON body, a form body, a query, a path — with a secret that may go only in a header: each
// attempt is a 403, audited, and the API never hears of it. Headers and Basic auth still swap; `swap`
// opts a secret in to the other places.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Sandbox, type KzResult } from "../helpers/kz.ts";
import { startStoreUpstream, type StoreUpstream } from "../servers/store-upstream.ts";

const API = "api.store.test";
const VALUES = {
  STORE_TOKEN: "fake-store-token-0001-abcdefghijklmnop",
  BODY_TOKEN: "fake-body-token-0002-abcdefghijklmnopq",
  QUERY_KEY: "fake-query-key-0003-abcdefghijklmnopqr",
  PATH_TOKEN: "fake-path-token-0004-abcdefghijklmnopq",
};

let box: Sandbox;
let api: StoreUpstream;

beforeAll(async () => {
  api = await startStoreUpstream([API]);
  box = new Sandbox();
  box.write(
    ".keyzero.toml",
    `[audit]
path = "audit.jsonl"

[blind]
upstream_ca = "${api.caFile}"
resolve = { "${API}:443" = "127.0.0.1:${api.port}" }

[secrets]
STORE_TOKEN = { provider = "local", hosts = ["${API}"] }
BODY_TOKEN = { provider = "local", hosts = ["${API}"], swap = ["body"] }
QUERY_KEY = { provider = "local", hosts = ["${API}"], swap = ["query"] }
PATH_TOKEN = { provider = "local", hosts = ["${API}"], swap = ["path"] }
`,
  );
  for (const [name, value] of Object.entries(VALUES)) await box.put(name, value);
  const allowed = await box.kz(["allow"]);
  expect(allowed.code).toBe(0);
});

afterAll(() => {
  api?.stop();
  box?.cleanup();
});

/** Runs a shell script as the blind child; each `code` line prints one request's HTTP status. */
function agent(script: string): Promise<KzResult> {
  return box.kz(["run", "--blind", "--", "sh", "-c", `code() { curl -sS -o /dev/null -w "%{http_code}\\n" "$@"; }\n${script}`]);
}

function audit(): string {
  return readFileSync(join(box.dir, "audit.jsonl"), "utf8");
}

function expectNoValue(text: string) {
  for (const v of Object.values(VALUES)) expect(text).not.toContain(v);
}

describe("a header-only secret (the default)", () => {
  test("store and read back: the PUT with the token in a JSON body is refused, audited, and never reaches the API", async () => {
    const before = api.requests.length;
    const r = await agent(`
code -X PUT -H "Content-Type: application/json" -d "{\\"message\\":\\"notes\\",\\"content\\":\\"$STORE_TOKEN\\"}" https://${API}/contents/notes.txt
code -X PUT -H "Content-Type: application/x-www-form-urlencoded" -d "content=$STORE_TOKEN" https://${API}/contents/form.txt
code -X POST "https://${API}/notes?content=$STORE_TOKEN"
code -X PUT "https://${API}/kv/$STORE_TOKEN"
`);
    expect(r.stdout).toBe("403\n403\n403\n403\n");
    expect(api.requests.length).toBe(before); // the API never heard of any of them
    expect(api.stored.size).toBe(0);
    expect(r.stderr).toContain(`blind: blocked STORE_TOKEN → ${API}: STORE_TOKEN may be swapped only in a request header`);
    const refusals = audit()
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line))
      .filter((rec) => rec.event === "blind.refusal" && rec.secrets.includes("STORE_TOKEN"));
    expect(refusals.map((rec) => rec.reason.match(/found in ([^,]+),/)?.[1])).toEqual([
      "the request body",
      "the request body",
      "the URL's query string",
      "the URL's path",
    ]);
    expectNoValue(r.stdout + r.stderr + audit());
  });

  test("in a chunked upload (its head already gone) the token stays a token: the API stores nothing usable", async () => {
    const r = await agent(`printf '{"content":"%s"}' "$STORE_TOKEN" | curl -sS -o /dev/null -w "%{http_code}\\n" -X PUT -H "Content-Type: application/json" -H "Transfer-Encoding: chunked" --data-binary @- https://${API}/contents/chunked.txt`);
    expect(r.stdout).toBe("201\n");
    expect(api.stored.get("chunked.txt")).toStartWith("KZ_TOK_");
    expect(audit()).toContain("token in a streamed body left unswapped");
    expectNoValue([...api.stored.values()].join("\n") + r.stdout + r.stderr);
  });

  test("the same secret still swaps in a header and inside Basic auth", async () => {
    const before = api.requests.length;
    const r = await agent(`
code -H "Authorization: Bearer $STORE_TOKEN" https://${API}/whoami
code -u "robot:$STORE_TOKEN" https://${API}/whoami
`);
    expect(r.stdout).toBe("200\n200\n");
    const seen = api.requests.slice(before);
    expect(seen.map((s) => s.headers.authorization)).toEqual([
      `Bearer ${VALUES.STORE_TOKEN}`,
      `Basic ${Buffer.from(`robot:${VALUES.STORE_TOKEN}`).toString("base64")}`,
    ]);
  });
});

describe("opting in with swap", () => {
  test('swap = ["body"], ["query"], ["path"]: each swaps where it says, and only there', async () => {
    const before = api.requests.length;
    const r = await agent(`
code -X PUT -H "Content-Type: application/json" -d "{\\"content\\":\\"$BODY_TOKEN\\"}" https://${API}/contents/opted.txt
code -X POST "https://${API}/notes?content=$QUERY_KEY"
code -X PUT "https://${API}/kv/$PATH_TOKEN"
code -H "Authorization: Bearer $BODY_TOKEN" https://${API}/whoami
code -X PUT "https://${API}/kv/$QUERY_KEY"
`);
    expect(r.stdout).toBe("201\n201\n201\n403\n403\n");
    expect(api.stored.get("opted.txt")).toBe(VALUES.BODY_TOKEN);
    expect(api.stored.get("note")).toBe(VALUES.QUERY_KEY);
    expect(api.stored.get("kv")).toBe(VALUES.PATH_TOKEN);
    expect(api.requests.length - before).toBe(3);
    expectNoValue(r.stdout + r.stderr);
  });
});

describe("kz validate", () => {
  test("shows each secret's hosts and placement, as text and JSON", async () => {
    const text = await box.kz(["validate", "--offline"]);
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/STORE_TOKEN +hosts api\.store\.test +swap = \["header"\]/);
    expect(text.stdout).toMatch(/PATH_TOKEN +hosts api\.store\.test +swap = \["path"\]/);
    const json = JSON.parse((await box.kz(["validate", "--offline", "--json"])).stdout);
    expect(json.secrets).toContainEqual({ name: "BODY_TOKEN", blind: true, hosts: [API], swap: ["body"] });
    expect(json.secrets).toContainEqual({ name: "STORE_TOKEN", blind: true, hosts: [API], swap: ["header"] });
  });
});
