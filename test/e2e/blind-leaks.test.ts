// Two ways a real value could reach a blind child, through the compiled kz: a variable in kz's own
// environment that holds the value inside a longer string (a connection URL) must not be inherited, and
// a real value the child obtains anyway (here it reads the file provider's source file, as an agent run
// without the sandbox could) is masked in its output. Also: the blind run's audit log is keyed with the
// local audit key, and `kz audit verify` accepts it by default.

import { afterAll, beforeAll, expect, test } from "bun:test";
import { join } from "node:path";
import { readAuditKey } from "../../src/audit/key.ts";
import { Sandbox } from "../helpers/kz.ts";
import { startHttpsUpstream, type HttpsUpstream } from "../servers/https-upstream.ts";

const API = "api.example.test";
const OTHER = "other.example.test";
const DB_PASSWORD = "fake-db-password-blindleak-0001";
const FILE_SECRET = "fake-file-secret-blindleak-0002";

let box: Sandbox;
let upstream: HttpsUpstream;

beforeAll(async () => {
  upstream = await startHttpsUpstream({ hostnames: [API, OTHER] });
  box = new Sandbox({ DB_URL: `postgres://u:${DB_PASSWORD}@h:5432/app`, HARMLESS: "stays" });
  box.write("file-secret.txt", `${FILE_SECRET}\n`);
  box.write(
    ".keyzero.toml",
    `[blind]
upstream_ca = "${upstream.caFile}"
resolve = { "${API}:443" = "127.0.0.1:${upstream.port}", "${OTHER}:443" = "127.0.0.1:${upstream.port}" }
inspect = "all"
[secrets]
DB_PASSWORD = { provider = "local", hosts = ["${API}"] }
FILE_SECRET = { provider = "file", ref = "file-secret.txt", hosts = ["${API}"] }
`,
  );
  await box.put("DB_PASSWORD", DB_PASSWORD);
  expect((await box.kz(["allow"])).code).toBe(0); // the user approves these bindings
});
afterAll(() => {
  upstream?.stop();
  box?.cleanup();
});

test("a variable holding a real value inside a longer string does not reach the blind child", async () => {
  const r = await box.kz(["run", "--blind", "--no-masking", "--", "/usr/bin/env"]); // masking would hide a leak
  expect(r.code).toBe(0);
  const names = r.stdout.split("\n").map((line) => line.split("=")[0]);
  expect(names).toContain("HARMLESS");
  expect(names).not.toContain("DB_URL");
  expect(r.stdout).not.toContain(DB_PASSWORD);
  expect(r.stdout).toMatch(/^DB_PASSWORD=KZ_TOK_/m);
});

test("a blinded secret's real value that the child prints anyway is masked", async () => {
  const r = await box.kz(["run", "--blind", "--no-sandbox", "--", "/bin/cat", "file-secret.txt"]);
  expect(r.code).toBe(0);
  expect(r.stdout).toBe("[kz:FILE_SECRET]\n");
  expect(r.stderr).not.toContain(FILE_SECRET);
});

test("a blind run's audit log is keyed with the local key and verifies by default", async () => {
  // A refused request writes a record: a token sent to a host its secret is not bound to (inspect = all).
  const log = join(box.dir, "state", "keyzero", "audit.jsonl");
  box.write("probe.ts", `const r = await fetch("https://${OTHER}/echo", { headers: { authorization: "Bearer " + process.env.DB_PASSWORD } });\nconsole.log(r.status);\n`);
  const r = await box.kz(["run", "--blind", "--no-sandbox", "--", process.execPath, "probe.ts"]);
  expect(r.stdout).toBe("403\n");
  expect(r.stderr).toContain(`blind: blocked DB_PASSWORD → ${OTHER}`);
  const key = readAuditKey(join(box.dir, "config", "keyzero", "audit.key"));
  const verify = await box.kz(["audit", "verify", log]);
  expect(verify.code).toBe(0);
  expect(verify.stdout).toMatch(new RegExp(`chain intact \\(keyed, key ${key.id}\\)\\n$`));
});
