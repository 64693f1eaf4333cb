// What each provider accepts: its settings keys ([providers.NAME]), the extra per-secret keys it
// understands, and the ref schemes that infer it in shorthand form. Plain data, so validating a config
// never loads a provider's code (the AWS SDK stays unloaded until a secret needs it).

import { checkStsSettings } from "./aws-sts-settings.ts";

export type SettingKind = "string" | "boolean" | "integer" | "table" | "strings";

export interface ProviderSchema {
  settings: Record<string, SettingKind>;
  /** Keys of a table-valued setting, e.g. vault's `auth`. */
  tables?: Record<string, Record<string, SettingKind>>;
  /** Shorthand prefixes that select this provider; `keepScheme` keeps the prefix in the ref. */
  schemes: string[];
  keepScheme?: boolean;
  /** Per-secret keys besides the common ones. */
  secretKeys?: string[];
  /** Whether `ref` may be omitted (it then defaults to the secret's name). */
  refDefaultsToName?: boolean;
  /** A pure check of the settings beyond their kinds: the first wrong key and why. */
  check?: (settings: Record<string, unknown>) => { key: string; message: string } | undefined;
}

const timeout = { timeout_ms: "integer" } as const;

export const providerSchemas: Record<string, ProviderSchema> = {
  env: { settings: { ...timeout }, schemes: ["env://"], refDefaultsToName: true },
  file: { settings: { ...timeout }, schemes: ["file://"] },
  local: { settings: { ...timeout }, schemes: ["local://"], refDefaultsToName: true },
  "1password": {
    settings: { account: "string", connect_host: "string", connect_token_env: "string", op_path: "string", ...timeout },
    schemes: ["op://"],
    keepScheme: true,
  },
  vault: {
    settings: { address: "string", namespace: "string", auth: "table", ca_cert: "string", retries: "integer", ...timeout },
    tables: {
      auth: {
        method: "string",
        mount: "string",
        role: "string",
        role_id: "string",
        role_id_env: "string",
        secret_id_env: "string",
        token_env: "string",
        jwt_env: "string",
        jwt_file: "string",
      },
    },
    schemes: ["vault://"],
  },
  "aws-sm": {
    settings: { region: "string", profile: "string", endpoint: "string", ...timeout },
    schemes: ["aws-sm://", "arn:aws:secretsmanager:"],
    secretKeys: ["version_stage"],
  },
  "aws-sts": {
    settings: {
      role_arn: "string",
      session_policy: "string",
      policy_arns: "strings",
      duration: "string",
      external_id: "string",
      source_profile: "string",
      region: "string",
      endpoint: "string",
      session_name: "string",
      ...timeout,
    },
    schemes: [],
    // ref: the role ARN for this secret (default: role_arn); left out, it is the secret's name and unused.
    refDefaultsToName: true,
    check: checkStsSettings,
  },
  kz: {
    settings: { url: "string", token_file: "string", token_env: "string", ca_file: "string", ...timeout },
    schemes: ["kz://"],
    refDefaultsToName: true,
  },
};

export const providerNames = Object.keys(providerSchemas);

export const vaultAuthMethods = ["token", "approle", "jwt", "kubernetes"];

/** The provider a shorthand ref string selects, and the ref without its scheme. */
export function inferFromShorthand(value: string): { provider: string; ref: string; field?: string } | undefined {
  for (const [provider, schema] of Object.entries(providerSchemas)) {
    const scheme = schema.schemes.find((s) => value.startsWith(s));
    if (!scheme) continue;
    let ref = schema.keepScheme || scheme.startsWith("arn:") ? value : value.slice(scheme.length);
    let field: string | undefined;
    const hash = ref.lastIndexOf("#");
    if (!schema.keepScheme && hash > 0) [ref, field] = [ref.slice(0, hash), ref.slice(hash + 1)];
    return { provider, ref, field };
  }
  return undefined;
}
