// scripts/install.sh against a loopback server laid out like GitHub releases, with a clean HOME and a
// PATH of only the tools a bare machine has. The releases here hold a script `kz` that prints its version
// (release.test.ts installs the real binary); what is under test is the installer's choices.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fakeRelease, HOST, releaseServer, runInstall, scratch, toolDir, type InstallRun } from "./harness.ts";

const box = scratch("kz-install-");
const releases = join(box.dir, "releases");
const latest = { version: "0.1.0" };
let server: ReturnType<typeof releaseServer>;
let curlPath: string;

beforeAll(() => {
  fakeRelease(releases, "0.1.0");
  fakeRelease(releases, "0.2.0", [`${HOST}-musl`, HOST]); // the musl sibling listed first must not be taken on glibc
  fakeRelease(releases, "0.3.0");
  // 0.3.0's archive is swapped after its SHA256SUMS was written: what a compromised mirror would serve.
  const file = join(releases, "0.3.0", `kz-0.3.0-${HOST}.tar.gz`);
  const bytes = readFileSync(file);
  bytes[bytes.length - 10]! ^= 0xff;
  writeFileSync(file, bytes);
  fakeRelease(releases, "0.4.0", ["linux-riscv64"]); // a release without this machine's platform
  server = releaseServer(releases, latest);
  curlPath = toolDir(box.dir, "bin-curl", ["curl", "sha256sum"]);
});

afterAll(() => {
  server.stop();
  box.cleanup();
});

/** A fresh HOME (with its own TMPDIR, so leftovers of the installer show). */
function home(name: string): string {
  const dir = join(box.dir, name);
  mkdirSync(join(dir, "tmp"), { recursive: true });
  return dir;
}

function install(h: string, env: Record<string, string> = {}, shell = "sh", path = curlPath): Promise<InstallRun> {
  return runInstall({ shell, path, home: h, env: { KZ_INSTALL_BASE: server.base, TMPDIR: join(h, "tmp"), ...env } });
}

function installed(h: string, dir = join(h, ".local/bin")): string {
  const r = Bun.spawnSync([join(dir, "kz"), "--version"]);
  return r.stdout.toString();
}

/** The installer's failure: one "kz-install: error:" line, a non-zero exit. */
function expectOneLineError(r: InstallRun, text: string): void {
  expect(r.code).not.toBe(0);
  const errors = r.stderr.trim().split("\n").filter((l) => l.includes("error"));
  expect(errors).toHaveLength(1);
  expect(errors[0]).toStartWith("kz-install: error: ");
  expect(errors[0]).toContain(text);
}

/** Nothing but kz in the install dir (no half-written temp file), and the installer's temp dir removed. */
function expectClean(h: string, dir = join(h, ".local/bin")): void {
  if (existsSync(dir)) expect(readdirSync(dir).filter((f) => f !== "kz")).toEqual([]);
  expect(readdirSync(join(h, "tmp"))).toEqual([]);
}

