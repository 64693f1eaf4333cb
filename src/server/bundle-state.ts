// One loaded bundle, ready to serve: its compiled policies, a verifier for its issuers, its providers
// (kept for the bundle's life, so a backend login happens once) and the hash it was loaded from. A reload
// builds a new BundleState beside the old one and swaps only when the new one is complete.

import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import type { KzConfig } from "../config/types.ts";
import { compilePolicies, type PolicySet } from "../policy/engine.ts";
import { loadBundle } from "../config/bundle.ts";
import { createVerifier, type Verifier } from "../identity/verify.ts";
import { applyPreset } from "../identity/presets.ts";
import type { TokenMinter } from "../identity/mint.ts";
import type { RevocationStore } from "../identity/revocation.ts";
import type { Provider } from "../providers/types.ts";
import { providerLoaders } from "../providers/registry.ts";
import { ConfigError } from "../errors.ts";

export interface BundleState {
  set: PolicySet;
  verifier: Verifier;
  /** The bundle's providers and secrets in the shape the provider layer resolves from. */
  config: KzConfig;
  /** Provider instances, renewed every PROVIDER_LIFETIME_MS (see freshProviders). */
  providers: Map<string, Promise<Provider>>;
  providersSince: number;
  sha256: string;
  loadedAt: string;
}

export interface BundleDeps {
  minter?: TokenMinter;
  revocations?: RevocationStore;
}

/**
 * Providers cache what they fetch and their backend logins (a Vault token has a lease); a server that
 * kept one instance forever would serve rotated values stale and fail once the login expired. Instances
 * live this long, so a value is at most this old and a login is renewed this often.
 */
export const PROVIDER_LIFETIME_MS = 60_000;

/** The state's provider instances, replaced with an empty set when they are older than their lifetime. */
export function freshProviders(state: BundleState, now = Date.now()): Map<string, Promise<Provider>> {
  if (now - state.providersSince >= PROVIDER_LIFETIME_MS) {
    state.providers = new Map();
    state.providersSince = now;
  }
  return state.providers;
}

/** Every secret's provider must be one kz knows, or the first request for it would fail instead of the load. */
function checkProviders(set: PolicySet): void {
  for (const spec of set.bundle.secrets) {
    if (!Object.hasOwn(providerLoaders, spec.provider)) {
      throw new ConfigError(`${spec.origin}: secret ${spec.name}: provider: invalid value, not a known provider (known: ${Object.keys(providerLoaders).join(", ")})`);
    }
  }
}

/** Loads, validates and compiles `path`; throws ConfigError naming the file, key, policy or rule. */
export async function loadBundleState(path: string, deps: BundleDeps): Promise<BundleState> {
  const text = readFileSync(path);
  const set = compilePolicies(loadBundle(path));
  checkProviders(set);
  const bundle = set.bundle;
  const verifier = await createVerifier(bundle.issuers.map(applyPreset), {
    baseDir: bundle.dir,
    minter: deps.minter,
    revocations: deps.revocations,
  });
  return {
    set,
    verifier,
    config: {
      path: bundle.path,
      dir: bundle.dir,
      files: [bundle.path],
      providers: bundle.providers,
      secrets: bundle.secrets,
      blind: { upstreamCa: bundle.fetch.upstreamCa, resolve: bundle.fetch.resolve, inspect: "bound", sandbox: true, network: "open", allowTcp: [] },
      audit: { path: bundle.audit.path },
    },
    providers: new Map(),
    providersSince: Date.now(),
    sha256: createHash("sha256").update(text).digest("hex"),
    loadedAt: new Date().toISOString(),
  };
}
