// Finds a sandbox tool (bwrap, unshare, setpriv, setsid) on PATH, trusting only copies no ordinary user
// can have written: the file and every folder above it owned by root and writable by nobody else. The
// command in a sandbox may write wherever the user can — ~/.local/bin, ~/bin, a project's
// node_modules/.bin — so a `bwrap` planted there would run instead of the real one on the next run and
// hand the agent an unsandboxed shell. A planted copy is skipped (with a warning) for the next trusted one.

import { realpathSync, statSync } from "node:fs";
import { delimiter, dirname, join } from "node:path";
import { writeStderr } from "../../stdio.ts";

type Env = Record<string, string | undefined>;

/** Why a file cannot be trusted as a sandbox tool, or undefined when it can. */
export function distrust(path: string, stat: (p: string) => { uid: number; mode: number } = statSync): string | undefined {
  let real: string;
  try {
    real = realpathSync(path);
  } catch {
    return "cannot be resolved";
  }
  for (let p = real; ; p = dirname(p)) {
    const s = stat(p);
    if (s.uid !== 0) return `${p} is not owned by root`;
    // A sticky folder (/tmp) may be writable by all: nobody but root can replace root's entry in it.
    if (s.mode & 0o022 && !(s.mode & 0o1000)) return `${p} is writable by others than root`;
    if (p === dirname(p)) return undefined;
  }
}

export interface ToolLookup {
  path?: string;
  /** Copies found earlier on PATH and skipped, each with why. */
  skipped: { path: string; why: string }[];
}

/** The first trusted executable `name` on PATH. */
export function findTrustedTool(name: string, env: Env): ToolLookup {
  const skipped: ToolLookup["skipped"] = [];
  for (const dir of (env.PATH ?? "").split(delimiter)) {
    if (!dir) continue;
    const found = Bun.which(name, { PATH: dir });
    if (!found) continue;
    const why = distrust(found);
    if (!why) return { path: found, skipped };
    skipped.push({ path: join(dir, name), why });
  }
  return { skipped };
}

/** A trusted sandbox tool's path; each planted copy on the way is named in one warning line. */
export function trustedTool(name: string, env: Env): string | undefined {
  const found = findTrustedTool(name, env);
  for (const s of found.skipped) writeStderr(`kz: warning: sandbox: ignoring ${s.path} (${s.why}): a sandbox tool must be root's alone\n`);
  return found.path;
}
