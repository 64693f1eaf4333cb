// Test harness for scripts/install.sh: a loopback server laid out like GitHub releases, a PATH holding
// only the tools a bare machine has, and a clean HOME. Fake releases hold a shell-script `kz` that
// prints its version, so upgrade and pin scenarios need no compile.

import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { tarGz } from "../../scripts/release/tar.ts";

export const INSTALL_SH = resolve(import.meta.dir, "../../scripts/install.sh");
/** The platform name install.sh picks on this machine (the tests run on glibc Linux or macOS). */
export const HOST = `${process.platform}-${process.arch}`;

const BASE_TOOLS = ["sh", "dash", "bash", "tar", "gzip", "uname", "mktemp", "cut", "sed", "awk", "head", "mkdir", "chmod", "cp", "mv", "rm", "grep", "cat", "ldd"];

/** A folder of symlinks to just these tools (those that exist here), for use as the whole PATH. */
export function toolDir(parent: string, name: string, extra: string[]): string {
  const dir = join(parent, name);
  mkdirSync(dir);
  for (const tool of [...BASE_TOOLS, ...extra]) {
    const found = Bun.which(tool, { PATH: "/usr/bin:/bin:/usr/sbin:/sbin" });
    if (found) symlinkSync(found, join(dir, tool));
    else if (!["ldd", "dash", "bash"].includes(tool)) throw new Error(`test needs ${tool}`);
  }
  return dir;
}

function sha256(data: Uint8Array): string {
  return new Bun.CryptoHasher("sha256").update(data).digest("hex");
}

/** Writes root/<version>/{kz-<version>-<target>.tar.gz, SHA256SUMS} whose kz is a script printing `kz <version> (fake)`. */
export function fakeRelease(root: string, version: string, targets = [HOST]): void {
  const dir = join(root, version);
  mkdirSync(dir, { recursive: true });
  const kz = new TextEncoder().encode(`#!/bin/sh\necho "kz ${version} (fake)"\n`);
  const sums = targets.map((t) => {
    const file = `kz-${version}-${t}.tar.gz`;
    const archive = tarGz([{ name: "kz", mode: 0o755, data: kz }, { name: "LICENSE", mode: 0o644, data: new TextEncoder().encode("license\n") }], 0);
    writeFileSync(join(dir, file), archive);
    return `${sha256(archive)}  ${file}`;
  });
  writeFileSync(join(dir, "SHA256SUMS"), `${sums.join("\n")}\n`);
}

/**
 * Serves root/<version>/<file> as /releases/download/v<version>/<file>, and /releases/latest/download/<file>
 * as a redirect to the latest version's copy (as GitHub does); `latest` can change between requests.
 */
export function releaseServer(root: string, latest: { version: string }) {
  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    fetch(req) {
      const path = new URL(req.url).pathname;
      const latestMatch = /^\/releases\/latest\/download\/([^/]+)$/.exec(path);
      if (latestMatch) return new Response(null, { status: 302, headers: { location: `/releases/download/v${latest.version}/${latestMatch[1]}` } });
      const m = /^\/releases\/download\/v([^/]+)\/([^/]+)$/.exec(path);
      const file = m && !m[1]!.includes("..") && !m[2]!.includes("..") ? join(root, m[1]!, m[2]!) : undefined;
      if (!file || !existsSync(file)) return new Response("not found", { status: 404 });
      return new Response(readFileSync(file));
    },
  });
  return { base: `http://127.0.0.1:${server.port}/releases`, stop: () => server.stop(true) };
}

export interface InstallRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs install.sh with `shell` (the script on stdin, as `curl … | sh` does) in a clean environment. */
export async function runInstall(opts: { shell: string; path: string; home: string; env?: Record<string, string>; viaArg?: boolean }): Promise<InstallRun> {
  const script = readFileSync(INSTALL_SH);
  const proc = Bun.spawn(opts.viaArg ? [join(opts.path, opts.shell), INSTALL_SH] : [join(opts.path, opts.shell)], {
    cwd: opts.home,
    env: { PATH: opts.path, HOME: opts.home, ...opts.env },
    stdin: opts.viaArg ? "ignore" : new Blob([script]),
    stdout: "pipe",
    stderr: "pipe",
  });
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  return { code, stdout, stderr };
}

export function scratch(prefix: string): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export function makeExecutable(path: string, text: string): void {
  writeFileSync(path, text);
  chmodSync(path, 0o755);
}
