// Linux sandbox through bubblewrap (`bwrap`, the reach used by Flatpak): the command sees the same
// filesystem (`--bind / /`), except that the folders above protected paths are pinned (bound onto
// themselves, so they cannot be renamed), hidden folders become an empty tmpfs with mode 000, hidden files
// an unreadable empty file, read-only paths a read-only bind of themselves, and an absent path that must
// not be created an unreadable read-only placeholder. It gets its own PID namespace with a fresh /proc
// (kz's process is out of sight) and, with `network = "proxy"`, its own network namespace (loopback only).
// `bwrapArgs` is pure; `probeBubblewrap` runs bwrap once to see that user namespaces work here.

import type { SandboxPolicy } from "./policy.ts";
import { isFolder } from "./policy.ts";

export interface BwrapOptions {
  policy: SandboxPolicy;
  /** An empty file with mode 000: bound over hidden files and absent paths. */
  placeholder: string;
  /** Cut the network: the command reaches only its own loopback (kz's relays listen there). */
  isolateNetwork: boolean;
  /** Detach from the controlling terminal (no TIOCSTI into the user's shell); off when kz gave it a pty. */
  newSession: boolean;
  cwd: string;
  /** bwrap writes its info (the PID of its reaper) here; see control.ts. */
  infoFd?: number;
}

export function bwrapArgs(opts: BwrapOptions, command: string[]): string[] {
  const args = ["--die-with-parent", "--unshare-pid", "--unshare-ipc"];
  if (opts.isolateNetwork) args.push("--unshare-net");
  if (opts.newSession) args.push("--new-session");
  if (opts.infoFd !== undefined) args.push("--info-fd", String(opts.infoFd));
  args.push("--bind", "/", "/", "--dev-bind", "/dev", "/dev", "--proc", "/proc");
  // First the protected paths' parents onto themselves (so they cannot be renamed), then the protection.
  for (const path of opts.policy.pinned) args.push("--bind", path, path);
  for (const path of opts.policy.hidden) {
    if (isFolder(path)) args.push("--perms", "0000", "--tmpfs", path);
    else args.push("--ro-bind", opts.placeholder, path);
  }
  for (const path of opts.policy.readOnly) args.push("--ro-bind", path, path);
  for (const path of opts.policy.noCreate) args.push("--ro-bind", opts.placeholder, path);
  args.push("--chdir", opts.cwd, "--", ...command);
  return args;
}

/** Why bwrap cannot sandbox here (not installed, user namespaces refused…), or undefined when it can. */
export function probeBubblewrap(bwrap: string | null): string | undefined {
  if (!bwrap) return "bubblewrap (bwrap) is not installed";
  const probe = Bun.spawnSync([bwrap, "--unshare-pid", "--ro-bind", "/", "/", "--proc", "/proc", "--", "true"], {
    stdin: "ignore",
    stdout: "ignore",
    stderr: "pipe",
  });
  if (probe.exitCode === 0) return undefined;
  const reason = probe.stderr.toString().trim().split("\n")[0] || `exit ${probe.exitCode}`;
  return `bwrap cannot create a sandbox here (${reason.replace(/^bwrap: /, "")})`;
}
