// The blind child's trust environment: the files and variables that send its HTTP(S) through the proxy
// and make it trust the run's CA. Two files in a private 0700 temp dir, each 0600: the CA alone (for
// tools that add it to their own roots) and the system roots plus the CA (for tools whose variable
// replaces their roots). cleanup() deletes the directory.
//
// Loopback goes through the proxy too: NO_PROXY/no_proxy are unset, not set to localhost, because a
// secret may be bound to a local host (`localhost:8443`) and only the proxy can swap its token. Inherited
// proxy and CA variables are overridden (machines preset SSL_CERT_FILE and friends; see DESIGN pitfalls).
//
// Client shims for tools that read none of those variables (client-shims.ts): a Node preload (Node
// before 22.21 ignores proxy variables), a Python sitecustomize (aiohttp), a wgetrc and a PHP ini.
// Their variables (NODE_OPTIONS, PYTHONPATH, PHP_INI_SCAN_DIR) keep what the child would have had:
// forChild(base) merges them with the inherited values.

import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { rootCertificates } from "node:tls";
import { mergeListVariables, writeClientShims } from "./client-shims.ts";

export interface TrustEnvOptions {
  /** The run CA's certificate. */
  caPem: string;
  /** `http://kz:<credential>@127.0.0.1:<port>`. */
  proxyUrl: string;
  /** Where to create the private directory; the OS temp dir by default. */
  tmpRoot?: string;
  /** More roots for the bundle (PEM), e.g. a corporate CA the child needs for untouched tunnels. */
  extraRootsPem?: string;
  /** kz's own environment: where the user's wgetrc is (WGETRC, HOME). */
  inherited?: Record<string, string | undefined>;
  /** The blinded secrets' values: a line of the user's wgetrc holding one is not copied for the child. */
  realValues?: string[];
}

export interface TrustEnv {
  /** Variables to set in the child's environment (each overrides an inherited one of the same name). The
   *  shims' list variables hold kz's part alone here; forChild() merges them with the inherited value. */
  env: Record<string, string>;
  /** Variables to remove from the child's environment. */
  unset: string[];
  /** The CA alone. */
  caFile: string;
  /** System roots followed by the CA. */
  bundleFile: string;
  /** The variables for a child whose environment would otherwise be `base` (NODE_OPTIONS, PYTHONPATH…
   *  merged with base's values unless one holds a real value), and the names to remove. */
  forChild(base: Record<string, string | undefined>, realValues?: string[]): { env: Record<string, string>; unset: string[] };
  /** Deletes the files; safe to call more than once. */
  cleanup(): void;
}

const PROXY_VARIABLES = ["HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"];

/** Variables naming a bundle that replaces the tool's own roots: they get system roots + CA. */
const BUNDLE_VARIABLES = [
  "SSL_CERT_FILE", // OpenSSL-based tools, httpx, Go, Ruby
  "REQUESTS_CA_BUNDLE", // Python requests
  "CURL_CA_BUNDLE", // curl
  "GIT_SSL_CAINFO", // git
  "AWS_CA_BUNDLE", // AWS CLI and SDKs
  "CARGO_HTTP_CAINFO", // cargo
  // Also preset on some machines; left inherited they would point at a bundle without the run's CA.
  "PIP_CERT",
  "HTTPLIB2_CA_CERTS",
  "GRPC_DEFAULT_SSL_ROOTS_FILE_PATH",
  "NIX_SSL_CERT_FILE",
  "CLOUDSDK_CORE_CUSTOM_CA_CERTS_FILE",
];

/** Variables naming extra CAs added to the tool's built-in roots: they get the CA alone. */
const EXTRA_CA_VARIABLES = ["NODE_EXTRA_CA_CERTS", "DENO_CERT"];

/** Variables that would exempt hosts from the proxy. */
const UNSET_VARIABLES = ["NO_PROXY", "no_proxy"];

export function buildTrustEnv(options: TrustEnvOptions): TrustEnv {
  const dir = mkdtempSync(join(options.tmpRoot ?? tmpdir(), "kz-blind-"));
  chmodSync(dir, 0o700);
  const caPem = ensureNewline(options.caPem);
  const caFile = writePrivate(join(dir, "kz-ca.pem"), caPem);
  const roots = rootCertificates.map(ensureNewline).join("");
  const bundleFile = writePrivate(join(dir, "ca-bundle.pem"), roots + (options.extraRootsPem ? ensureNewline(options.extraRootsPem) : "") + caPem);

  const env: Record<string, string> = {};
  for (const name of PROXY_VARIABLES) env[name] = options.proxyUrl;
  for (const name of BUNDLE_VARIABLES) env[name] = bundleFile;
  for (const name of EXTRA_CA_VARIABLES) env[name] = caFile;
  env.NODE_USE_ENV_PROXY = "1";
  Object.assign(env, writeClientShims({ dir, bundleFile, proxyUrl: options.proxyUrl, inherited: options.inherited ?? {}, realValues: options.realValues ?? [] }, writePrivate));

  let cleaned = false;
  const unset = [...UNSET_VARIABLES];
  return {
    env,
    unset,
    caFile,
    bundleFile,
    forChild: (base, realValues = []) => ({ env: mergeListVariables(env, base, realValues), unset }),
    cleanup() {
      if (cleaned) return;
      cleaned = true;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function writePrivate(path: string, content: string): string {
  writeFileSync(path, content, { mode: 0o600, flag: "wx" });
  chmodSync(path, 0o600); // the mode above is filtered by the umask; this is not
  return path;
}

function ensureNewline(pem: string): string {
  return pem.endsWith("\n") ? pem : `${pem}\n`;
}
