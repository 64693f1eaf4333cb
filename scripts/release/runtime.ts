// The Bun runtime each release target is compiled onto, taken from the npm registry's platform packages
// of the pinned Bun version (@oven/bun-<os>-<arch>[-musl]) — never from Bun's download site. A package
// installed in node_modules at that version is used as it is; any other is fetched once with `npm pack`
// (which checks the registry's integrity hash) into node_modules/.cache/kz-release/ and reused.

import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync } from "node:fs";
import { join } from "node:path";

export interface Target {
  /** Archive suffix and --targets name: linux-x64, linux-arm64, linux-x64-musl, darwin-x64, darwin-arm64. */
  name: string;
  os: "linux" | "darwin";
  arch: "x64" | "arm64";
  musl: boolean;
  /** bun build --target */
  bunTarget: string;
  /** npm package holding that platform's bun at package/bin/bun */
  npmPackage: string;
}

export const TARGETS: Target[] = [
  { name: "linux-x64", os: "linux", arch: "x64", musl: false, bunTarget: "bun-linux-x64", npmPackage: "@oven/bun-linux-x64" },
  { name: "linux-arm64", os: "linux", arch: "arm64", musl: false, bunTarget: "bun-linux-arm64", npmPackage: "@oven/bun-linux-aarch64" },
  { name: "linux-x64-musl", os: "linux", arch: "x64", musl: true, bunTarget: "bun-linux-x64-musl", npmPackage: "@oven/bun-linux-x64-musl" },
  { name: "darwin-x64", os: "darwin", arch: "x64", musl: false, bunTarget: "bun-darwin-x64", npmPackage: "@oven/bun-darwin-x64" },
  { name: "darwin-arm64", os: "darwin", arch: "arm64", musl: false, bunTarget: "bun-darwin-arm64", npmPackage: "@oven/bun-darwin-aarch64" },
];

function run(argv: string[], cwd: string): string {
  const proc = Bun.spawnSync(argv, { cwd, stdout: "pipe", stderr: "pipe" });
  if (proc.exitCode !== 0) throw new Error(`${argv.slice(0, 2).join(" ")} failed: ${proc.stderr.toString().trim().split("\n").pop()}`);
  return proc.stdout.toString();
}

/** Path of the bun executable for `target` at `version`, fetching its npm package into `cacheDir` if needed. */
export function bunRuntime(root: string, target: Target, version: string, cacheDir: string, log: (line: string) => void): string {
  const installed = join(root, "node_modules", target.npmPackage);
  if (existsSync(join(installed, "bin/bun"))) {
    const pkg = JSON.parse(readFileSync(join(installed, "package.json"), "utf8"));
    if (pkg.version === version) return join(installed, "bin/bun");
  }
  const dir = join(cacheDir, `${target.npmPackage.replace("/", "+")}@${version}`);
  const exe = join(dir, "package/bin/bun");
  if (existsSync(exe)) return exe;
  mkdirSync(cacheDir, { recursive: true });
  const work = mkdtempSync(join(cacheDir, ".fetch-"));
  try {
    log(`fetching ${target.npmPackage}@${version} from the npm registry (once; cached in ${cacheDir})`);
    const packed = JSON.parse(run(["npm", "pack", "--json", "--silent", `${target.npmPackage}@${version}`], work)) as { filename: string }[];
    const tgz = join(work, packed[0]!.filename);
    mkdirSync(join(work, "out"));
    run(["tar", "-xzf", tgz, "-C", join(work, "out"), "package/bin/bun", "package/package.json"], work);
    chmodSync(join(work, "out/package/bin/bun"), 0o755);
    rmSync(dir, { recursive: true, force: true });
    renameSync(join(work, "out"), dir); // whole or not at all: a failed fetch leaves nothing that looks cached
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  return exe;
}
