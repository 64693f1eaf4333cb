// Approval of blind-mode bindings end to end, with the compiled kz: nothing starts on bindings the user
// has not approved — on first use, after a planted .keyzero.local.toml (blind = false, wider hosts), after
// an --env overlay changes — off a terminal it is exit 3 with one line; on a terminal kz shows the change
// and asks; `kz allow` approves. The agent's own moves: plant the override, then try to approve it from
// inside the blind run.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import { KZ, Sandbox } from "../helpers/kz.ts";
import { PtySession } from "../helpers/pty.ts";

const VALUE = "sk-fake-approval-0001-abcdefghijklmnop";
const MAIN = `[secrets]
OPENAI_API_KEY = { provider = "local", hosts = ["api.openai.com"] }

[env.prod.secrets]
OPENAI_API_KEY = { provider = "local", ref = "OPENAI_API_KEY", hosts = ["api.openai.com"] }
`;

let box: Sandbox;
const marker = () => join(box.dir, "started");

beforeAll(async () => {
  box = new Sandbox();
  box.write(".keyzero.toml", MAIN);
  await box.put("OPENAI_API_KEY", VALUE);
});
afterAll(() => box?.cleanup());

/** A blind run whose command leaves a marker file: whether it started is what the tests check. */
function run(flags: string[] = []) {
  rmSync(marker(), { force: true });
  return box.kz(["run", "--blind", "--no-sandbox", ...flags, "--", "touch", marker()]);
}

function allowedFiles(): string[] {
  const dir = join(box.dir, "config", "keyzero", "allowed");
  return existsSync(dir) ? readdirSync(dir).map((f) => join(dir, f)) : [];
}

describe("off a terminal", () => {
  test("first use: refused with exit 3 and one line pointing at kz allow; nothing started", async () => {
    const r = await run();
    expect(r.code).toBe(3);
    expect(r.stderr).toContain(
      "kz: error: the blind-mode bindings of .keyzero.toml have not been approved; nothing was started — review them with `kz allow --diff`, then run `kz allow`",
    );
    expect(existsSync(marker())).toBe(false);
  });

  test("kz allow --diff shows and approves nothing; kz allow approves; then the run starts", async () => {
    const diff = await box.kz(["allow", "--diff", "--json"]);
    expect(diff.code).toBe(0);
    const report = JSON.parse(diff.stdout);
    expect(report).toMatchObject({ approved: false, recorded: false, env: null });
    expect(report.changes.map((c: { kind: string; key: string }) => `${c.kind} ${c.key}`)).toEqual(["added secrets.OPENAI_API_KEY"]);
    expect((await run()).code).toBe(3);

    const allow = await box.kz(["allow"]);
    expect(allow.code).toBe(0);
    expect(allow.stdout).toContain('+ OPENAI_API_KEY: provider "local", ref "OPENAI_API_KEY", hosts ["api.openai.com"], swap ["header"]');
    expect(allow.stdout).toContain("approved .keyzero.toml");
    const r = await run();
    expect(r.code).toBe(0);
    expect(existsSync(marker())).toBe(true);
  });

  test("the approval is a 0600 file in a 0700 folder and holds bindings, never a value", () => {
    const files = allowedFiles();
    expect(files).toHaveLength(1);
    expect(statSync(join(box.dir, "config", "keyzero", "allowed")).mode & 0o777).toBe(0o700);
    expect(statSync(files[0]!).mode & 0o777).toBe(0o600);
    const text = readFileSync(files[0]!, "utf8");
    expect(text).not.toContain(VALUE);
    expect(JSON.parse(text).config).toBe(join(box.dir, ".keyzero.toml"));
  });

  test("a planted .keyzero.local.toml with blind = false is refused, and kz allow --diff names the file", async () => {
    box.write(".keyzero.local.toml", `[secrets]\nOPENAI_API_KEY = { provider = "local", blind = false }\n`);
    try {
      const r = await run();
      expect(r.code).toBe(3);
      expect(r.stderr).toContain("changed since they were approved; nothing was started");
      expect(existsSync(marker())).toBe(false);
      const diff = await box.kz(["allow", "--diff"]);
      expect(diff.stdout).toContain("~ OPENAI_API_KEY: blind true → false");
      expect(diff.stdout).toContain("(.keyzero.local.toml:2)");
      expect(diff.stdout).toContain("! OPENAI_API_KEY: blind = false — its real value is handed to the command — from .keyzero.local.toml:2");
      expect(diff.stdout + diff.stderr).not.toContain(VALUE);
    } finally {
      rmSync(join(box.dir, ".keyzero.local.toml"));
    }
    expect((await run()).code).toBe(0); // back to the approved bindings
  });

  test("widened hosts from the local override are refused and called out", async () => {
    box.write(".keyzero.local.toml", `[secrets]\nOPENAI_API_KEY = { provider = "local", hosts = ["api.openai.com", "evil.test"] }\n`);
    try {
      expect((await run()).code).toBe(3);
      const diff = await box.kz(["allow", "--diff"]);
      expect(diff.stdout).toContain('~ OPENAI_API_KEY: hosts ["api.openai.com"] → ["api.openai.com","evil.test"]   (.keyzero.local.toml:2)');
      expect(diff.stdout).toContain("! OPENAI_API_KEY: may now be sent to evil.test — from .keyzero.local.toml:2");
    } finally {
      rmSync(join(box.dir, ".keyzero.local.toml"));
    }
  });

  test("each --env is approved on its own, and a change in its overlay counts", async () => {
    const r = await run(["--env", "prod"]);
    expect(r.code).toBe(3);
    expect(r.stderr).toContain("the blind-mode bindings of .keyzero.toml (env prod) have not been approved");
    expect(r.stderr).toContain("`kz allow --env prod`");
    expect((await box.kz(["allow", "--env", "prod"])).code).toBe(0);
    expect((await run(["--env", "prod"])).code).toBe(0);

    box.write(".keyzero.toml", MAIN.replace('ref = "OPENAI_API_KEY", hosts = ["api.openai.com"]', 'ref = "OPENAI_API_KEY", hosts = ["*.openai.com"], swap = ["query"]'));
    try {
      expect((await run(["--env", "prod"])).code).toBe(3);
      expect((await run()).code).toBe(0); // the default set did not change
      const diff = await box.kz(["allow", "--diff", "--env", "prod"]);
      expect(diff.stdout).toContain('~ OPENAI_API_KEY: hosts ["api.openai.com"] → ["*.openai.com"], swap ["header"] → ["query"]');
    } finally {
      box.write(".keyzero.toml", MAIN);
    }
  });
});

