// kz run end to end, through the compiled binary: secrets in the child's environment, nothing started
// when a secret fails, exit status and signals passed through, output masked (pipes and terminals).

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { KZ, Sandbox } from "../helpers/kz.ts";
import { PtySession } from "../helpers/pty.ts";

const VALUE = "sk-fake-run-test-0123456789";
const OTHER = "ghp_fakeOtherValue9876543210";
let box: Sandbox;

beforeAll(async () => {
  box = new Sandbox({ FROM_SHELL: OTHER });
  box.write(
    ".keyzero.toml",
    `[secrets]
API_KEY = { provider = "local", hosts = ["api.example.test"] }
OTHER = { provider = "env", ref = "FROM_SHELL" }
`,
  );
  await box.put("API_KEY", `${VALUE}\n`);
  expect((await box.kz(["allow"])).code).toBe(0); // approve the bindings for the --blind runs
});
afterAll(() => box.cleanup());

describe("environment", () => {
  test("the child gets every secret; kz's own key does not pass through", async () => {
    const r = await box.kz(["run", "--no-masking", "--", "sh", "-c", 'printf "%s|%s|%s" "$API_KEY" "$OTHER" "${KZ_LOCAL_KEY-unset}"'], {
      env: { KZ_LOCAL_KEY: "" },
    });
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(`${VALUE}|${OTHER}|unset`);
  });

  test("--only resolves and passes only the named secrets", async () => {
    const r = await box.kz(["run", "--only", "OTHER", "--no-masking", "--", "sh", "-c", 'printf "%s|%s" "${API_KEY-none}" "$OTHER"']);
    expect(r.stdout).toBe(`none|${OTHER}`);
    const bad = await box.kz(["run", "--only", "NOPE", "--", "true"]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("NOPE");
  });

  test("--clean-env passes only the safe list plus the secrets", async () => {
    const r = await box.kz(["run", "--clean-env", "--no-masking", "--", "/usr/bin/env"], { env: { LEAKY_VAR: "x", LC_ALL: "C" } });
    const names = r.stdout.trim().split("\n").map((l) => l.split("=")[0]).sort();
    expect(names).toContain("API_KEY");
    expect(names).toContain("LC_ALL");
    expect(names).not.toContain("LEAKY_VAR");
    expect(names).not.toContain("FROM_SHELL");
    for (const n of names) expect(["PATH", "HOME", "LC_ALL", "API_KEY", "OTHER"]).toContain(n!);
  });
});

describe("failures start nothing", () => {
  test("a missing secret: every failure listed, child not started, exit 4, no value printed", async () => {
    box.write(".broken.toml", `[secrets]\nAPI_KEY = { provider = "local" }\nGONE = { provider = "local" }\nUNSET = { provider = "env", ref = "NOT_SET_ANYWHERE" }\n`);
    const marker = join(box.dir, "started");
    const r = await box.kz(["run", "--config", ".broken.toml", "--", "touch", marker]);
    expect(r.code).toBe(4);
    expect(existsSync(marker)).toBe(false);
    expect(r.stderr).toContain("GONE (local GONE): not in the local store — add it with `kz put GONE`");
    expect(r.stderr).toContain("UNSET (env NOT_SET_ANYWHERE): environment variable NOT_SET_ANYWHERE is not set");
    expect(r.stderr).not.toContain(VALUE);
    expect(r.stdout).toBe("");
  });

  test("an optional secret that fails is skipped with a warning", async () => {
    box.write(".optional.toml", `[secrets]\nAPI_KEY = { provider = "local" }\nMAYBE = { provider = "local", optional = true }\n`);
    const r = await box.kz(["run", "--config", ".optional.toml", "--", "sh", "-c", 'echo "${MAYBE-absent}"']);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe("absent\n");
    expect(r.stderr).toContain("optional secret skipped: MAYBE");
  });

  test("a malformed config exits 3 with file and line", async () => {
    box.write(".bad.toml", `[secrets]\nA = { provider = "local", reff = "x" }\n`);
    const r = await box.kz(["run", "--config", ".bad.toml", "--", "true"]);
    expect(r.code).toBe(3);
    expect(r.stderr.trim()).toBe('kz: error: .bad.toml:2: secrets.A.reff: unknown key "reff" — did you mean "ref"?');
  });

  test("no command, unknown flag, unknown command: usage errors (exit 2)", async () => {
    expect((await box.kz(["run"])).code).toBe(2);
    const flag = await box.kz(["run", "--clean-evn", "--", "true"]);
    expect(flag.code).toBe(2);
    expect(flag.stderr).toContain('did you mean "--clean-env"');
    expect((await box.kz(["rnu"])).stderr).toContain('did you mean "run"');
  });

  test("command not found exits 127, not executable 126", async () => {
    expect((await box.kz(["run", "--", "no-such-command-kz"])).code).toBe(127);
    const file = box.write("not-exec.sh", "echo hi\n");
    expect((await box.kz(["run", "--", file])).code).toBe(126);
  });
});

describe("exit status and signals", () => {
  test("the child's exit code passes through", async () => {
    expect((await box.kz(["run", "--", "sh", "-c", "exit 7"])).code).toBe(7);
    expect((await box.kz(["run", "--", "true"])).code).toBe(0);
  });

  test("death by signal N exits 128+N", async () => {
    expect((await box.kz(["run", "--", "sh", "-c", "kill -TERM $$"])).code).toBe(143);
    expect((await box.kz(["run", "--", "sh", "-c", "kill -KILL $$"])).code).toBe(137);
  });

  for (const [signal, code] of [["SIGTERM", 42], ["SIGINT", 43], ["SIGHUP", 44]] as const) {
    test(`${signal} sent to kz is forwarded to the child`, async () => {
      const proc = Bun.spawn(
        [KZ, "run", "--", "sh", "-c", `trap "exit ${code}" ${signal.slice(3)}; echo ready; while :; do sleep 0.1; done`],
        { cwd: box.dir, env: box.env, stdout: "pipe", stderr: "pipe", stdin: "ignore" },
      );
      const reader = proc.stdout.getReader();
      const first = await reader.read();
      expect(new TextDecoder().decode(first.value)).toContain("ready");
      proc.kill(signal);
      expect(await proc.exited).toBe(code);
    });
  }
});

describe("masking", () => {
  test("values are masked on stdout and stderr, even split across writes", async () => {
    const half = VALUE.length >> 1;
    const script = `printf "%s" "${VALUE.slice(0, half)}"; sleep 0.05; printf "%s\\n" "${VALUE.slice(half)}"; echo "err $OTHER" >&2`;
    const r = await box.kz(["run", "--", "sh", "-c", script]);
    expect(r.stdout).toBe("[kz:API_KEY]\n");
    expect(r.stderr).toBe("err [kz:OTHER]\n");
  });

  test("an output on /dev/null goes to the child as is; the other one is still masked", async () => {
    // The child reports where its fd 1 and 2 lead: /dev/null itself for the discarded one, kz's pipe otherwise.
    const script = 'echo "out $API_KEY $(readlink /proc/$$/fd/1)"; echo "err $OTHER $(readlink /proc/$$/fd/2)" >&2';
    for (const [discard, kept] of [["stdout", "stderr"], ["stderr", "stdout"]] as const) {
      const r = Bun.spawnSync([KZ, "run", "--", "sh", "-c", script], { cwd: box.dir, env: box.env, [discard]: "ignore", [kept]: "pipe" });
      expect(r.exitCode).toBe(0);
      const text = r[kept].toString();
      expect(text).toMatch(kept === "stdout" ? /^out \[kz:API_KEY\] (pipe|socket):\[\d+\]\n$/ : /^err \[kz:OTHER\] (pipe|socket):\[\d+\]\n$/);
      expect(text).not.toContain(VALUE);
      expect(text).not.toContain(OTHER);
    }
    const both = Bun.spawnSync([KZ, "run", "--", "sh", "-c", 'fds=$(readlink /proc/$$/fd/1 /proc/$$/fd/2); echo "$fds" > "$OUT"'], {
      cwd: box.dir,
      env: { ...box.env, OUT: join(box.dir, "fds.txt") },
      stdout: "ignore",
      stderr: "ignore",
    });
    expect(both.exitCode).toBe(0);
    expect(await Bun.file(join(box.dir, "fds.txt")).text()).toBe("/dev/null\n/dev/null\n");
  });

  test("--no-masking leaves output alone", async () => {
    const r = await box.kz(["run", "--no-masking", "--", "sh", "-c", 'echo "$API_KEY"']);
    expect(r.stdout).toBe(`${VALUE}\n`);
  });

  test("binary output passes through byte for byte", async () => {
    const r = Bun.spawnSync([KZ, "run", "--", "head", "-c", "200000", "/dev/urandom"], {
      cwd: box.dir,
      env: box.env,
    });
    expect(r.exitCode).toBe(0);
    expect(r.stdout.length).toBe(200000);
  });
});

describe("on a terminal", () => {
  test("the child sees a terminal, keeps its colour, and its output is masked", async () => {
    const session = new PtySession(["run", "--", "sh", "-c", 'test -t 1 && printf "\\033[32mtty\\033[0m %s\\n" "$API_KEY"'], { cwd: box.dir, env: box.env });
    expect(await session.exit()).toBe(0);
    expect(session.screen).toContain("\x1b[32mtty\x1b[0m [kz:API_KEY]");
    expect(session.screen).not.toContain(VALUE);
  });

  // "got-int" is awaited before typing on: a signal kz forwards (shared terminal, sandbox) is not instant.
  const countInts = `c=0; trap 'c=$((c+1)); echo got-int' INT; echo ready; x=; while [ "$x" != go ]; do read -r x || true; done; echo "count=$c"`;
  // --blind and --sandbox put the child under the sandbox's init (its own PID namespace): ^C must still
  // arrive once, on kz's pty and on a shared terminal (where the sandbox runs in a session of its own).
  const blind = ["--blind", "--only", "API_KEY"];
  for (const flags of [[], ["--no-masking"], blind, [...blind, "--no-masking"], ["--sandbox", "--no-masking"]]) {
    test(`^C reaches the child exactly once (${flags.includes("--no-masking") ? "shared terminal" : "pty"} ${flags.join(" ")})`, async () => {
      const session = new PtySession(["run", ...flags, "--", "sh", "-c", countInts], { cwd: box.dir, env: box.env });
      await session.waitFor("ready");
      session.type("\x03");
      await session.waitFor("got-int");
      session.type("go\r");
      await session.waitFor("count=");
      expect(await session.exit()).toBe(0);
      expect(session.screen).toMatch(/count=1\r?\r?\n/);
    });
  }

  test("interactive input reaches the child", async () => {
    const session = new PtySession(["run", "--", "sh", "-c", 'printf "name? "; read -r n; echo "hello $n"'], { cwd: box.dir, env: box.env });
    await session.waitFor("name? ");
    session.type("kz\r");
    expect(await session.exit()).toBe(0);
    expect(session.screen).toContain("hello kz");
  });
});
