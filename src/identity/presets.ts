// Issuer presets: defaults for well-known identity providers. A preset only fills in what the bundle left
// out (issuer URL, where the keys are, which algorithms the provider signs with); it never supplies an
// audience — that is what ties a token to this server, so the bundle must always name it.

import { ConfigError } from "../errors.ts";
import type { IssuerConfig } from "./verify.ts";

export interface IssuerPreset {
  /** The provider's issuer URL, when it has one fixed URL. */
  issuer?: string;
  algorithms: string[];
  /** Appended to the issuer URL to form `jwks_url` when the bundle names no key source. */
  jwksPath?: string;
}

export const ISSUER_PRESETS: Readonly<Record<string, IssuerPreset>> = {
  // GitHub Actions OIDC. github.com's issuer is fixed; an enterprise with a customised issuer
  // (…/<enterprise>) or GitHub Enterprise Server (https://HOST/_services/token) sets `issuer`, and the
  // keys are at the same relative path under it.
  "github-actions": {
    issuer: "https://token.actions.githubusercontent.com",
    algorithms: ["RS256"],
    jwksPath: "/.well-known/jwks",
  },
  // Kubernetes service-account tokens. The issuer (the API server's --service-account-issuer) and the keys
  // differ per cluster, so the bundle names both; only the algorithms are filled in.
  kubernetes: {
    algorithms: ["RS256", "ES256"],
  },
};

export function presetNames(): string[] {
  return Object.keys(ISSUER_PRESETS);
}

/** The issuer config with its preset's defaults filled in; unchanged when it names no preset. */
export function applyPreset(config: IssuerConfig): IssuerConfig {
  if (config.preset === undefined) return config;
  const preset = Object.hasOwn(ISSUER_PRESETS, config.preset) ? ISSUER_PRESETS[config.preset] : undefined;
  if (!preset) {
    throw new ConfigError(
      `issuer "${config.name}": preset: invalid value, not a known preset (known: ${presetNames().join(", ")})`,
    );
  }
  const issuer = config.issuer ?? preset.issuer;
  const hasKeySource =
    config.jwksFile !== undefined || config.jwksUrl !== undefined || config.publicKeyFile !== undefined;
  const jwksUrl =
    !hasKeySource && preset.jwksPath !== undefined && issuer !== undefined
      ? issuer.replace(/\/+$/, "") + preset.jwksPath
      : config.jwksUrl;
  return {
    ...config,
    issuer,
    algorithms: config.algorithms ?? [...preset.algorithms],
    ...(jwksUrl !== undefined ? { jwksUrl } : {}),
  };
}
