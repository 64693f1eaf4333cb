// The validated shape of kz configuration: what .keyzero.toml (and later bundle.yaml) become after
// loading. Plain data only — no SecretValue can live here, so a config can always be printed safely.

import type { Placement } from "./placement.ts";

export type TokenFormat = "opaque" | "preserve";

/** One secret as configured: where to get it and, for blind mode, where it may go. */
export interface SecretSpec {
  name: string;
  provider: string;
  ref: string;
  field?: string;
  versionStage?: string;
  hosts?: string[];
  optional: boolean;
  /** false passes the value raw even in blind mode; undefined means blinded. */
  blind?: boolean;
  tokenFormat: TokenFormat;
  /** Where in a request its token may be swapped (src/config/placement.ts); absent means the default. */
  swap?: Placement[];
  /**
   * How MCP `fetch {secret}` sends it: "Header-Name: template" with `{}` where the value goes.
   * Absent means "Authorization: Bearer {}".
   */
  inject?: string;
  /** The value built from several fields of one read, e.g. "postgres://{{username}}:{{password}}@db/app" (src/resolve/template.ts). */
  template?: string;
  /** "file:line" where the secret was defined, for error messages. */
  origin: string;
}

export type ProviderSettings = Record<string, unknown>;

export interface BlindSettings {
  upstreamCa?: string;
  resolve: Record<string, string>;
  inspect: "bound" | "all";
  /** Run the command in an OS sandbox (default true). */
  sandbox: boolean;
  /** "proxy": the sandbox's only way out is kz's proxy and the allow_tcp relays. */
  network: "open" | "proxy";
  /** Plain TCP destinations relayed in proxy mode ("127.0.0.1:5432"). */
  allowTcp: string[];
}

export interface KzConfig {
  /** The main config file, absolute. */
  path: string;
  /** Directory that relative paths in the config are resolved against. */
  dir: string;
  /** Files that were merged, in order (main, local override). */
  files: string[];
  /** The selected environment overlay, if any. */
  env?: string;
  providers: Record<string, ProviderSettings>;
  secrets: SecretSpec[];
  blind: BlindSettings;
  audit: { path?: string };
}
