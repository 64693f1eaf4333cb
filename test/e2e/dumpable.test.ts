// kz is closed to other processes of its own user: its child (here the "agent", running as the same
// unprivileged user) cannot read kz's environment — where an env provider's source value sits — nor its
// memory through /proc. Run as root, the test drops kz and its child to nobody with setpriv, since root
// reads any process's /proc files whatever the flag says.

import { afterAll, beforeAll, expect, test } from "bun:test";
import { chmodSync, chownSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { KZ } from "../helpers/kz.ts";

const VALUE = "fake-dumpable-source-value-0123456789";
const NOBODY = 65534;
const isRoot = process.getuid?.() === 0 && Bun.which("setpriv") !== null;
let dir: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "kz-dumpable-"));
  chmodSync(dir, 0o755);
  writeFileSync(join(dir, ".keyzero.toml"), `[secrets]\nAPI = { provider = "env", ref = "FROM_SHELL" }\n`);
  chownSync(dir, NOBODY, NOBODY);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Runs `kz run -- sh -c script` as nobody; the script's stdout and exit code. */
function asNobody(script: string): { code: number; stdout: string; stderr: string } {
  const r = Bun.spawnSync(["setpriv", `--reuid=${NOBODY}`, `--regid=${NOBODY}`, "--clear-groups", KZ, "run", "--no-masking", "--", "sh", "-c", script], {
    cwd: dir,
    env: { PATH: "/usr/bin:/bin", HOME: dir, XDG_CONFIG_HOME: join(dir, "config"), XDG_DATA_HOME: join(dir, "data"), FROM_SHELL: VALUE },
  });
  return { code: r.exitCode ?? -1, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
}

test.skipIf(!isRoot)("the child, same user, can read its own environment but not kz's, nor kz's memory", () => {
  // $PPID is kz itself (kz run starts the command directly).
  const script = [
    'test "$API" = "$FROM_SHELL" && echo own-env-ok',
    '{ tr "\\0" "\\n" < /proc/$PPID/environ; } > /dev/null 2>&1 && echo environ-readable || echo environ-denied',
    'head -c 1 /proc/$PPID/mem > /dev/null 2>&1 && echo mem-readable || echo mem-denied',
    'grep -q . /proc/$PPID/maps 2>/dev/null && echo maps-readable || echo maps-denied',
  ].join("; ");
  const r = asNobody(script);
  expect(r.stderr).toBe("");
  expect(r.code).toBe(0);
  expect(r.stdout).toBe("own-env-ok\nenviron-denied\nmem-denied\nmaps-denied\n");
});

test.skipIf(!isRoot)("the same reads work against an ordinary process of that user (the test can tell)", () => {
  // sh's own parent here is a plain `sh`, not kz: its environ is readable.
  const r = asNobody('sh -c \'tr "\\0" "\\n" < /proc/$PPID/environ | grep -c "^FROM_SHELL=" ; grep -q . /proc/$PPID/maps && echo maps-readable\'');
  expect(r.stdout).toBe("1\nmaps-readable\n");
});
