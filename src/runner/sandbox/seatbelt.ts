// macOS sandbox: a generated Seatbelt (SBPL) profile for `sandbox-exec -p`. Everything stays allowed
// except: reading, listing or writing the hidden paths; writing (creating, renaming, deleting) the
// read-only paths, the absent paths that must not be created, and the folders above them (a renamed
// parent would move a protected file out of its rule's reach); looking at, signalling or taking the
// task port of any process outside this sandbox (kz's own included); and in `proxy` mode any outbound
// connection but the proxy's port and the `allow_tcp` loopback ports. Pure text, unit-tested here;
// macOS itself cannot run in this project's CI (see README).

import { dirname } from "node:path";
import type { SandboxPolicy } from "./policy.ts";

export interface SeatbeltOptions {
  policy: SandboxPolicy;
  network: "open" | "proxy";
  proxyPort?: number;
  allowTcp: { host: string; port: number }[];
}

/** An SBPL string literal: backslashes and quotes escaped, control characters refused. */
export function sbplString(value: string): string {
  if (/[\u0000-\u001f\u007f]/.test(value)) throw new Error("a sandbox path holds a control character");
  return `"${value.replace(/\\/g, "\\\\").replace(/"/g, '\\"')}"`;
}

const subpath = (p: string) => `(subpath ${sbplString(p)})`;
const literal = (p: string) => `(literal ${sbplString(p)})`;

/** Every folder above a path up to (not including) the root. */
function parents(path: string): string[] {
  const out: string[] = [];
  for (let dir = dirname(path); dir !== "/" && dir !== "."; dir = dirname(dir)) out.push(dir);
  return out;
}

export function seatbeltProfile(opts: SeatbeltOptions): string {
  const { policy } = opts;
  const lines = ["(version 1)", "(allow default)"];
  if (policy.hidden.length > 0) {
    lines.push(`(deny file-read* file-write* ${policy.hidden.map(subpath).join(" ")})`);
  }
  const fixed = [...policy.readOnly, ...policy.noCreate];
  if (fixed.length > 0) lines.push(`(deny file-write* ${fixed.map(subpath).join(" ")})`);
  const ancestors = [...new Set([...fixed, ...policy.hidden].flatMap(parents))];
  if (ancestors.length > 0) lines.push(`(deny file-write-unlink file-write-mode file-write-owner ${ancestors.map(literal).join(" ")})`);
  lines.push(
    "(deny process-info* signal mach-priv-task-port)",
    "(allow process-info* signal mach-priv-task-port (target same-sandbox))",
  );
  if (opts.network === "proxy") {
    const ports = [...(opts.proxyPort ? [opts.proxyPort] : []), ...opts.allowTcp.map((a) => a.port)];
    lines.push("(deny network-outbound)", "(allow network-outbound (remote unix-socket))");
    for (const port of ports) lines.push(`(allow network-outbound (remote ip ${sbplString(`localhost:${port}`)}))`);
  }
  return `${lines.join("\n")}\n`;
}
