// Client shims for blind mode: small files, written beside the run's CA files (0600), that make HTTP
// clients which read none of the proxy or CA variables use them anyway, with no change to the agent:
//  - Node before 22.21 ignores HTTPS_PROXY: a preload (shims/node-proxy.cjs) on NODE_OPTIONS;
//  - Python aiohttp's bare ClientSession() ignores it: a sitecustomize (shims/sitecustomize.py) first
//    on PYTHONPATH, which chains to the one it shadows;
//  - wget reads its CA from a wgetrc: WGETRC names a copy of the user's own wgetrc plus ca_certificate
//    (and the proxy, which a wgetrc setting would otherwise override);
//  - PHP's curl and openssl extensions read their CA from php.ini: an extra ini in PHP_INI_SCAN_DIR.
// The shims are embedded in the binary as text; nothing is fetched, and nothing is spawned to detect
// which languages the child uses (every shim is a few hundred bytes to write, and idles when unused).

import { existsSync, readFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import nodePreload from "./shims/node-proxy.cjs" with { type: "text" };
import sitecustomize from "./shims/sitecustomize.py" with { type: "text" };

export interface ShimInput {
  /** The run's private directory (0700). */
  dir: string;
  /** System roots + the run's CA. */
  bundleFile: string;
  proxyUrl: string;
  /** kz's own environment: where the user's wgetrc is. */
  inherited: Record<string, string | undefined>;
  /** Real values: a line of the user's wgetrc holding one stays out of the child's copy. */
  realValues: string[];
}

/** Variables whose inherited value is kept around kz's part (forChild). */
const LIST_VARIABLES = ["NODE_OPTIONS", "PYTHONPATH", "PHP_INI_SCAN_DIR"] as const;

/** Writes the shims; returns their variables (list variables hold kz's part alone). */
export function writeClientShims(input: ShimInput, write: (path: string, content: string) => string): Record<string, string> {
  const { dir, bundleFile, proxyUrl } = input;
  // All in the run's one folder (no sub-folders: each file costs start-up time). On PYTHONPATH it offers
  // Python nothing else to import (no other .py file), and PHP reads only its *.ini files.
  const nodeFile = write(join(dir, "node-proxy.cjs"), nodePreload);
  write(join(dir, "sitecustomize.py"), sitecustomize);
  write(join(dir, "kz-blind.ini"), phpIni(bundleFile));
  const wgetrc = write(join(dir, "wgetrc"), wgetrcText(readUserWgetrc(input.inherited, input.realValues), proxyUrl, bundleFile));
  return { NODE_OPTIONS: nodeRequire(nodeFile), PYTHONPATH: dir, PHP_INI_SCAN_DIR: dir, WGETRC: wgetrc };
}

/** kz's list variables merged with the child's inherited ones: kz's preload and sitecustomize come first
 *  (set up before the user's own); kz's ini comes last (PHP lets a later ini override an earlier one). */
export function mergeListVariables(
  env: Record<string, string>,
  base: Record<string, string | undefined>,
  realValues: string[] = [],
): Record<string, string> {
  const merged = { ...env };
  for (const name of LIST_VARIABLES) {
    const ours = env[name];
    const theirs = base[name];
    if (ours === undefined || !theirs || realValues.some((real) => theirs.includes(real))) continue;
    if (name === "NODE_OPTIONS") merged[name] = `${ours} ${theirs}`;
    else if (name === "PYTHONPATH") merged[name] = `${ours}:${theirs}`;
    else merged[name] = `${theirs}:${ours}`;
  }
  // An empty entry in PHP_INI_SCAN_DIR stands for PHP's own scan directory, which must stay scanned.
  if (env.PHP_INI_SCAN_DIR !== undefined && merged.PHP_INI_SCAN_DIR === env.PHP_INI_SCAN_DIR) merged.PHP_INI_SCAN_DIR = `:${env.PHP_INI_SCAN_DIR}`;
  return merged;
}

/** `--require "<path>"`, quoted by Node's NODE_OPTIONS rules (inside quotes, `\` escapes `"` and `\`). */
export function nodeRequire(path: string): string {
  return `--require "${path.replace(/[\\"]/g, (c) => `\\${c}`)}"`;
}

export function wgetrcText(userWgetrc: string, proxyUrl: string, bundleFile: string): string {
  const own = userWgetrc && !userWgetrc.endsWith("\n") ? `${userWgetrc}\n` : userWgetrc;
  return `${own}# added by kz run --blind (later lines win)
use_proxy = on
https_proxy = ${proxyUrl}
http_proxy = ${proxyUrl}
ca_certificate = ${bundleFile}
`;
}

export function phpIni(bundleFile: string): string {
  return `; added by kz run --blind: PHP's curl and openssl extensions read no CA variable
curl.cainfo = "${bundleFile}"
openssl.cafile = "${bundleFile}"
`;
}

/** The wgetrc wget would read ($WGETRC, else ~/.wgetrc; empty when there is none), less any line that
 *  holds a real value (e.g. an http_password kz also manages): the child's copy must not carry one. */
function readUserWgetrc(env: Record<string, string | undefined>, realValues: string[]): string {
  const path = env.WGETRC || join(env.HOME || homedir(), ".wgetrc");
  if (!existsSync(path)) return ""; // the usual case, without the cost of a thrown error
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch {
    return "";
  }
  if (!realValues.some((real) => text.includes(real))) return text;
  return text
    .split("\n")
    .filter((line) => !realValues.some((real) => line.includes(real)))
    .join("\n");
}

