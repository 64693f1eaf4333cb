// npm run release [-- --targets linux-x64,linux-arm64] [--out DIR] [--base-url URL]
// Builds kz for each target (default: all five) with the package.json version and git commit baked in,
// each on the Bun runtime from the pinned Bun version's npm package (scripts/release/runtime.ts), and
// writes to dist/release/:
//   kz-<version>-<os>-<arch>.tar.gz   kz, LICENSE, README.md, completions/{kz.bash,_kz,kz.fish}
//   SHA256SUMS                        sha256sum format, over the archives
//   kz.rb                             Homebrew formula (the darwin/linux x64/arm64 archives built; musl is
//                                     for scripts/install.sh on Alpine, not brew)
//   install.sh                        scripts/install.sh, to publish beside the archives
// Reproducible: the same commit (and SOURCE_DATE_EPOCH, default the commit's time) gives the same
// archive bytes apart from the binary (scripts/release/tar.ts). Completions come from the host's build.

import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { bunRuntime, TARGETS, type Target } from "./release/runtime.ts";
import { tarGz, type TarEntry } from "./release/tar.ts";
import { formula, type FormulaArchive } from "./release/formula.ts";

const ROOT = resolve(import.meta.dir, "..");
const HOMEPAGE = "https://github.com/keyzero-dev/kz";
const USAGE = `usage: bun scripts/release.ts [--targets ${TARGETS.map((t) => t.name).join(",")}] [--out DIR] [--base-url URL]`;

function fail(message: string): never {
  console.error(`release: error: ${message}`);
  process.exit(1);
}

function option(args: string[], name: string): string | undefined {
  const i = args.indexOf(name);
  if (i < 0) return undefined;
  const value = args[i + 1];
  if (value === undefined || value.startsWith("--")) fail(`${name} needs a value\n${USAGE}`);
  return value;
}

function git(...argv: string[]): string | undefined {
  try {
    const proc = Bun.spawnSync(["git", ...argv], { cwd: ROOT, stderr: "ignore" });
    return proc.exitCode === 0 ? proc.stdout.toString().trim() : undefined;
  } catch {
    return undefined; // no git installed
  }
}

/** The commit to bake in: KZ_BUILD_COMMIT (a source tarball), else HEAD, "-dirty" when tracked files differ. */
function buildCommit(): string {
  if (process.env.KZ_BUILD_COMMIT) return process.env.KZ_BUILD_COMMIT;
  const head = git("rev-parse", "--short=7", "HEAD") ?? fail("not a git checkout: set KZ_BUILD_COMMIT and SOURCE_DATE_EPOCH");
  if (git("status", "--porcelain", "--untracked-files=no") === "") return head;
  console.error(`release: warning: the working tree differs from ${head}; the binaries say ${head}-dirty (publish only from a clean checkout)`);
  return `${head}-dirty`;
}

/** The target this machine runs (musl when the C library is musl). */
function hostTargetName(): string {
  const musl = process.platform === "linux" && (existsSync("/etc/alpine-release") || !!Bun.spawnSync(["sh", "-c", "ls /lib/ld-musl-* 2>/dev/null"]).stdout.length);
  return `${process.platform}-${process.arch}${musl ? "-musl" : ""}`;
}

function build(outfile: string, commit: string, target?: Target, runtime?: string): void {
  const argv = [process.execPath, "scripts/build.ts", "--outfile", outfile];
  if (target) argv.push("--target", target.bunTarget, "--executable-path", runtime!);
  const proc = Bun.spawnSync(argv, { cwd: ROOT, env: { ...process.env, KZ_BUILD_COMMIT: commit }, stdout: "ignore", stderr: "pipe" });
  if (proc.exitCode !== 0) fail(`build for ${target?.name ?? "this machine"} failed:\n${proc.stderr.toString().trim()}`);
}

function capture(bin: string, argv: string[], home: string): string {
  const proc = Bun.spawnSync([bin, ...argv], { env: { PATH: "/usr/bin:/bin", HOME: home, NO_COLOR: "1" }, cwd: home, stdout: "pipe", stderr: "pipe" });
  if (proc.exitCode !== 0) fail(`${bin} ${argv.join(" ")} failed: ${proc.stderr.toString().trim()}`);
  return proc.stdout.toString();
}

