// Runs the compiled dist/kz as a user would, in a throwaway home: its own XDG dirs (so the local
// store and key never touch the real ones), its own working directory, and a captured result.

import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

/** The binary under test: dist/kz, or KZ_BIN (a developer's own build, e.g. `bun scripts/build.ts --outfile /tmp/me/kz`). */
export const KZ = process.env.KZ_BIN ? resolve(process.env.KZ_BIN) : resolve(import.meta.dir, "../../dist/kz");

export interface KzResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** KZ_SANDBOX_MECHANISM passed through, so `KZ_SANDBOX_MECHANISM=namespaces bun test` runs every sandboxed test under it. */
export function sandboxMechanism(): Record<string, string> {
  const mechanism = process.env.KZ_SANDBOX_MECHANISM;
  return mechanism ? { KZ_SANDBOX_MECHANISM: mechanism } : {};
}

/** Runs a command to its end with stdin from a string (or none) and both outputs captured. */
export async function runCaptured(argv: string[], opts: { cwd: string; env: Record<string, string>; stdin?: string }): Promise<KzResult> {
  const proc = Bun.spawn(argv, {
    cwd: opts.cwd,
    env: opts.env,
    stdin: opts.stdin !== undefined ? new Blob([opts.stdin]) : "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  return { code, stdout, stderr };
}

export class Sandbox {
  readonly dir: string;
  readonly env: Record<string, string>;

  constructor(extraEnv: Record<string, string> = {}) {
    this.dir = mkdtempSync(join(tmpdir(), "kz-test-"));
    this.env = {
      PATH: process.env.PATH ?? "/usr/bin:/bin",
      HOME: this.dir,
      XDG_DATA_HOME: join(this.dir, "data"),
      XDG_CONFIG_HOME: join(this.dir, "config"),
      XDG_STATE_HOME: join(this.dir, "state"),
      NO_COLOR: "1",
      ...sandboxMechanism(),
      ...extraEnv,
    };
  }

  write(name: string, content: string): string {
    const path = join(this.dir, name);
    writeFileSync(path, content);
    return path;
  }

  kz(args: string[], opts: { stdin?: string; env?: Record<string, string>; cwd?: string } = {}): Promise<KzResult> {
    return runCaptured([KZ, ...args], { cwd: opts.cwd ?? this.dir, env: { ...this.env, ...opts.env }, stdin: opts.stdin });
  }

  /** Stores a value in this sandbox's local store through `kz put`. */
  async put(name: string, value: string): Promise<void> {
    const r = await this.kz(["put", name], { stdin: value });
    if (r.code !== 0) throw new Error(`kz put ${name} failed: ${r.stderr}`);
  }

  cleanup(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}
