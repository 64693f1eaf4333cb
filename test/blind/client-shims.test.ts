// The client shims' files and variables: private files, the user's NODE_OPTIONS / PYTHONPATH /
// PHP_INI_SCAN_DIR kept (and dropped when they hold a real value), NODE_OPTIONS quoting that a real Node
// parses, and a wgetrc that keeps the user's own settings. (That real clients work with them is
// test/e2e/blind-clients.test.ts.)

import { afterEach, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { mergeListVariables, nodeRequire, wgetrcText } from "../../src/blind/client-shims.ts";
import { createCertificateAuthority } from "../../src/blind/ca.ts";
import { buildTrustEnv, type TrustEnv } from "../../src/blind/trust-env.ts";

const PROXY_URL = "http://kz:fake-proxy-credential-0002@127.0.0.1:40124";
const caPem = createCertificateAuthority().certPem;
const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const f of cleanups.splice(0)) f();
});

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "kz-shims-test-"));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function build(inherited: Record<string, string> = {}, tmpRoot?: string, realValues?: string[]): TrustEnv {
  const trust = buildTrustEnv({ caPem, proxyUrl: PROXY_URL, inherited, tmpRoot, realValues });
  cleanups.push(() => trust.cleanup());
  return trust;
}

describe("client shims", () => {
  test("every shim file is 0600 in the run's 0700 folder, the only Python module there is sitecustomize, and cleanup removes them", () => {
    const trust = build();
    const dir = join(trust.caFile, "..");
    for (const file of ["node-proxy.cjs", "sitecustomize.py", "kz-blind.ini", "wgetrc"]) expect(statSync(join(dir, file)).mode & 0o777).toBe(0o600);
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    expect(readdirSync(dir).filter((f) => /\.(py|pyc|pth|so)$/.test(f) || statSync(join(dir, f)).isDirectory())).toEqual(["sitecustomize.py"]);
    trust.cleanup();
    expect(() => statSync(dir)).toThrow();
  });

  test("forChild keeps the user's NODE_OPTIONS after kz's preload, PYTHONPATH after kz's folder, PHP's scan dirs before kz's", () => {
    const trust = build();
    const ours = trust.env;
    const { env } = trust.forChild({ NODE_OPTIONS: "--max-old-space-size=300", PYTHONPATH: "/opt/a:/opt/b", PHP_INI_SCAN_DIR: "/etc/php/extra" });
    expect(env.NODE_OPTIONS).toBe(`${ours.NODE_OPTIONS} --max-old-space-size=300`);
    expect(env.PYTHONPATH).toBe(`${ours.PYTHONPATH}:/opt/a:/opt/b`);
    expect(env.PHP_INI_SCAN_DIR).toBe(`/etc/php/extra:${ours.PHP_INI_SCAN_DIR}`);
    // Nothing inherited: kz's part alone, and PHP's own scan dir (the empty entry) still scanned.
    const alone = trust.forChild({}).env;
    expect(alone.NODE_OPTIONS).toBe(ours.NODE_OPTIONS!);
    expect(alone.PYTHONPATH).toBe(ours.PYTHONPATH!);
    expect(alone.PHP_INI_SCAN_DIR).toBe(`:${ours.PHP_INI_SCAN_DIR}`);
  });

  test("an inherited value holding a real value is not carried over", () => {
    const env = mergeListVariables({ NODE_OPTIONS: '--require "/x.cjs"', PYTHONPATH: "/k" }, { NODE_OPTIONS: "--title=real-value-123", PYTHONPATH: "/p" }, ["real-value-123"]);
    expect(env.NODE_OPTIONS).toBe('--require "/x.cjs"');
    expect(env.PYTHONPATH).toBe("/k:/p");
  });

  test("NODE_OPTIONS quoting: a real Node loads the preload from a path with spaces, quotes and backslashes", () => {
    const root = join(tempDir(), 'my "odd" dir\\with spaces');
    mkdirSync(root);
    const trust = build({}, root);
    const { env } = trust.forChild({ NODE_OPTIONS: "--max-old-space-size=300" });
    const script = `process.stdout.write(String(Boolean(globalThis[Symbol.for("kz.blind.node-preload")])) + " " + require("v8").getHeapStatistics().heap_size_limit)`;
    const r = Bun.spawnSync(["/usr/bin/node", "-e", script], { env: { PATH: process.env.PATH ?? "", NODE_OPTIONS: env.NODE_OPTIONS!, HTTPS_PROXY: PROXY_URL } });
    expect(r.stderr.toString()).toBe("");
    const [loaded, limit] = r.stdout.toString().split(" ");
    expect(loaded).toBe("true");
    expect(Number(limit)).toBeLessThan(400 * 1024 * 1024); // the user's own option still applies
  });

  test("the preload drops only the EnvHttpProxyAgent warning: other warnings still show", () => {
    const trust = build();
    const script = `process.emitWarning("EnvHttpProxyAgent is experimental, expect them to change at any time.", { code: "UNDICI-EHPA", type: "Warning" });
process.emitWarning("kz-test: some other warning", { code: "KZ-TEST" });
process.emitWarning("kz-test: a plain deprecation", "DeprecationWarning");`;
    const r = Bun.spawnSync(["/usr/bin/node", "-e", script], { env: { PATH: process.env.PATH ?? "", NODE_OPTIONS: trust.forChild({}).env.NODE_OPTIONS!, HTTPS_PROXY: PROXY_URL } });
    const stderr = r.stderr.toString();
    expect(stderr).not.toContain("EnvHttpProxyAgent");
    expect(stderr).toContain("[KZ-TEST] Warning: kz-test: some other warning");
    expect(stderr).toContain("DeprecationWarning: kz-test: a plain deprecation");
  });

  test("nodeRequire escapes only what Node's NODE_OPTIONS parser needs", () => {
    expect(nodeRequire("/tmp/a b/x.cjs")).toBe('--require "/tmp/a b/x.cjs"');
    expect(nodeRequire('/tmp/a"b\\c.cjs')).toBe('--require "/tmp/a\\"b\\\\c.cjs"');
  });

  test("the wgetrc keeps the user's ~/.wgetrc (or $WGETRC) and adds the CA and proxy after it", () => {
    const home = tempDir();
    writeFileSync(join(home, ".wgetrc"), "tries = 7\nhttps_proxy = http://elsewhere:3128/");
    const trust = build({ HOME: home });
    const text = readFileSync(trust.env.WGETRC!, "utf8");
    expect(text).toStartWith("tries = 7\nhttps_proxy = http://elsewhere:3128/\n");
    expect(text.indexOf(`https_proxy = ${PROXY_URL}`)).toBeGreaterThan(text.indexOf("elsewhere")); // later lines win
    expect(text).toContain(`ca_certificate = ${trust.bundleFile}\n`);
    const explicit = join(home, "custom-wgetrc");
    writeFileSync(explicit, "timeout = 9\n");
    expect(readFileSync(build({ HOME: home, WGETRC: explicit }).env.WGETRC!, "utf8")).toStartWith("timeout = 9\n# added by kz");
    expect(wgetrcText("", PROXY_URL, "/b.pem")).toStartWith("# added by kz");
  });

  test("a line of the user's wgetrc holding a real value is not copied where the child can read it", () => {
    const home = tempDir();
    writeFileSync(join(home, ".wgetrc"), "tries = 7\nhttp_password = real-wget-value-42\ntimeout = 9\n");
    const text = readFileSync(build({ HOME: home }, undefined, ["real-wget-value-42"]).env.WGETRC!, "utf8");
    expect(text).not.toContain("real-wget-value-42");
    expect(text).toStartWith("tries = 7\ntimeout = 9\n");
  });
});
