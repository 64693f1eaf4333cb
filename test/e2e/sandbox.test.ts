// The blind sandbox against an agent with a shell, end to end: the compiled kz and the agent run as an
// ordinary user (root reads everything, so a root test proves nothing), a recording HTTPS upstream is
// the bound host, and a hostile agent script (test/e2e/fixtures/hostile-agent.sh + .py) tries every way
// to a real value — ask kz, read the store, the key and every backend's credential files, read kz's
// process, rewrite the config, plant an override, forge the audit log — and keeps what it gets. No
// value may be in what it kept; the bound call must still carry the real value.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, copyFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ordinaryAccount, UserBox } from "../helpers/ordinary-user.ts";
import { startHttpsUpstream, type HttpsUpstream } from "../servers/https-upstream.ts";

const LOCAL_VALUE = "sk-fake-sandbox-local-0000000001";
const ENV_VALUE = "fake-sandbox-env-source-00000002";
const FILE_VALUE = "fake-sandbox-file-source-0000003";
const VAULT_TOKEN = "hvs.fake-sandbox-vault-token-0004";
const AWS_SECRET = "fakeSandboxAwsSecretKey000000000000000005";
const OP_SESSION = "fake-sandbox-op-session-000000006";
const KZ_IDENTITY = "fake.sandbox.identity-token-0007";
const API = "api.example.test";

const account = ordinaryAccount();
const skip = typeof account === "string";
if (skip) console.warn(`skipping sandbox isolation tests: ${account}`);
const hasBwrap = Bun.which("bwrap") !== null;
if (!hasBwrap) console.warn("skipping the bubblewrap sandbox tests: bubblewrap (bwrap) is not installed");
const hasUnshare = Bun.which("unshare") !== null && Bun.which("setpriv") !== null;
if (!hasUnshare) console.warn("skipping the namespaces sandbox tests: util-linux unshare/setpriv is missing");
// Every test runs under each Linux mechanism (runner/sandbox/mechanism.ts), forced with KZ_SANDBOX_MECHANISM.
const MECHANISMS = [
  { name: "bubblewrap", available: hasBwrap },
  { name: "namespaces", available: hasUnshare },
];

let box: UserBox;

/** kz trusts only sandbox tools no ordinary user could have written: a stand-in must be root's. */
const asRoot = process.getuid?.() === 0;
function rootOwnedTool(name: string, script: string): string {
  const dir = mkdtempSync(join(tmpdir(), "kz-root-tool-"));
  chmodSync(dir, 0o755);
  const path = join(dir, name);
  writeFileSync(path, script, { mode: 0o755 });
  chmodSync(path, 0o755);
  return path;
}
let upstream: HttpsUpstream;
let auditLog: string;

function readTree(dir: string): Buffer[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? readTree(path) : [readFileSync(path)];
  });
}

/** Every secret value, credential file content and kz key that must stay out of the agent's hands. */
function forbidden(): string[] {
  const keys = [".config/keyzero/local.key", ".config/keyzero/audit.key"].map((p) => join(box.home, p)).filter(existsSync);
  return [LOCAL_VALUE, ENV_VALUE, FILE_VALUE, VAULT_TOKEN, AWS_SECRET, OP_SESSION, KZ_IDENTITY, ...keys.map((k) => readFileSync(k, "utf8").trim())];
}

function expectNothingLeaked(what: Buffer[]): void {
  for (const value of forbidden()) for (const b of what) expect(b.includes(value)).toBe(false);
}

