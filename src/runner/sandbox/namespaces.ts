// Linux sandbox without bubblewrap ("namespaces"): util-linux's `unshare` gives kz's init a user, mount,
// PID and IPC namespace (and a network namespace with `network = "proxy"`) in which the user keeps their
// own uid but the init holds every capability; the init applies the policy as mounts (mounts.ts), then
// starts the command through `setpriv` with no capability and no way to gain one, so it cannot undo a
// mount — and mounts made in a user namespace are locked together, so a nested `unshare -r` cannot peel
// one off either. Debian 12 ships all of this (util-linux) and allows unprivileged user namespaces.
// kz's chain: setpriv --pdeathsig KILL (the sandbox dies with kz) → unshare --kill-child → kz
// __sandbox-init (PID 1) → setpriv (no capabilities) [→ setsid] → the command. With relays to run
// (network = "proxy"), the init makes the mounts and then re-executes itself through that setpriv,
// still PID 1, so the process relaying the command's connections holds no capability either.
// Everything here is pure except `findNamespacesTools`, `probeNamespaces` and `namespacesFailure`.

import { readFileSync } from "node:fs";
import type { MountPlan } from "./mounts.ts";
import { trustedTool } from "./trusted-tool.ts";
import type { SandboxPolicy } from "./policy.ts";
import { isFolder } from "./policy.ts";

type Env = Record<string, string | undefined>;

export interface NamespacesTools {
  unshare: string;
  setpriv: string;
  setsid: string;
}

/** Where util-linux's tools are, or why the mechanism cannot be used. */
export function findNamespacesTools(env: Env): NamespacesTools | string {
  const at = (name: string) => trustedTool(name, env);
  const [unshare, setpriv, setsid] = [at("unshare"), at("setpriv"), at("setsid")];
  if (!unshare || !setpriv || !setsid) return "util-linux's unshare, setpriv and setsid are not all installed";
  return { unshare, setpriv, setsid };
}

/** unshare's flags: the user keeps their uid (mapped to itself), the init keeps its capabilities. */
export function unshareFlags(isolateNetwork: boolean): string[] {
  const flags = ["--user", "--map-current-user", "--keep-caps", "--mount", "--pid", "--ipc", "--fork", "--kill-child", "--mount-proc"];
  if (isolateNetwork) flags.push("--net");
  return flags;
}

/** Starts what follows with no capability, none to regain (no ambient, empty bounding set, no_new_privs). */
export function dropCapabilitiesPrefix(tools: NamespacesTools): string[] {
  return [tools.setpriv, "--inh-caps=-all", "--ambient-caps=-all", "--bounding-set=-all", "--no-new-privs", "--"];
}

export interface NamespacesOptions {
  tools: NamespacesTools;
  policy: SandboxPolicy;
  placeholder: string;
  isolateNetwork: boolean;
  newSession: boolean;
  /** kz's own argv prefix, when the init has relays to run (it then sheds its capabilities first). */
  restartAs?: string[];
}

/** What the init mounts: only paths and flags, never a value. */
export function mountPlan(opts: NamespacesOptions): MountPlan {
  return {
    placeholder: opts.placeholder,
    pinned: opts.policy.pinned,
    hidden: opts.policy.hidden.map((path) => ({ path, folder: isFolder(path) })),
    readOnly: opts.policy.readOnly,
    noCreate: opts.policy.noCreate,
    loopback: opts.isolateNetwork,
    dropCapabilities: dropCapabilitiesPrefix(opts.tools),
    // Its own session: no controlling terminal, so no TIOCSTI into the user's shell.
    session: opts.newSession ? [opts.tools.setsid, "--"] : [],
    ...(opts.restartAs ? { restartAs: opts.restartAs } : {}),
  };
}

/** The argv that runs `init` (kz __sandbox-init --mount-plan … -- CMD) in the new namespaces. */
export function namespacesArgs(opts: Pick<NamespacesOptions, "tools" | "isolateNetwork">, init: string[]): string[] {
  return [opts.tools.setpriv, "--pdeathsig", "KILL", "--", opts.tools.unshare, ...unshareFlags(opts.isolateNetwork), "--", ...init];
}

/** Why unshare cannot make these namespaces here (user namespaces off, AppArmor…), or undefined. */
export function probeNamespaces(tools: NamespacesTools, isolateNetwork: boolean): string | undefined {
  const probe = Bun.spawnSync([tools.unshare, ...unshareFlags(isolateNetwork), "--", "true"], { stdin: "ignore", stdout: "ignore", stderr: "pipe" });
  if (probe.exitCode === 0) return undefined;
  const reason = probe.stderr.toString().trim().split("\n")[0] || `exit ${probe.exitCode}`;
  return `unshare cannot create user namespaces here (${reason.replace(/^unshare: /, "")})`;
}

/** Where the init leaves the reason it could not apply the plan (read by kz for its one-line error). */
export function failureFile(planPath: string): string {
  return `${planPath}.failed`;
}

/**
 * kz's one line when the namespaces sandbox did not start the command: the init's own reason (a mount it
 * could not make), else why unshare could not make the namespaces (probed now, not on every run).
 */
export function namespacesFailure(planPath: string, tools: NamespacesTools, isolateNetwork: boolean): string {
  let reason: string | undefined;
  try {
    reason = readFileSync(failureFile(planPath), "utf8").trim();
  } catch {}
  if (reason) return `no sandbox: the namespaces sandbox could not be set up (${reason}) — install bubblewrap, or run with --no-sandbox`;
  const refused = probeNamespaces(tools, isolateNetwork);
  return refused
    ? `no sandbox: ${refused} — install bubblewrap (on Ubuntu 24.04+ the distribution's package, which carries the AppArmor profile user namespaces need), or run with --no-sandbox`
    : "the sandbox did not start the command (see unshare's message above)";
}
