// The ways out that the sandbox closes: sockets that run code outside now, files that run it later.

import { afterAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, realpathSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { escapeSockets, gitDirOf, persistencePaths } from "../../../src/runner/sandbox/escapes.ts";

const root = realpathSync(mkdtempSync(join(tmpdir(), "kz-escapes-")));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const home = join(root, "home");
for (const dir of ["project/.git/hooks", "project/node_modules/.bin", ".local/bin", ".ssh"]) mkdirSync(join(home, dir), { recursive: true });
writeFileSync(join(home, ".bashrc"), "");
writeFileSync(join(home, "project/.git/config"), "");

describe("escapes", () => {
  test("the session bus, the systemd user manager and the docker sockets are hidden", () => {
    const sockets = escapeSockets({ XDG_RUNTIME_DIR: "/run/user/1000", DBUS_SESSION_BUS_ADDRESS: "unix:path=/tmp/dbus-abc,guid=1" }, 1000);
    expect(sockets).toContain("/run/user/1000/bus");
    expect(sockets).toContain("/run/user/1000/systemd");
    expect(sockets).toContain("/var/run/docker.sock");
    expect(sockets).toContain("/tmp/dbus-abc");
  });

  test("start-up files, the repository's hooks and config, the user's own PATH folders stay read-only; the project's bins do not", () => {
    const project = join(home, "project");
    const uid = process.getuid!();
    const env = { HOME: home, PATH: [join(home, ".local/bin"), join(project, "node_modules/.bin"), "/usr/bin"].join(":") };
    const paths = persistencePaths({ env, cwd: project, configDir: project, uid: uid === 0 ? 4242 : uid, kzExecutable: "/nonexistent" });
    expect(paths).toContain(join(home, ".bashrc"));
    expect(paths).toContain(join(home, ".ssh"));
    expect(paths).toContain(join(project, ".git/hooks"));
    expect(paths).toContain(join(project, ".git/config"));
    expect(paths).not.toContain(join(project, "node_modules/.bin"));
    expect(paths).not.toContain("/usr/bin");
    expect(paths).not.toContain(join(home, ".zshrc")); // absent: nothing to protect
    expect(gitDirOf(join(project, "node_modules"))).toBe(join(project, ".git"));
  });
});
