// Startup benchmark: `kz --version`, `kz run -- true` with ten secrets (five env, five local store),
// and the peers `dotenvx run -- true` and `dotenv -- true` loading the same ten values from a .env,
// measured side by side in one run. Prints a Markdown table for README.
//   bun scripts/bench/startup.ts [--runs 60]
// Peers are installed once into $TMPDIR/kz-bench-peers from the npm registry.

import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

const runs = Number(process.argv[process.argv.indexOf("--runs") + 1]) || 60;
const kz = resolve(import.meta.dir, "../../dist/kz");
if (!existsSync(kz)) throw new Error("dist/kz is missing — run `npm run build` first");

const peers = join(tmpdir(), "kz-bench-peers");
if (!existsSync(join(peers, "node_modules/.bin/dotenvx")) || !existsSync(join(peers, "node_modules/.bin/dotenv"))) {
  mkdirSync(peers, { recursive: true });
  const install = Bun.spawnSync(["npm", "install", "--prefix", peers, "--no-audit", "--no-fund", "@dotenvx/dotenvx", "dotenv-cli"], { stderr: "inherit" });
  if (install.exitCode !== 0) throw new Error("could not install the peers from npm");
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

function measure(cmd: string[]): { median: number; p90: number; mean: number } {
  const check = Bun.spawnSync(cmd, { cwd: dir, env, stdout: "ignore", stderr: "pipe" });
  if (check.exitCode !== 0) throw new Error(`${cmd.join(" ")} failed: ${check.stderr}`);
  for (let i = 0; i < 5; i++) Bun.spawnSync(cmd, { cwd: dir, env, stdout: "ignore", stderr: "ignore" });
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t = performance.now();
    Bun.spawnSync(cmd, { cwd: dir, env, stdout: "ignore", stderr: "ignore" });
    times.push(performance.now() - t);
  }
  times.sort((a, b) => a - b);
  return { median: times[runs >> 1]!, p90: times[Math.floor(runs * 0.9)]!, mean: times.reduce((a, b) => a + b, 0) / runs };
}

const cases: [string, string[]][] = [
  ["kz --version", [kz, "--version"]],
  ["kz run -- true (10 secrets: env + local)", [kz, "run", "--", "true"]],
  ["dotenvx run -- true (10 values)", [join(peers, "node_modules/.bin/dotenvx"), "run", "-q", "--", "true"]],
  ["dotenv -- true (10 values)", [join(peers, "node_modules/.bin/dotenv"), "--", "true"]],
];
const results = cases.map(([name, cmd]) => ({ name, ...measure(cmd) }));
rmSync(dir, { recursive: true, force: true });

const kzRun = results[1]!.median;
console.log(`\n${runs} runs each, after 5 warm-ups; wall time of the whole process, ms\n`);
console.log("| command | median | p90 | mean | vs kz run |");
console.log("|---|---:|---:|---:|---:|");
for (const r of results) {
  console.log(`| \`${r.name}\` | ${r.median.toFixed(1)} | ${r.p90.toFixed(1)} | ${r.mean.toFixed(1)} | ${(r.median / kzRun).toFixed(1)}× |`);
}
