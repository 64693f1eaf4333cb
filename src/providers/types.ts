// The provider interface: one module per backend implements a factory that, given its
// [providers.NAME] settings, returns a Provider able to fetch one secret. Reasons in ProviderError are
// shown to the user, so they must never contain a secret value.

import type { ProviderSettings } from "../config/types.ts";
import type { SecretValue } from "../secret.ts";
import type { LeaseSink } from "./lease.ts";

export interface ProviderContext {
  /** This provider's validated settings from the config (may be empty). */
  settings: ProviderSettings;
  /** The environment for fallbacks such as VAULT_ADDR or AWS_REGION. */
  env: Record<string, string | undefined>;
  /** Directory of the config file; relative paths resolve against it. */
  configDir: string;
}

export interface SecretRequest {
  /** The secret's name in the config, for messages. */
  name: string;
  ref: string;
  field?: string;
  versionStage?: string;
  /** Aborted when the provider's timeout passes. */
  signal: AbortSignal;
  /**
   * Where a provider that mints credentials (a Vault dynamic secret) reports their leases. One sink per
   * resolution: requests sharing it share one dynamic read. Without one, a lease is not tracked.
   */
  leases?: LeaseSink;
}

export interface Provider {
  fetch(request: SecretRequest): Promise<SecretValue>;
}

export type ProviderFactory = (ctx: ProviderContext) => Provider | Promise<Provider>;

/** A failure the user can act on: "not found", "permission denied", "sealed"… never a value. */
export class ProviderError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ProviderError";
  }
}
