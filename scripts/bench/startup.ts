// Startup benchmark: `kz --version`, `kz run -- true` with ten secrets (five env, five local store),
// and the peers `dotenvx run -- true` and `dotenv -- true` loading the same ten values from a .env,
// beside the floor: a compiled Bun binary that does nothing (`export {}`, built once with the same
// Bun and the same --no-compile-autoload-* flags as kz, cached in $TMPDIR/kz-bench-floor). Prints a
// Markdown table for README with each row's ratio to the floor.
//   bun scripts/bench/startup.ts [--runs 60] [--kz PATH] [--no-peers]
// The cases are interleaved (one run of each per round, the order rotated every round), so a machine
// shared with other work slows them alike and the ratios hold even when the absolute times do not.
// Peers are installed once into $TMPDIR/kz-bench-peers from the npm registry.

import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

const argValue = (name: string) => (process.argv.includes(name) ? process.argv[process.argv.indexOf(name) + 1] : undefined);
const runs = Number(argValue("--runs")) || 60;
const kz = resolve(argValue("--kz") ?? resolve(import.meta.dir, "../../dist/kz"));
const withPeers = !process.argv.includes("--no-peers");
if (!existsSync(kz)) throw new Error(`${kz} is missing — run \`npm run build\` first`);

/** The floor: a do-nothing program compiled like kz (same Bun, same autoload flags), built once. */
function floorBinary(): string {
  const dir = join(tmpdir(), "kz-bench-floor", Bun.version);
  const bin = join(dir, "floor");
  if (existsSync(bin)) return bin;
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "floor.ts"), "export {};\n");
  const build = Bun.spawnSync(
    [process.execPath, "build", join(dir, "floor.ts"), "--compile", "--bytecode", "--minify", "--format=esm", `--outfile=${bin}`, "--no-compile-autoload-dotenv", "--no-compile-autoload-bunfig"],
    { stdout: "ignore", stderr: "inherit" },
  );
  if (build.exitCode !== 0) throw new Error("could not compile the floor binary");
  return bin;
}

const peers = join(tmpdir(), "kz-bench-peers");
if (withPeers && (!existsSync(join(peers, "node_modules/.bin/dotenvx")) || !existsSync(join(peers, "node_modules/.bin/dotenv")))) {
  mkdirSync(peers, { recursive: true });
  const install = Bun.spawnSync(["npm", "install", "--prefix", peers, "--no-audit", "--no-fund", "@dotenvx/dotenvx", "dotenv-cli"], { stderr: "inherit" });
  if (install.exitCode !== 0) throw new Error("could not install the peers from npm (or pass --no-peers)");
}

const dir = mkdtempSync(join(tmpdir(), "kz-bench-"));
const env: Record<string, string> = {
  PATH: process.env.PATH ?? "/usr/bin:/bin",
  HOME: dir,
  XDG_DATA_HOME: join(dir, "data"),
  XDG_CONFIG_HOME: join(dir, "config"),
};
const secrets: string[] = [];
const dotenv: string[] = [];
for (let i = 0; i < 5; i++) {
  env[`BENCH_ENV_${i}`] = `fake-bench-env-value-${i}-0123456789`;
  secrets.push(`ENV_${i} = { provider = "env", ref = "BENCH_ENV_${i}" }`);
  secrets.push(`LOCAL_${i} = { provider = "local" }`);
  dotenv.push(`ENV_${i}=fake-bench-env-value-${i}-0123456789`, `LOCAL_${i}=fake-bench-local-value-${i}-0123456789`);
}
writeFileSync(join(dir, ".keyzero.toml"), `[secrets]\n${secrets.join("\n")}\n`);
writeFileSync(join(dir, ".env"), `${dotenv.join("\n")}\n`);
for (let i = 0; i < 5; i++) {
  Bun.spawnSync([kz, "put", `LOCAL_${i}`], { cwd: dir, env, stdin: new Blob([`fake-bench-local-value-${i}-0123456789`]) });
}

interface Case {
  name: string;
  cmd: string[];
  /** Where the command's stdout and stderr go: /dev/null (as hyperfine does) or a pipe kz's parent reads. */
  output: "ignore" | "pipe";
  wall: number[];
  cpu: number[];
}
const row = (name: string, cmd: string[], output: Case["output"] = "ignore"): Case => ({ name, cmd, output, wall: [], cpu: [] });
const cases: Case[] = [
  row("floor: a compiled Bun binary doing nothing", [floorBinary()]),
  row("kz --version", [kz, "--version"]),
  row("kz run -- true (10 secrets: env + local)", [kz, "run", "--", "true"]),
  row("kz run -- true (10 secrets), output to a pipe", [kz, "run", "--", "true"], "pipe"),
];
if (withPeers) {
  cases.push(row("dotenvx run -- true (10 values)", [join(peers, "node_modules/.bin/dotenvx"), "run", "-q", "--", "true"]));
  cases.push(row("dotenv -- true (10 values)", [join(peers, "node_modules/.bin/dotenv"), "--", "true"]));
}

function once(c: Case): { wall: number; cpu: number } {
  const started = performance.now();
  const proc = Bun.spawnSync(c.cmd, { cwd: dir, env, stdout: c.output, stderr: c.output });
  const wall = performance.now() - started;
  const usage = proc.resourceUsage.cpuTime;
  return { wall, cpu: Number(usage.user + usage.system) / 1000 };
}

for (const c of cases) {
  const check = Bun.spawnSync(c.cmd, { cwd: dir, env, stdout: "ignore", stderr: "pipe" });
  if (check.exitCode !== 0) throw new Error(`${c.cmd.join(" ")} failed: ${check.stderr}`);
}
for (let round = -5; round < runs; round++) {
  for (let k = 0; k < cases.length; k++) {
    const c = cases[(k + Math.max(round, 0)) % cases.length]!;
    const t = once(c);
    if (round >= 0) {
      c.wall.push(t.wall);
      c.cpu.push(t.cpu);
    }
  }
}
rmSync(dir, { recursive: true, force: true });

const sorted = (xs: number[]) => [...xs].sort((a, b) => a - b);
const median = (xs: number[]) => sorted(xs)[xs.length >> 1]!;
const p90 = (xs: number[]) => sorted(xs)[Math.floor(xs.length * 0.9)]!;
const floor = cases[0]!;
console.log(`\n${runs} runs each, interleaved, after 5 warm-up rounds; wall time of the whole process and its CPU time (user + system, children included), ms\n`);
console.log("| command | median | p90 | CPU median | × floor (wall) | × floor (CPU) |");
console.log("|---|---:|---:|---:|---:|---:|");
for (const c of cases) {
  const ratio = (median(c.wall) / median(floor.wall)).toFixed(2);
  const cpuRatio = (median(c.cpu) / median(floor.cpu)).toFixed(2);
  console.log(`| \`${c.name}\` | ${median(c.wall).toFixed(1)} | ${p90(c.wall).toFixed(1)} | ${median(c.cpu).toFixed(1)} | ${ratio}× | ${cpuRatio}× |`);
}
