// Ways out of a sandbox that writes where the user can: not reading a secret now, but getting code run
// outside the sandbox — at once (a systemd user service, a D-Bus call, a container started through the
// docker socket) or later, when the user next opens a shell, runs git, logs in or types a command that
// a planted executable shadows. The sandbox hides the sockets and keeps the files read-only; all of it is
// pure given the environment and what exists on disk.

import { existsSync, statSync } from "node:fs";
import { homedir } from "node:os";
import { delimiter, dirname, isAbsolute, join, relative, sep } from "node:path";

type Env = Record<string, string | undefined>;

/** Files and folders whose content runs as the user outside the sandbox: kept read-only. */
export const STARTUP_FILES = [
  ".bashrc", ".bash_profile", ".bash_login", ".bash_logout", ".profile", ".zshrc", ".zshenv", ".zprofile", ".zlogin",
  ".zlogout", ".config/fish", ".pam_environment", ".gitconfig", ".config/git", ".ssh", ".config/autostart",
  ".config/systemd", ".config/environment.d",
];

function within(path: string, folder: string): boolean {
  const rel = relative(folder, path);
  return rel === "" || (!rel.startsWith(`..${sep}`) && rel !== ".." && !isAbsolute(rel));
}

/** The git repository holding `dir` (its .git folder), if any. */
export function gitDirOf(dir: string): string | undefined {
  for (let d = dir; ; d = dirname(d)) {
    const git = join(d, ".git");
    try {
      if (statSync(git).isDirectory()) return git;
    } catch {}
    if (d === dirname(d)) return undefined;
  }
}

/** Sockets that start code outside the sandbox on request: hidden. */
export function escapeSockets(env: Env, uid: number): string[] {
  const runtime = env.XDG_RUNTIME_DIR || `/run/user/${uid}`;
  const paths = [
    join(runtime, "bus"), // D-Bus session bus (systemd-run --user, desktop services)
    join(runtime, "systemd"), // the systemd user manager's private socket
    join(runtime, "docker.sock"), // rootless docker
    join(runtime, "podman"),
    "/run/docker.sock",
    "/var/run/docker.sock",
  ];
  const bus = /(?:^|;)unix:path=([^,;]+)/.exec(env.DBUS_SESSION_BUS_ADDRESS ?? "")?.[1];
  if (bus) paths.push(bus);
  return paths;
}

/**
 * What must stay read-only: shell, git, ssh and login start-up files in the home folder; the hooks and
 * config of the git repository the command works in (a hook or core.fsmonitor runs on the user's next
 * git command); the user's own folders on PATH (a planted `git` or `ls` there would run outside next
 * time); and kz's own executable when the user can write it.
 */
export function persistencePaths(opts: { env: Env; cwd: string; configDir: string; uid: number; kzExecutable: string }): string[] {
  const home = opts.env.HOME || homedir();
  const paths = STARTUP_FILES.map((f) => join(home, f));
  for (const dir of [opts.cwd, opts.configDir]) {
    const git = gitDirOf(dir);
    if (git) paths.push(join(git, "hooks"), join(git, "config"));
  }
  for (const dir of (opts.env.PATH ?? "").split(delimiter)) {
    if (!dir || !isAbsolute(dir) || within(opts.cwd, dir) || within(dir, opts.cwd)) continue; // the project's own bins stay usable
    try {
      if (statSync(dir).uid === opts.uid && opts.uid !== 0) paths.push(dir);
    } catch {}
  }
  try {
    if (opts.uid !== 0 && statSync(opts.kzExecutable).uid === opts.uid) paths.push(opts.kzExecutable);
  } catch {}
  return [...new Set(paths)].filter((p) => existsSync(p));
}
