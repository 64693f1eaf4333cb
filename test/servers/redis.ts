// A real redis-server for tests (Debian's package): on a free loopback port, in its own temp dir, with no
// persistence (--save '' --appendonly no). Ready once it logs "Ready to accept connections" (no polling);
// stop() kills it, start() brings it back on the same port (a "Redis down" test), dump() reads every key.

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort } from "./postgres.ts";

const SERVER = process.env.KZ_REDIS_SERVER ?? "/usr/bin/redis-server";
const CLI = process.env.KZ_REDIS_CLI ?? "/usr/bin/redis-cli";

export interface Redis {
  port: number;
  /** redis://[:password@]127.0.0.1:port */
  url: string;
  /** Runs redis-cli with `args` (authenticated); returns stdout. Throws on failure. */
  cli(...args: string[]): string;
  /** Every key and what it holds (strings, hashes, sets, sorted sets), as one text — for "no plain value" checks. */
  dump(): string;
  stop(): Promise<void>;
  start(): Promise<void>;
  cleanup(): Promise<void>;
}

/** Why redis-server cannot be used here (tests skip with it), or undefined. */
export function redisMissing(): string | undefined {
  return Bun.file(SERVER).size ? undefined : `no redis-server at ${SERVER} (scripts/test-deps.sh installs it)`;
}

async function waitReady(proc: Bun.Subprocess<"ignore", "pipe", "pipe">): Promise<void> {
  const decoder = new TextDecoder();
  let seen = "";
  for await (const chunk of proc.stdout as unknown as AsyncIterable<Uint8Array>) {
    seen += decoder.decode(chunk, { stream: true });
    if (seen.includes("Ready to accept connections")) {
      // Keep draining so the server never blocks on a full pipe.
      void (async () => {
        for await (const _ of proc.stdout as unknown as AsyncIterable<Uint8Array>) void _;
      })().catch(() => {});
      return;
    }
  }
  throw new Error(`redis-server exited before it was ready:\n${seen}${await new Response(proc.stderr).text()}`);
}

export async function startRedis(opts: { password?: string } = {}): Promise<Redis> {
  const dir = mkdtempSync(join(tmpdir(), "kz-redis-"));
  const port = await freePort();
  const auth = opts.password ? ["--requirepass", opts.password] : [];
  let proc: Bun.Subprocess<"ignore", "pipe", "pipe"> | undefined;

  async function start(): Promise<void> {
    proc = Bun.spawn([SERVER, "--port", String(port), "--bind", "127.0.0.1", "--dir", dir, "--save", "", "--appendonly", "no", "--loglevel", "notice", ...auth], {
      stdin: "ignore",
      stdout: "pipe",
      stderr: "pipe",
    });
    await waitReady(proc);
  }
  async function stop(): Promise<void> {
    if (!proc) return;
    proc.kill("SIGKILL");
    await proc.exited;
    proc = undefined;
  }
  function cli(...args: string[]): string {
    const r = Bun.spawnSync([CLI, "-p", String(port), "-h", "127.0.0.1", "--no-auth-warning", ...(opts.password ? ["-a", opts.password] : []), ...args], { stdout: "pipe", stderr: "pipe" });
    if (r.exitCode !== 0) throw new Error(`redis-cli ${args.join(" ")} failed: ${r.stderr.toString()}`);
    return r.stdout.toString();
  }
  function dump(): string {
    const keys = cli("--scan").split("\n").filter(Boolean);
    const out: string[] = [];
    for (const key of keys) {
      const type = cli("TYPE", key).trim();
      const read: Record<string, string[]> = { string: ["GET", key], hash: ["HGETALL", key], set: ["SMEMBERS", key], zset: ["ZRANGE", key, "0", "-1"] };
      out.push(`${key} (${type}): ${read[type] ? cli(...read[type]!) : ""}`);
    }
    return out.join("\n");
  }

  await start();
  return {
    port,
    url: `redis://${opts.password ? `:${encodeURIComponent(opts.password)}@` : ""}127.0.0.1:${port}`,
    cli,
    dump,
    stop,
    start,
    async cleanup() {
      await stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
