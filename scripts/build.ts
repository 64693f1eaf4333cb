// Builds the kz single-file executable with `bun build --compile`.
//   bun scripts/build.ts                 → dist/kz for this machine
//   bun scripts/build.ts --all           → dist/kz-<os>-<arch> for linux/darwin × x64/arm64
//   bun scripts/build.ts --target bun-darwin-arm64
//   bun scripts/build.ts --outfile /tmp/x/kz   → this machine's build elsewhere (tests take KZ_BIN=/tmp/x/kz)
//   bun scripts/build.ts --target bun-linux-arm64 --executable-path RUNTIME --outfile OUT   (scripts/release.ts:
//     the target's Bun runtime from its npm package, so nothing is downloaded at build time)
// The version (package.json) and the git commit (KZ_BUILD_COMMIT, else `git rev-parse`) are baked in.
// Splitting + bytecode keep startup to a few ms: each command and provider is its own chunk, loaded
// only when used. --all/--target alone make Bun fetch that platform's runtime from Bun's site once;
// `npm run release` (scripts/release.ts) passes the runtime from the pinned npm package instead.

import { mkdirSync, readFileSync } from "node:fs";

const version = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")).version as string;
const commit = process.env.KZ_BUILD_COMMIT || gitCommit();

/** The short commit, "-dirty" when tracked files differ from it; "unknown" outside a git checkout. */
function gitCommit(): string {
  const git = (...a: string[]) => Bun.spawnSync(["git", ...a], { cwd: new URL("..", import.meta.url).pathname, stderr: "ignore" });
  try {
    const head = git("rev-parse", "--short=7", "HEAD");
    if (head.exitCode !== 0) return "unknown";
    return head.stdout.toString().trim() + (git("diff", "--quiet", "HEAD", "--").exitCode === 0 ? "" : "-dirty");
  } catch {
    return "unknown"; // no git installed
  }
}

const targets = ["bun-linux-x64", "bun-linux-arm64", "bun-darwin-x64", "bun-darwin-arm64"];
const args = process.argv.slice(2);
const wanted = args.includes("--all") ? targets : args.includes("--target") ? [args[args.indexOf("--target") + 1]!] : [undefined];

mkdirSync("dist", { recursive: true });
for (const target of wanted) {
  const outfile = args.includes("--outfile") ? args[args.indexOf("--outfile") + 1]! : target ? `dist/kz-${target.replace(/^bun-/, "")}` : "dist/kz";
  const cmd = [process.execPath, "build", "src/main.ts", "--compile", "--splitting", "--bytecode", "--format=esm", "--minify", "--sourcemap=none", `--outfile=${outfile}`,
    `--define=KZ_BUILD_VERSION=${JSON.stringify(version)}`, `--define=KZ_BUILD_COMMIT=${JSON.stringify(commit)}`,
    // A secrets tool must not pick up a .env or bunfig.toml from whatever directory it runs in.
    "--no-compile-autoload-dotenv", "--no-compile-autoload-bunfig",
    // Start-up code runs once: JavaScriptCore's tier-up thresholds ×8 keep it in the interpreter instead of
    // compiling it (~4 ms of CPU off `kz run`). Long-lived work sets the normal policy back
    // (Bun.unsafe.setJITPolicy(1): once kz run's child is started, and for kz server).
    "--compile-jit-policy=8"];
  if (target) cmd.push(`--target=${target}`);
  if (args.includes("--executable-path")) cmd.push(`--compile-executable-path=${args[args.indexOf("--executable-path") + 1]!}`);
  const started = performance.now();
  const proc = Bun.spawnSync(cmd, { stdout: "inherit", stderr: "inherit" });
  if (proc.exitCode !== 0) {
    console.error(`build failed for ${target ?? "this machine"}`);
    process.exit(proc.exitCode ?? 1);
  }
  console.error(`built ${outfile} in ${Math.round(performance.now() - started)} ms`);
}