function main(): void {
  const args = process.argv.slice(2);
  if (args.includes("--help") || args.includes("-h")) {
    console.log(USAGE);
    return;
  }
  const known = new Set(["--targets", "--out", "--base-url"]);
  for (let i = 0; i < args.length; i += 2) if (!known.has(args[i]!)) fail(`unknown option ${args[i]}\n${USAGE}`);
  const names = (option(args, "--targets") ?? TARGETS.map((t) => t.name).join(",")).split(",").filter(Boolean);
  const targets = names.map((n) => TARGETS.find((t) => t.name === n) ?? fail(`unknown target "${n}" (known: ${TARGETS.map((t) => t.name).join(", ")})`));
  const out = resolve(option(args, "--out") ?? join(ROOT, "dist/release"));

  const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8"));
  const version: string = pkg.version;
  const bunVersion: string = pkg.devDependencies?.bun;
  // Bytecode is tied to the Bun that compiled it: the runtime packages must be the compiler's own version.
  if (Bun.version !== bunVersion) fail(`this is Bun ${Bun.version} but package.json pins bun ${bunVersion}; run npm install, then npm run release`);
  const commit = buildCommit();
  const mtime = Number(process.env.SOURCE_DATE_EPOCH || git("log", "-1", "--format=%ct", "HEAD") || NaN);
  if (!Number.isSafeInteger(mtime) || mtime < 0) fail("SOURCE_DATE_EPOCH must be a number of seconds (outside a git checkout it must be set)");
  const baseUrl = (option(args, "--base-url") ?? `${HOMEPAGE}/releases/download/v${version}`).replace(/\/+$/, "");

  const started = performance.now();
  mkdirSync(out, { recursive: true });
  const staging = join(out, ".staging");
  for (const old of [staging, join(out, "SHA256SUMS"), join(out, "kz.rb"), join(out, "install.sh")]) rmSync(old, { recursive: true, force: true });
  for (const t of TARGETS) rmSync(join(out, `kz-${version}-${t.name}.tar.gz`), { force: true });
  mkdirSync(staging);
  const cache = join(ROOT, "node_modules/.cache/kz-release");
  const log = (line: string) => console.error(`release: ${line}`);

  const binaries = new Map<string, string>();
  for (const t of targets) {
    const runtime = bunRuntime(ROOT, t, bunVersion, cache, log);
    const bin = join(staging, t.name, "kz");
    const t0 = performance.now();
    build(bin, commit, t, runtime);
    log(`built ${t.name} in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    binaries.set(t.name, bin);
  }

  // Completions (and a check that the build runs) from this machine's binary: the host target's when it
  // was built, else a separate host build.
  let host = binaries.get(hostTargetName());
  if (!host) {
    host = join(staging, "host/kz");
    build(host, commit);
  }
  const home = join(staging, "home");
  mkdirSync(home);
  const line = capture(host, ["--version"], home);
  if (line !== `kz ${version} (${commit})\n`) fail(`the built kz says ${JSON.stringify(line)}, expected "kz ${version} (${commit})"`);
  const text = (s: string) => new TextEncoder().encode(s);
  const common: TarEntry[] = [
    { name: "LICENSE", mode: 0o644, data: readFileSync(join(ROOT, "LICENSE")) },
    { name: "README.md", mode: 0o644, data: readFileSync(join(ROOT, "README.md")) },
    { name: "completions/", mode: 0o755 },
    { name: "completions/kz.bash", mode: 0o644, data: text(capture(host, ["completion", "bash"], home)) },
    { name: "completions/_kz", mode: 0o644, data: text(capture(host, ["completion", "zsh"], home)) },
    { name: "completions/kz.fish", mode: 0o644, data: text(capture(host, ["completion", "fish"], home)) },
  ];

  const sums: string[] = [];
  const brew: FormulaArchive[] = [];
  for (const t of targets) {
    const file = `kz-${version}-${t.name}.tar.gz`;
    const archive = tarGz([...common, { name: "kz", mode: 0o755, data: readFileSync(binaries.get(t.name)!) }], mtime);
    writeFileSync(join(out, file), archive);
    const sha256 = new Bun.CryptoHasher("sha256").update(archive).digest("hex");
    sums.push(`${sha256}  ${file}`);
    if (!t.musl) brew.push({ os: t.os, arch: t.arch, url: `${baseUrl}/${file}`, sha256 });
    log(`${file}  ${(archive.length / 1e6).toFixed(1)} MB (binary ${(statSync(binaries.get(t.name)!).size / 1e6).toFixed(1)} MB)`);
  }
  writeFileSync(join(out, "SHA256SUMS"), `${sums.sort((a, b) => (a.slice(66) < b.slice(66) ? -1 : 1)).join("\n")}\n`);
  if (brew.length) {
    writeFileSync(join(out, "kz.rb"), formula({ version, homepage: HOMEPAGE, archives: brew }));
    if (brew.length < 4) log(`warning: kz.rb lists only ${brew.map((a) => `${a.os}-${a.arch}`).join(", ")} (a subset build); publish a formula from a full release`);
  }
  copyFileSync(join(ROOT, "scripts/install.sh"), join(out, "install.sh"));
  rmSync(staging, { recursive: true, force: true });
  log(`${targets.length} archive(s), SHA256SUMS${brew.length ? ", kz.rb" : ""} and install.sh in ${out} (${((performance.now() - started) / 1000).toFixed(1)} s)`);
}

main();