beforeAll(async () => {
  if (skip || !(hasBwrap || hasUnshare)) return;
  upstream = await startHttpsUpstream({ hostnames: [API] });
  box = new UserBox(account as Exclude<typeof account, string>);
  copyFileSync(upstream.caFile, join(box.home, "upstream-ca.pem"));
  box.write(".vault-token", VAULT_TOKEN);
  box.write(".aws/credentials", `[default]\naws_access_key_id = AKIAFAKESANDBOX00001\naws_secret_access_key = ${AWS_SECRET}\n`);
  box.write(".config/op/config", JSON.stringify({ sessions: { fake: OP_SESSION } }));
  box.write("kz-identity-token", KZ_IDENTITY);
  box.write(".bashrc", "# the user's own\n", 0o644);
  box.write(".local/bin/.keep", "", 0o644);
  box.write("project/.git/config", "[core]\n\trepositoryformatversion = 0\n", 0o644);
  box.write("project/.git/hooks/.keep", "", 0o644);
  box.write("project/secrets/file-key.txt", `${FILE_VALUE}\n`);
  box.write("project/hostile-agent.sh", readFileSync(join(import.meta.dir, "fixtures/hostile-agent.sh"), "utf8"), 0o755);
  box.write("project/hostile-agent.py", readFileSync(join(import.meta.dir, "fixtures/hostile-agent.py"), "utf8"), 0o644);
  box.write(
    "project/.keyzero.toml",
    `[blind]
upstream_ca = "../upstream-ca.pem"
resolve = { "${API}:443" = "127.0.0.1:${upstream.port}" }

[providers.kz]
url = "http://127.0.0.1:9"
token_file = "../kz-identity-token"

[secrets]
LOCAL_KEY = { provider = "local", hosts = ["${API}"] }
FROM_ENV = { provider = "env", ref = "SOURCE_VAR", hosts = ["${API}"] }
FILE_KEY = { provider = "file", ref = "secrets/file-key.txt", hosts = ["${API}"] }
`,
    0o644,
  );
  await box.put("LOCAL_KEY", LOCAL_VALUE);
  auditLog = join(box.home, ".local/state/keyzero/audit.jsonl");
  await box.kz(["allow"]); // approve the bindings where approval exists
});

afterAll(() => {
  upstream?.stop();
  box?.cleanup();
});

