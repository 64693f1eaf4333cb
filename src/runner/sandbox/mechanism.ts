// Which Linux sandbox a run gets, in a stated order: bubblewrap when it is installed; else kz's own
// namespaces through util-linux `unshare`, setpriv and setsid (stock on Debian 12, where bwrap is not);
// else a refusal naming both fixes — never an unsandboxed run. Nothing is probed up front: a probe costs
// 5–10 ms on every run, and the usual reasons a sandbox cannot start (AppArmor's user-namespace
// restriction, a container's seccomp) stop both mechanisms alike. A sandbox that does not come up is
// explained after the fact, once, by probing then (prepare.ts, namespaces.ts); if bwrap is broken where
// kz's namespaces work, that line says to set KZ_SANDBOX_MECHANISM=namespaces.
// KZ_SANDBOX_MECHANISM=bubblewrap|namespaces picks one (for tests and for users who prefer one): it can
// only choose between sandboxes, never turn the sandbox off, and a chosen one that is missing is a
// refusal, not a fallback.

import { findNamespacesTools, type NamespacesTools } from "./namespaces.ts";
import { trustedTool } from "./trusted-tool.ts";

type Env = Record<string, string | undefined>;

export const MECHANISM_ENV = "KZ_SANDBOX_MECHANISM";
export const LINUX_MECHANISMS = ["bubblewrap", "namespaces"] as const;
export type LinuxMechanismName = (typeof LINUX_MECHANISMS)[number];

export type LinuxMechanism = { name: "bubblewrap"; bwrap: string } | { name: "namespaces"; tools: NamespacesTools };

/** Each mechanism's check: what it needs to run, or why it cannot here. */
export interface Candidates {
  bubblewrap: () => LinuxMechanism | string;
  namespaces: () => LinuxMechanism | string;
}

const INSTALL =
  "install bubblewrap (apt install bubblewrap / dnf install bubblewrap; on Ubuntu 24.04+ the distribution's package, which carries the AppArmor profile user namespaces need)";

/** The mechanisms to try, in order, from KZ_SANDBOX_MECHANISM (unset or "auto": both). */
export function mechanismOrder(value: string | undefined): LinuxMechanismName[] | string {
  if (value === undefined || value === "" || value === "auto") return [...LINUX_MECHANISMS];
  if ((LINUX_MECHANISMS as readonly string[]).includes(value)) return [value as LinuxMechanismName];
  return `${MECHANISM_ENV} must be "bubblewrap", "namespaces" or "auto", not ${JSON.stringify(value)} — fix or unset it`;
}

/** The first mechanism that works, or the one-line refusal. Pure given its candidates. */
export function chooseMechanism(value: string | undefined, candidates: Candidates): LinuxMechanism | { refusal: string } {
  const order = mechanismOrder(value);
  if (typeof order === "string") return { refusal: `no sandbox: ${order}` };
  const reasons: string[] = [];
  for (const name of order) {
    const found = candidates[name]();
    if (typeof found !== "string") return found;
    reasons.push(found);
  }
  if (order.length === 1) {
    const other = order[0] === "bubblewrap" ? "its own namespaces" : "bubblewrap";
    return { refusal: `no sandbox: ${reasons[0]}, and ${MECHANISM_ENV}=${order[0]} rules out the other — unset it to let kz try ${other} too, or run with --no-sandbox` };
  }
  return { refusal: `no sandbox: ${reasons.join("; ")} — ${INSTALL}, or run with --no-sandbox` };
}

/** The real candidates: the tools looked up on PATH. */
export function linuxCandidates(env: Env): Candidates {
  return {
    bubblewrap: () => {
      const bwrap = trustedTool("bwrap", env);
      return bwrap ? { name: "bubblewrap", bwrap } : "bubblewrap (bwrap) is not installed";
    },
    namespaces: () => {
      const tools = findNamespacesTools(env);
      return typeof tools === "string" ? tools : { name: "namespaces", tools };
    },
  };
}

export function chooseLinuxMechanism(env: Env): LinuxMechanism | { refusal: string } {
  return chooseMechanism(env[MECHANISM_ENV], linuxCandidates(env));
}
