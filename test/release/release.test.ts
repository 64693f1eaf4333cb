// scripts/release.ts for this machine's target and linux-arm64 (one run shared by the file, a second
// run of linux-arm64 for reproducibility): archive contents and metadata, the binaries, SHA256SUMS, the
// Homebrew formula read back platform by platform, and install.sh installing the real archive.

import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { mkdirSync, readFileSync, readdirSync, symlinkSync } from "node:fs";
import { join, resolve } from "node:path";
import { HOST, releaseServer, runInstall, scratch, toolDir } from "./harness.ts";

setDefaultTimeout(120_000); // each step reads ~50 MB archives; the machine may be busy

const ROOT = resolve(import.meta.dir, "../..");
const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8"));
const VERSION: string = pkg.version;
const TARGETS = [...new Set([HOST, "linux-arm64"])];
const MEMBERS = ["LICENSE", "README.md", "completions/", "completions/_kz", "completions/kz.bash", "completions/kz.fish", "kz"];
const box = scratch("kz-release-");
const out = join(box.dir, "out");
const archive = (t: string, dir = out) => join(dir, `kz-${VERSION}-${t}.tar.gz`);

function sh(argv: string[], cwd = box.dir): { code: number; stdout: string; stderr: string } {
  const p = Bun.spawnSync(argv, { cwd, env: { ...process.env, TZ: "UTC" }, stdout: "pipe", stderr: "pipe" });
  return { code: p.exitCode ?? -1, stdout: p.stdout.toString(), stderr: p.stderr.toString() };
}

function release(args: string[], env: Record<string, string> = {}) {
  const p = Bun.spawnSync([process.execPath, "scripts/release.ts", ...args], { cwd: ROOT, env: { ...process.env, ...env }, stdout: "pipe", stderr: "pipe" });
  return { code: p.exitCode ?? -1, stderr: p.stderr.toString() };
}

function git(...argv: string[]): string | undefined {
  try {
    const r = sh(["git", ...argv], ROOT);
    return r.code === 0 ? r.stdout.trim() : undefined;
  } catch {
    return undefined;
  }
}

/** A tree without .git (a CI copy) builds with the commit and time given, as from a source tarball. */
const IN_GIT = git("rev-parse", "HEAD") !== undefined;
const PINNED: Record<string, string> = IN_GIT ? { KZ_BUILD_COMMIT: "", SOURCE_DATE_EPOCH: "" } : { KZ_BUILD_COMMIT: "0000000", SOURCE_DATE_EPOCH: "1700000000" };
let commit: string;
let commitTime: number;
let first: { code: number; stderr: string };

beforeAll(() => {
  commit = IN_GIT ? git("rev-parse", "--short=7", "HEAD") + (git("status", "--porcelain", "--untracked-files=no") ? "-dirty" : "") : PINNED.KZ_BUILD_COMMIT!;
  commitTime = Number(IN_GIT ? git("log", "-1", "--format=%ct", "HEAD") : PINNED.SOURCE_DATE_EPOCH);
  first = release(["--targets", TARGETS.join(","), "--out", out], PINNED);
  if (first.code !== 0) throw new Error(`release failed: ${first.stderr}`);
}, 600_000);

afterAll(() => box.cleanup());

/** `tar -tv` lines of an archive: mode, owner, size, date (UTC) and name (GNU tar). */
function listing(file: string): string[] {
  const r = sh(["tar", "--numeric-owner", "--full-time", "-tvzf", file]);
  expect(r.code).toBe(0);
  return r.stdout.trim().split("\n");
}