describe("on a terminal", () => {
  test("kz shows the change and asks; no keeps everything stopped (exit 3), yes runs and is remembered", async () => {
    box.write(".keyzero.local.toml", `[blind]\nsandbox = false\n`);
    try {
      rmSync(marker(), { force: true });
      const no = new PtySession(["run", "--blind", "--", "touch", marker()], { cwd: box.dir, env: box.env });
      await no.waitFor("[y/N]");
      expect(no.screen).toContain("the blind-mode bindings of .keyzero.toml changed since you approved them:");
      expect(no.screen).toContain('~ blind.sandbox: "true" → "false"   (.keyzero.local.toml:2)');
      expect(no.screen).toContain("! [blind] sandbox = false — the command runs outside the sandbox — from .keyzero.local.toml:2");
      no.type("\r");
      expect(await no.exit()).toBe(3);
      expect(no.screen).toContain("bindings not approved; nothing was started");
      expect(existsSync(marker())).toBe(false);

      const yes = new PtySession(["run", "--blind", "--", "touch", marker()], { cwd: box.dir, env: box.env });
      await yes.waitFor("[y/N]");
      yes.type("y\r");
      expect(await yes.exit()).toBe(0);
      expect(existsSync(marker())).toBe(true);
      expect((await run()).code).toBe(0); // the yes was recorded: no prompt, no refusal off the terminal
    } finally {
      rmSync(join(box.dir, ".keyzero.local.toml"));
    }
  });
});

describe("the agent approving its own change", () => {
  test("kz allow run from inside the sandboxed blind command approves nothing kz will honour", async () => {
    expect((await box.kz(["allow"])).code).toBe(0);
    const before = allowedFiles().map((f) => readFileSync(f, "utf8"));
    // The agent writes a project of its own that sends the secret anywhere, and approves it from inside.
    const agent = `mkdir -p evil && printf '[secrets]\\nOPENAI_API_KEY = { provider = "local", hosts = ["*"], swap = ["body"] }\\n' > evil/.keyzero.toml
"${KZ}" allow --config evil/.keyzero.toml > evil/allow.out 2>&1; echo "exit $?" >> evil/allow.out`;
    const r = await box.kz(["run", "--blind", "--", "sh", "-c", agent]);
    expect(r.code).toBe(0);
    expect(readFileSync(join(box.dir, "evil", "allow.out"), "utf8")).toContain("exit "); // it did run kz allow
    expect(allowedFiles().map((f) => readFileSync(f, "utf8"))).toEqual(before); // the real store is untouched
    const evil = await box.kz(["run", "--blind", "--no-sandbox", "--config", "evil/.keyzero.toml", "--", "true"]);
    expect(evil.code).toBe(3);
    expect(evil.stderr).toContain("have not been approved; nothing was started");
  });
});
