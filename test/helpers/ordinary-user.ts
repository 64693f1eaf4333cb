// Isolation tests must run as an ordinary user: root reads every file and every process's memory, so a
// root test proves nothing. As root (CI), this creates one unprivileged account (kz-agent-test) and runs
// kz and the agent as it through setpriv; as an ordinary user it runs them as that user. The project,
// its home and a copy of the kz binary live in a folder that user owns.

import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { KZ, runCaptured, sandboxMechanism, type KzResult } from "./kz.ts";

const ACCOUNT = "kz-agent-test";

export interface Account {
  uid: number;
  gid: number;
  /** argv prefix that runs a command as this account ([] when we already are it). */
  prefix: string[];
}

function idOf(flag: "-u" | "-g"): number | undefined {
  const r = Bun.spawnSync(["id", flag, ACCOUNT], { stdout: "pipe", stderr: "ignore" });
  return r.exitCode === 0 ? Number(r.stdout.toString().trim()) : undefined;
}

/** The account to test as, or why there is none (a test then says so and skips). */
export function ordinaryAccount(): Account | string {
  const uid = process.getuid?.() ?? 0;
  if (uid !== 0) return { uid, gid: process.getgid?.() ?? uid, prefix: [] };
  if (!Bun.which("setpriv")) return "setpriv (util-linux) is missing: cannot switch to an ordinary user";
  if (idOf("-u") === undefined) {
    const made = Bun.spawnSync(["useradd", "--system", "--no-create-home", "--shell", "/bin/sh", ACCOUNT], { stderr: "pipe" });
    if (made.exitCode !== 0 && idOf("-u") === undefined) return `cannot create the test user: ${made.stderr.toString().trim()}`;
  }
  const u = idOf("-u")!;
  const g = idOf("-g")!;
  return { uid: u, gid: g, prefix: [Bun.which("setpriv")!, `--reuid=${u}`, `--regid=${g}`, "--clear-groups", "--"] };
}

/** A throwaway home and project owned by the account, with its own copy of kz. */
export class UserBox {
  readonly dir: string;
  readonly home: string;
  readonly project: string;
  readonly kzPath: string;
  readonly env: Record<string, string>;

  constructor(readonly account: Account) {
    this.dir = mkdtempSync(join(tmpdir(), "kz-user-"));
    chmodSync(this.dir, 0o755);
    this.home = join(this.dir, "home");
    this.project = join(this.home, "project");
    mkdirSync(this.project, { recursive: true });
    this.kzPath = join(this.dir, "kz");
    copyFileSync(KZ, this.kzPath);
    chmodSync(this.kzPath, 0o755);
    this.env = {
      PATH: `${this.dir}:/usr/local/bin:/usr/bin:/bin`,
      HOME: this.home,
      USER: ACCOUNT,
      NO_COLOR: "1",
      TMPDIR: "/tmp",
      LANG: "C.UTF-8",
      ...sandboxMechanism(),
    };
  }

  /** Writes a file (relative to home) owned by the account, `mode` 0600 unless said otherwise. */
  write(rel: string, content: string, mode = 0o600): string {
    const path = join(this.home, rel);
    mkdirSync(join(path, ".."), { recursive: true });
    writeFileSync(path, content, { mode });
    chmodSync(path, mode);
    this.own();
    return path;
  }

  /** Gives the account everything under home (again, after the test wrote more files). */
  own(): void {
    Bun.spawnSync(["chown", "-R", `${this.account.uid}:${this.account.gid}`, this.home]);
  }

  run(argv: string[], opts: { env?: Record<string, string>; stdin?: string; cwd?: string } = {}): Promise<KzResult> {
    return runCaptured([...this.account.prefix, ...argv], { cwd: opts.cwd ?? this.project, env: { ...this.env, ...opts.env }, stdin: opts.stdin });
  }

  kz(args: string[], opts: { env?: Record<string, string>; stdin?: string; cwd?: string } = {}): Promise<KzResult> {
    return this.run([this.kzPath, ...args], opts);
  }

  async put(name: string, value: string): Promise<void> {
    const r = await this.kz(["put", name], { stdin: value });
    if (r.code !== 0) throw new Error(`kz put ${name} failed: ${r.stderr}`);
  }

  cleanup(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}