describe("npm run release", () => {
  test("each archive holds exactly kz, LICENSE, README.md and the completions, owned by 0/0 at the commit's time, in name order", () => {
    expect(readdirSync(out).sort()).toEqual([...TARGETS.map((t) => `kz-${VERSION}-${t}.tar.gz`), "SHA256SUMS", "install.sh", "kz.rb"].sort());
    for (const t of TARGETS) {
      expect(sh(["tar", "-tzf", archive(t)]).stdout.trim().split("\n")).toEqual(MEMBERS);
      const stamp = new Date(commitTime * 1000).toISOString().replace("T", " ").slice(0, 19);
      const lines = listing(archive(t));
      for (const line of lines) expect(line).toMatch(new RegExp(`^[-d]rw[-x]r-[-x]r-[-x] 0/0 +\\d+ ${stamp} `));
      expect(lines.find((l) => l.endsWith(" kz"))).toStartWith("-rwxr-xr-x 0/0 ");
    }
  });

  test("the linux-arm64 binary is an aarch64 ELF; this machine's runs and prints the version and commit", () => {
    const x = join(box.dir, "x");
    for (const t of TARGETS) {
      mkdirSync(join(x, t), { recursive: true });
      expect(sh(["tar", "-xzf", archive(t), "-C", join(x, t)]).code).toBe(0);
    }
    expect(sh(["file", "-b", join(x, "linux-arm64/kz")]).stdout).toMatch(/^ELF 64-bit LSB executable, ARM aarch64/);
    const run = sh([join(x, HOST, "kz"), "--version"]);
    expect(run.stdout).toBe(`kz ${VERSION} (${commit})\n`);
    const json = JSON.parse(sh([join(x, HOST, "kz"), "version", "--json"]).stdout);
    expect(json).toEqual({ version: VERSION, commit, bun: pkg.devDependencies.bun, platform: HOST });
    // completions are the host build's own output
    expect(readFileSync(join(x, "linux-arm64/completions/kz.bash"), "utf8")).toBe(sh([join(x, HOST, "kz"), "completion", "bash"]).stdout);
    expect(readFileSync(join(x, HOST, "LICENSE"), "utf8")).toContain("Apache License");
  });

  test("SHA256SUMS verifies with sha256sum -c and covers every archive", () => {
    const check = sh(["sha256sum", "-c", "SHA256SUMS"], out);
    expect(check.code).toBe(0);
    expect(check.stdout.trim().split("\n").sort()).toEqual(TARGETS.map((t) => `kz-${VERSION}-${t}.tar.gz: OK`).sort());
  });

  test("kz.rb parses, and on each platform built Homebrew would fetch that platform's archive with its sha256", () => {
    const rb = join(out, "kz.rb");
    expect(sh(["ruby", "-c", rb]).stdout).toContain("Syntax OK");
    const platforms = { "linux-x64": ["linux", "intel"], "linux-arm64": ["linux", "arm"], "darwin-x64": ["macos", "intel"], "darwin-arm64": ["macos", "arm"] } as const;
    for (const [target, [os, cpu]] of Object.entries(platforms)) {
      const r = sh(["ruby", join(import.meta.dir, "formula-eval.rb"), rb, os, cpu]);
      expect(r.code).toBe(0);
      const fields = JSON.parse(r.stdout);
      expect(fields).toMatchObject({ version: VERSION, license: "Apache-2.0", homepage: "https://github.com/keyzero-dev/kz" });
      if (!TARGETS.includes(target)) {
        expect(fields.url).toBeUndefined(); // a subset build lists only what it built
        continue;
      }
      const file = `kz-${VERSION}-${target}.tar.gz`;
      expect(fields.url).toBe(`https://github.com/keyzero-dev/kz/releases/download/v${VERSION}/${file}`);
      expect(fields.sha256).toBe(new Bun.CryptoHasher("sha256").update(readFileSync(join(out, file))).digest("hex"));
    }
    const text = readFileSync(rb, "utf8");
    expect(text).toContain('bash_completion.install "completions/kz.bash" => "kz"');
    expect(text).toContain('system bin/"kz", "init"');
  });

  test("install.sh installs the real archive from a release folder, and it runs", async () => {
    const releases = join(box.dir, "releases");
    mkdirSync(releases);
    symlinkSync(out, join(releases, VERSION));
    const server = releaseServer(releases, { version: VERSION });
    try {
      const home = join(box.dir, "home");
      mkdirSync(join(home, "tmp"), { recursive: true });
      const path = toolDir(box.dir, "bin", ["curl", "sha256sum"]);
      const r = await runInstall({ shell: "sh", path, home, env: { KZ_INSTALL_BASE: server.base, TMPDIR: join(home, "tmp") } });
      expect(r.stderr).toContain(`installed kz ${VERSION} (${commit}) to ${home}/.local/bin/kz`);
      expect(r.code).toBe(0);
      expect(sh([join(home, ".local/bin/kz"), "--version"]).stdout).toBe(`kz ${VERSION} (${commit})\n`);
    } finally {
      server.stop();
    }
  });

  test("two builds of one commit give byte-identical archives, binary included, without fetching Bun again", () => {
    // From a clone of HEAD, so that others' edits to this working tree between the two builds cannot count
    // (a copy without .git is built in place).
    const clone = IN_GIT ? join(box.dir, "clone") : ROOT;
    if (IN_GIT) {
      expect(sh(["git", "clone", "-q", "--shared", ROOT, clone]).code).toBe(0);
      symlinkSync(join(ROOT, "node_modules"), join(clone, "node_modules"));
    }
    const build = (dir: string) => {
      const p = Bun.spawnSync([process.execPath, join(clone, "scripts/release.ts"), "--targets", "linux-arm64", "--out", dir], { cwd: clone, env: { ...process.env, ...PINNED }, stdout: "pipe", stderr: "pipe" });
      expect(p.exitCode).toBe(0);
      expect(p.stderr.toString()).not.toContain("fetching"); // the runtime package is cached in node_modules/.cache/kz-release
      return archive("linux-arm64", dir);
    };
    const [a, b] = [build(join(box.dir, "r1")), build(join(box.dir, "r2"))];
    expect(listing(b)).toEqual(listing(a));
    for (const member of MEMBERS.filter((m) => m !== "kz" && !m.endsWith("/"))) {
      expect(sh(["tar", "-xOzf", b, member]).stdout).toBe(sh(["tar", "-xOzf", a, member]).stdout);
    }
    // Bun's compile is deterministic for the same sources and runtime, so the whole archive matches.
    expect(readFileSync(b).equals(readFileSync(a))).toBe(true);
  }, 600_000);

  test("bad options: one line, exit 1, nothing built", () => {
    const bad = release(["--targets", "linux-riscv64", "--out", join(box.dir, "bad")]);
    expect(bad.code).toBe(1);
    expect(bad.stderr.trim()).toBe('release: error: unknown target "linux-riscv64" (known: linux-x64, linux-arm64, linux-x64-musl, darwin-x64, darwin-arm64)');
    expect(release(["--bogus"]).stderr).toStartWith("release: error: unknown option --bogus");
  });
});
