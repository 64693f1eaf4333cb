// Sandbox cost: `kz run --blind -- true` with and without the sandbox, side by side in one run (the
// cases take turns, so machine load hits them alike), with bubblewrap alone as the floor. Three local
// secrets, each bound to a host. Prints a Markdown table for README.
//   bun scripts/bench/sandbox.ts [--runs 40] [--kz dist/kz]
// KZ_SANDBOX_MECHANISM rows are added for each mechanism named in --mechanisms (comma-separated).

import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

function argument(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : undefined;
}

const runs = Number(argument("--runs")) || 40;
const kz = resolve(argument("--kz") ?? join(import.meta.dir, "../../dist/kz"));
const mechanisms = (argument("--mechanisms") ?? "").split(",").filter(Boolean);
if (!existsSync(kz)) throw new Error(`${kz} is missing — run \`npm run build\` first`);
const bwrap = Bun.which("bwrap");
if (!bwrap) throw new Error("bubblewrap (bwrap) is not installed");

const dir = mkdtempSync(join(tmpdir(), "kz-bench-sandbox-"));
const env: Record<string, string> = { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: dir, XDG_DATA_HOME: join(dir, "data"), XDG_CONFIG_HOME: join(dir, "config"), XDG_STATE_HOME: join(dir, "state") };
const names = ["OPENAI_API_KEY", "GITHUB_TOKEN", "SLACK_TOKEN"];
writeFileSync(join(dir, ".keyzero.toml"), `[secrets]\n${names.map((n, i) => `${n} = { provider = "local", hosts = ["api${i}.example.test"] }`).join("\n")}\n`);
for (const name of names) Bun.spawnSync([kz, "put", name], { cwd: dir, env, stdin: new Blob([`fake-bench-${name}-0123456789`]) });
Bun.spawnSync([kz, "allow"], { cwd: dir, env, stdout: "ignore", stderr: "ignore" }); // where approval exists

const cases: { name: string; cmd: string[]; env?: Record<string, string> }[] = [
  { name: "kz run --blind --no-sandbox -- true", cmd: [kz, "run", "--blind", "--no-sandbox", "--", "true"] },
  { name: "kz run --blind -- true (sandbox)", cmd: [kz, "run", "--blind", "--", "true"] },
  ...mechanisms.map((m) => ({ name: `kz run --blind -- true (${m})`, cmd: [kz, "run", "--blind", "--", "true"], env: { KZ_SANDBOX_MECHANISM: m } })),
  { name: "floor: bwrap (same namespaces and mounts) -- true", cmd: [bwrap, "--die-with-parent", "--unshare-pid", "--unshare-ipc", "--bind", "/", "/", "--dev-bind", "/dev", "/dev", "--proc", "/proc", "--", "true"] },
  { name: "floor: kz --version (kz's own start, as the init pays it)", cmd: [kz, "--version"] },
];

const times = cases.map(() => [] as number[]);
for (const [i, c] of cases.entries()) {
  const check = Bun.spawnSync(c.cmd, { cwd: dir, env: { ...env, ...c.env }, stdout: "ignore", stderr: "pipe" });
  if (check.exitCode !== 0) throw new Error(`${c.name} failed: ${check.stderr.toString().trim()}`);
  for (let w = 0; w < 3; w++) Bun.spawnSync(cases[i]!.cmd, { cwd: dir, env: { ...env, ...c.env }, stdout: "ignore", stderr: "ignore" });
}
for (let r = 0; r < runs; r++) {
  for (const [i, c] of cases.entries()) {
    const t = performance.now();
    Bun.spawnSync(c.cmd, { cwd: dir, env: { ...env, ...c.env }, stdout: "ignore", stderr: "ignore" });
    times[i]!.push(performance.now() - t);
  }
}
rmSync(dir, { recursive: true, force: true });

const stats = times.map((t) => {
  const s = [...t].sort((a, b) => a - b);
  return { median: s[s.length >> 1]!, p90: s[Math.floor(s.length * 0.9)]! };
});
const base = stats[0]!.median;
console.log(`\n${runs} runs each, taking turns, after 3 warm-ups; wall time of the whole process, ms\n`);
console.log("| command | median | p90 | added to --no-sandbox (median) |");
console.log("|---|---:|---:|---:|");
for (const [i, c] of cases.entries()) {
  const added = c.name.startsWith("floor") || i === 0 ? "" : `+${(stats[i]!.median - base).toFixed(1)}`;
  console.log(`| \`${c.name}\` | ${stats[i]!.median.toFixed(1)} | ${stats[i]!.p90.toFixed(1)} | ${added} |`);
}