describe("install.sh", () => {
  test("installs the latest release into ~/.local/bin, says how to put it on PATH, and a re-run upgrades in place", async () => {
    const h = home("upgrade");
    latest.version = "0.1.0";
    const first = await install(h);
    expect(first.stderr).toContain(`installed kz 0.1.0 (fake) to ${h}/.local/bin/kz`);
    expect(first.code).toBe(0);
    expect(first.stderr).toContain(`export PATH="${h}/.local/bin:$PATH"`);
    expect(installed(h)).toBe("kz 0.1.0 (fake)\n");
    expect(statSync(join(h, ".local/bin/kz")).mode & 0o777).toBe(0o755);
    expectClean(h);

    latest.version = "0.2.0";
    const second = await install(h);
    expect(second.code).toBe(0);
    expect(second.stderr).toContain(`downloading kz-0.2.0-${HOST}.tar.gz`);
    expect(installed(h)).toBe("kz 0.2.0 (fake)\n");
    expectClean(h);
  });

  test("KZ_VERSION pins a version (with or without a leading v), even an older one than latest", async () => {
    const h = home("pin");
    latest.version = "0.2.0";
    expect((await install(h, { KZ_VERSION: "0.1.0" })).code).toBe(0);
    expect(installed(h)).toBe("kz 0.1.0 (fake)\n");
    expect((await install(h, { KZ_VERSION: "v0.2.0" })).code).toBe(0);
    expect(installed(h)).toBe("kz 0.2.0 (fake)\n");
    expectOneLineError(await install(h, { KZ_VERSION: "9.9.9" }), "download failed");
    expectOneLineError(await install(h, { KZ_VERSION: "0.1.0/../../x" }), "KZ_VERSION must look like");
    expect(installed(h)).toBe("kz 0.2.0 (fake)\n");
    expectClean(h);
  });

  test("a tampered archive is refused and the installed kz is left as it was", async () => {
    const h = home("tamper");
    latest.version = "0.2.0";
    expect((await install(h)).code).toBe(0);
    const before = readFileSync(join(h, ".local/bin/kz"));
    latest.version = "0.3.0";
    const r = await install(h);
    expectOneLineError(r, "checksum mismatch");
    expect(r.stderr).toContain("nothing was installed");
    expect(readFileSync(join(h, ".local/bin/kz"))).toEqual(before);
    expectClean(h);
    // and on a machine with no kz yet, nothing appears
    const fresh = home("tamper-fresh");
    expectOneLineError(await install(fresh, { KZ_VERSION: "0.3.0" }), "checksum mismatch");
    expect(existsSync(join(fresh, ".local/bin/kz"))).toBe(false);
    expectClean(fresh);
  });

  test("runs under dash and bash too, from a file as well as from stdin", async () => {
    latest.version = "0.2.0";
    for (const shell of ["dash", "bash"]) {
      const h = home(`shell-${shell}`);
      const r = await runInstall({ shell, path: curlPath, home: h, viaArg: true, env: { KZ_INSTALL_BASE: server.base, TMPDIR: join(h, "tmp") } });
      expect(r.stderr).toContain("installed kz 0.2.0 (fake)");
      expect(r.code).toBe(0);
      expectClean(h);
    }
  });

  test("works with wget and shasum instead of curl and sha256sum", async () => {
    const path = toolDir(box.dir, "bin-wget", ["wget", "shasum", "perl"]);
    const h = home("wget");
    latest.version = "0.2.0";
    const r = await install(h, {}, "sh", path);
    expect(r.stderr).toContain("installed kz 0.2.0 (fake)");
    expect(r.code).toBe(0);
  });

  test("refuses without a way to verify the checksum, and installs nothing", async () => {
    const path = toolDir(box.dir, "bin-nosha", ["curl"]);
    const h = home("nosha");
    expectOneLineError(await install(h, {}, "sh", path), "cannot verify the download");
    expect(existsSync(join(h, ".local/bin"))).toBe(false);
  });

  test("KZ_INSTALL_DIR on PATH: installed there, no PATH advice", async () => {
    const h = home("dir");
    const dir = join(h, "tools");
    latest.version = "0.2.0";
    const r = await install(h, { KZ_INSTALL_DIR: dir, PATH: `${dir}:${curlPath}` });
    expect(r.code).toBe(0);
    expect(installed(h, dir)).toBe("kz 0.2.0 (fake)\n");
    expect(r.stderr).not.toContain("not on your PATH");
    expect(existsSync(join(h, ".local"))).toBe(false);
  });

  test("a release without this platform's archive, or an unreachable server: one line, nothing installed", async () => {
    const h = home("missing");
    latest.version = "0.4.0";
    expectOneLineError(await install(h), `has no ${HOST} archive`);
    expectOneLineError(await install(h, { KZ_INSTALL_BASE: "http://127.0.0.1:9/releases" }), "download failed");
    expect(existsSync(join(h, ".local/bin/kz"))).toBe(false);
    expectClean(h);
  });
});