for (const mechanism of MECHANISMS) describe.skipIf(skip || !mechanism.available)(`kz run --blind (${mechanism.name}): an agent with a shell inside the sandbox`, () => {
  beforeAll(() => void (box.env.KZ_SANDBOX_MECHANISM = mechanism.name));
  test("gets no value, no credential file and no key, cannot change the config or the audit log — and its bound call works", async () => {
    const config = readFileSync(join(box.project, ".keyzero.toml"));
    const loot = join(box.project, "loot");
    rmSync(loot, { recursive: true, force: true }); // another mechanism's run left its own
    const before = upstream.requests.length;
    const r = await box.kz(["run", "--blind", "--", "sh", "./hostile-agent.sh"], {
      env: { SOURCE_VAR: ENV_VALUE, AUDIT_LOG: auditLog, AGENT_PY: "./hostile-agent.py", BOUND_HOST: API, PATH: `${join(box.home, ".local/bin")}:${box.env.PATH}` },
    });
    expect(r.stderr).not.toContain("internal error");
    if (r.code !== 42) console.error(r.stderr);
    expect(r.code).toBe(42); // the agent's own exit status came through

    // The agent really ran each step (so an empty loot proves something).
    expect(readFileSync(join(loot, "curl.out"), "utf8")).toContain("curl=0");
    expect(readFileSync(join(loot, "writes.out"), "utf8")).toMatch(/Read-only file system|Permission denied|busy/);
    expect(readFileSync(join(loot, "files.out"), "utf8")).toContain("Permission denied");
    // It read kz's private folder for the run: the namespaces mount plan is paths only (checked below).
    if (mechanism.name === "namespaces") expect(readFileSync(join(loot, "private.out"), "utf8")).toContain('"pinned":[');
    // It saw its own sandbox (bwrap's reaper or kz's init as PID 1) and nothing of kz's process.
    const scan = readFileSync(join(loot, "proc.out"), "latin1");
    expect(scan).toContain("== 1 cmdline");
    expect(scan).not.toContain(`${box.kzPath}\u0000run`);

    expectNothingLeaked(readTree(loot));
    expectNothingLeaked([Buffer.from(r.stdout), Buffer.from(r.stderr)]);

    // The bound call carried the real value.
    const seen = upstream.requests.slice(before);
    expect(seen.some((q) => q.headers.authorization === `Bearer ${LOCAL_VALUE}`)).toBe(true);

    // Nothing it wrote stuck: config unchanged, no override planted, audit log intact and verifiable.
    expect(readFileSync(join(box.project, ".keyzero.toml")).equals(config)).toBe(true);
    expect(existsSync(join(box.project, ".keyzero.local.toml"))).toBe(false);
    expect(existsSync(join(box.project, "moved.toml"))).toBe(false);
    expect(existsSync(join(loot, "moved.out"))).toBe(false); // no folder above a protected path moved
    expect(existsSync(join(loot, "persisted.out"))).toBe(false); // nothing left to run outside later
    expect(readFileSync(join(box.home, ".bashrc"), "utf8")).toBe("# the user's own\n");
    expect(existsSync(join(box.home, ".config/keyzero/local.key"))).toBe(true);
    expect(readFileSync(auditLog, "utf8")).not.toContain("forged");
    expect(readFileSync(auditLog, "utf8")).toContain("blind.swap");
    const verify = await box.kz(["audit", "verify", auditLog]);
    expect(verify.code).toBe(0);
  });

  test("the command holds no capability: it cannot unmount, remount or mount, directly or from a nested unshare -r", async () => {
    const config = readFileSync(join(box.project, ".keyzero.toml"));
    box.write("project/undo-mounts.py", readFileSync(join(import.meta.dir, "fixtures/undo-mounts.py"), "utf8"), 0o644);
    const r = await box.kz(["run", "--blind", "--no-masking", "--", "/usr/bin/python3", "./undo-mounts.py"], { env: { SOURCE_VAR: ENV_VALUE } });
    expect(r.code).toBe(0);
    for (const set of ["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"]) expect(r.stdout).toContain(`${set}:\t0000000000000000`);
    expect(r.stdout).toContain("NoNewPrivs:\t1"); // no setuid or file-capability binary gives any back
    expect(r.stdout).toContain(`uid ${box.account.uid}\n`);
    expect(r.stdout).toContain("direct umount");
    expect(r.stdout).toContain("nested umount"); // the nested user namespace was made: the attempt was real
    expect(r.stdout).not.toMatch(/(umount|remount-rw) \S+ ok/);
    expect(r.stdout).not.toContain("direct mount ok");
    expect(r.stdout).not.toContain("wrote config");
    expectNothingLeaked([Buffer.from(r.stdout), Buffer.from(r.stderr)]);
    expect(readFileSync(join(box.project, ".keyzero.toml")).equals(config)).toBe(true);
  });

  test("kz run --sandbox: a plain run's command gets its values but not the rest of the store", async () => {
    const r = await box.kz(["run", "--sandbox", "--no-masking", "--only", "LOCAL_KEY", "--", "sh", "-c", 'echo "v=$LOCAL_KEY"; cat ~/.config/keyzero/local.key ~/.vault-token secrets/file-key.txt 2>&1; true'], {
      env: { SOURCE_VAR: ENV_VALUE },
    });
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`v=${LOCAL_VALUE}`);
    expect(r.stdout).toContain("Permission denied");
    for (const value of [FILE_VALUE, VAULT_TOKEN]) expect(r.stdout).not.toContain(value);
  });

  test("--no-sandbox warns once, and kz's own environment and memory stay closed to the command", async () => {
    const read = `for f in environ mem; do cat /proc/$PPID/$f >/dev/null 2>&1 && echo "read $f" || echo "denied $f"; done`;
    const r = await box.kz(["run", "--blind", "--no-sandbox", "--", "sh", "-c", read], { env: { SOURCE_VAR: ENV_VALUE } });
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("denied environ");
    expect(r.stdout).toContain("denied mem");
    expect(r.stderr.match(/WITHOUT the sandbox/g)?.length).toBe(1);
  });

  test("no sandbox mechanism: refuses with one line and exit 5, nothing started", async () => {
    const marker = join(box.project, "started-without-sandbox");
    const r = await box.kz(["run", "--blind", "--", "/usr/bin/touch", marker], { env: { SOURCE_VAR: ENV_VALUE, PATH: box.dir } });
    expect(r.code).toBe(5);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
    expect(r.stderr).toContain("bubblewrap");
    expect(r.stderr).toContain("--no-sandbox");
    expect(existsSync(marker)).toBe(false);
  });

  test.skipIf(mechanism.name !== "bubblewrap" || !asRoot)("a bwrap that cannot create namespaces (AppArmor, a container): exit 5 naming why, the command never ran", async () => {
    const fake = rootOwnedTool("bwrap", '#!/bin/sh\necho "bwrap: setting up uid map: Permission denied" >&2\nexit 1\n');
    const marker = join(box.project, "started-in-broken-sandbox");
    const r = await box.kz(["run", "--blind", "--", "/usr/bin/touch", marker], { env: { SOURCE_VAR: ENV_VALUE, PATH: `${join(fake, "..")}:/usr/bin:/bin` } });
    expect(r.code).toBe(5);
    expect(r.stderr).toContain("kz: error: no sandbox:");
    expect(r.stderr).toContain("bwrap cannot create a sandbox here (setting up uid map: Permission denied)");
    expect(r.stderr).toContain("--no-sandbox");
    if (hasUnshare) expect(r.stderr).toContain("kz's own namespaces work here: set KZ_SANDBOX_MECHANISM=namespaces");
    expect(existsSync(marker)).toBe(false);
  });

  test.skipIf(mechanism.name !== "namespaces" || !asRoot)("an unshare that cannot create namespaces (AppArmor, a container): exit 5 naming why, the command never ran", async () => {
    const fake = rootOwnedTool("unshare", '#!/bin/sh\necho "unshare: unshare failed: Operation not permitted" >&2\nexit 1\n');
    const marker = join(box.project, "started-in-broken-namespaces");
    const r = await box.kz(["run", "--blind", "--", "/usr/bin/touch", marker], { env: { SOURCE_VAR: ENV_VALUE, PATH: `${join(fake, "..")}:/usr/bin:/bin` } });
    expect(r.code).toBe(5);
    expect(r.stderr).toContain("kz: error: no sandbox: unshare cannot create user namespaces here (unshare failed: Operation not permitted) — install bubblewrap");
    expect(r.stderr).toContain("--no-sandbox");
    expect(existsSync(marker)).toBe(false);
  });

  test("a sandbox tool the agent planted on PATH (~/.local/bin/bwrap, unshare, setpriv) is ignored: the run stays sandboxed", async () => {
    const planted = ["bwrap", "unshare", "setpriv", "setsid"].map((tool) =>
      box.write(`.local/bin/${tool}`, '#!/bin/sh\n# planted: run the command with no sandbox at all\nwhile [ "$1" != "--" ]; do shift; done; shift; exec "$@"\n', 0o755),
    );
    const r = await box.kz(["run", "--blind", "--", "sh", "-c", 'cat ~/.config/keyzero/local.key >/dev/null 2>&1 && echo "KEY READ" || echo "key hidden"'], {
      env: { SOURCE_VAR: ENV_VALUE, PATH: `${join(box.home, ".local/bin")}:${box.env.PATH}` },
    });
    for (const path of planted) rmSync(path);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("key hidden");
    expect(r.stderr).toContain(`ignoring ${join(box.home, ".local/bin")}/`);
  });

  test("signals pass through the sandbox, and the exit status is the command's", async () => {
    const ready = join(box.project, `sig-ready-${mechanism.name}`);
    const proc = Bun.spawn(
      [...box.account.prefix, box.kzPath, "run", "--blind", "--", "sh", "-c", `trap 'exit 9' TERM; touch ${ready}; while :; do sleep 0.05; done`],
      { cwd: box.project, env: { ...box.env, SOURCE_VAR: ENV_VALUE }, stdout: "ignore", stderr: "ignore" },
    );
    while (!existsSync(ready)) await Bun.sleep(20);
    // setpriv execs kz, so proc.pid is kz's own pid.
    proc.kill("SIGTERM");
    expect(await proc.exited).toBe(9);
    const killed = await box.kz(["run", "--blind", "--", "sh", "-c", "kill -KILL $$"], { env: { SOURCE_VAR: ENV_VALUE } });
    expect(killed.code).toBe(137);
    const missing = await box.kz(["run", "--blind", "--", "no-such-command-kz"], { env: { SOURCE_VAR: ENV_VALUE } });
    expect(missing.code).toBe(127);
  });

  test("kz killed outright (SIGKILL): the sandbox and everything in it go with it", async () => {
    // The command's stdout is this pipe: it reaches EOF only once no process in the sandbox holds it.
    const proc = Bun.spawn([...box.account.prefix, box.kzPath, "run", "--blind", "--no-masking", "--", "sh", "-c", "sleep 1000 & echo ready; exec sleep 1000"], {
      cwd: box.project,
      env: { ...box.env, SOURCE_VAR: ENV_VALUE },
      stdout: "pipe",
      stderr: "ignore",
    });
    const reader = proc.stdout.getReader();
    let seen = "";
    while (!seen.includes("ready")) {
      const { value, done } = await reader.read();
      if (done) break;
      seen += new TextDecoder().decode(value);
    }
    expect(seen).toContain("ready");
    proc.kill("SIGKILL"); // setpriv execs kz, so this is kz itself: no handler, no clean-up
    while (!(await reader.read()).done); // a sandbox that outlived kz keeps the pipe open: the test times out
    await proc.exited;
    // kz had no chance to remove the mount point it made for the absent override: an empty file stays.
    const override = join(box.project, ".keyzero.local.toml");
    if (existsSync(override)) expect(readFileSync(override).length).toBe(0);
    rmSync(override, { force: true });
  });

  test("--network proxy: a direct connection fails and is never seen; allow_tcp relays and is audited; the bound call works", async () => {
    let seenOutside = 0;
    const outside = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { open: (socket) => void (seenOutside++, socket.end("outside")), data: () => {} } });
    const echo = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data: (socket, data) => void socket.end(`pong:${data}`) } });
    try {
      box.write(
        "net/.keyzero.toml",
        `[blind]
upstream_ca = "../upstream-ca.pem"
resolve = { "${API}:443" = "127.0.0.1:${upstream.port}" }
network = "proxy"
allow_tcp = ["127.0.0.1:${echo.port}"]

[secrets]
LOCAL_KEY = { provider = "local", hosts = ["${API}"] }
`,
        0o644,
      );
      const cwd = join(box.home, "net");
      await box.kz(["allow"], { cwd });
      const agent = `
import socket, subprocess, os
def attempt(port, send):
    try:
        c = socket.create_connection(("127.0.0.1", port), timeout=5)
        c.sendall(send)
        return "connected:" + c.recv(100).decode()
    except OSError as e:
        return "failed:" + type(e).__name__
print("direct=" + attempt(${outside.port}, b"x"))
print("tcp=" + attempt(${echo.port}, b"ping"))
r = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-H", "Authorization: Bearer " + os.environ["LOCAL_KEY"], "https://${API}/echo"], capture_output=True, text=True)
print("curl=" + r.stdout)
# The processes relaying its connections (kz's helper) hold no capability it could turn against a mount.
caps = set()
for pid in (p for p in os.listdir("/proc") if p.isdigit()):
    try:
        caps |= {l.split()[1] for l in open(f"/proc/{pid}/status") if l.startswith("CapEff")}
    except OSError:
        pass
print("caps=" + ",".join(sorted(caps)))
`;
      const before = upstream.requests.length;
      const r = await box.kz(["run", "--blind", "--", "/usr/bin/python3", "-c", agent], { cwd });
      expect(r.code).toBe(0);
      expect(r.stdout).toContain("direct=failed:");
      expect(r.stdout).toContain("tcp=connected:pong:ping");
      expect(r.stdout).toContain("curl=200");
      expect(r.stdout).toContain("caps=0000000000000000\n");
      expect(seenOutside).toBe(0);
      expect(upstream.requests.slice(before).some((q) => q.headers.authorization === `Bearer ${LOCAL_VALUE}`)).toBe(true);
      const records = readFileSync(auditLog, "utf8").trim().split("\n").map((line) => JSON.parse(line));
      expect(records.some((rec) => rec.event === "blind.tcp" && rec.host === `127.0.0.1:${echo.port}`)).toBe(true);

      // The same agent with the network open reaches the outside listener: the test can tell the difference.
      const open = await box.kz(["run", "--blind", "--network", "open", "--", "/usr/bin/python3", "-c", agent], { cwd });
      expect(open.stdout).toContain("direct=connected:outside");
      expect(seenOutside).toBe(1);
    } finally {
      outside.stop(true);
      echo.stop(true);
    }
  });

  // bubblewrap's helper has no capability in its network namespace, so it cannot listen below port 1024.
  test.skipIf(mechanism.name !== "namespaces")("--network proxy: allow_tcp to a port below 1024 is relayed too", async () => {
    const host = `127.${1 + Math.floor(Math.random() * 250)}.${1 + Math.floor(Math.random() * 250)}.${1 + Math.floor(Math.random() * 250)}`;
    const echo = Bun.listen({ hostname: host, port: 80, socket: { data: (socket, data) => void socket.end(`pong:${data}`) } });
    try {
      box.write("low/.keyzero.toml", `[blind]\nnetwork = "proxy"\nallow_tcp = ["${host}:80"]\n\n[secrets]\nLOCAL_KEY = { provider = "local", hosts = ["${API}"] }\n`, 0o644);
      const cwd = join(box.home, "low");
      await box.kz(["allow"], { cwd });
      const agent = `import socket\nc = socket.create_connection(("${host}", 80), timeout=5)\nc.sendall(b"ping")\nprint("tcp=" + c.recv(100).decode())`;
      const r = await box.kz(["run", "--blind", "--", "/usr/bin/python3", "-c", agent], { cwd });
      expect(r.stderr).toBe("");
      expect(r.stdout).toContain("tcp=pong:ping");
    } finally {
      echo.stop(true);
    }
  });

  test("on the user's terminal, the sandboxed command cannot push keystrokes into it (TIOCSTI)", async () => {
    // Ordinary user only: root may TIOCSTI into any terminal (CAP_SYS_ADMIN).
    const inject = `import fcntl, termios
try:
    fcntl.ioctl(0, termios.TIOCSTI, b"X")
    print("injected")
except OSError as e:
    print("refused", e.errno)`;
    let screen = "";
    const proc = Bun.spawn([...box.account.prefix, box.kzPath, "run", "--blind", "--no-masking", "--", "/usr/bin/python3", "-c", inject], {
      cwd: box.project,
      env: { ...box.env, SOURCE_VAR: ENV_VALUE, TERM: "xterm" },
      terminal: { cols: 80, rows: 24, data: (_t, data) => void (screen += new TextDecoder().decode(data)) },
    });
    expect(await proc.exited).toBe(0);
    proc.terminal?.close();
    expect(screen).toContain("refused");
    expect(screen).not.toContain("injected");
  });
});
