// Resolves a set of secret specs concurrently through their providers: one provider instance per
// backend, identical refs fetched once, each fetch bounded by the provider's timeout. Returns every
// outcome — callers decide whether a failure stops the run (kz run) or is reported (kz status).

import type { KzConfig, SecretSpec } from "../config/types.ts";
import { SecretValue } from "../secret.ts";
import { loadProviderFactory } from "../providers/registry.ts";
import { ProviderError, type Provider } from "../providers/types.ts";
import { LeaseSet } from "./leases.ts";
import { fillTemplate, templateFields } from "../config/template.ts";

export const DEFAULT_TIMEOUT_MS = 15_000;

export interface SecretOutcome {
  spec: SecretSpec;
  value?: SecretValue;
  /** Why it failed: safe to print (never a value). */
  error?: string;
  ms: number;
}

export interface Resolution {
  outcomes: SecretOutcome[];
  /** Resolved values by secret name. */
  values: Map<string, SecretValue>;
  /** Required secrets that failed. */
  failures: SecretOutcome[];
  /** Optional secrets that failed and are left out. */
  skipped: SecretOutcome[];
  /** Leases of dynamic secrets obtained (also for secrets that then failed): the caller renews and revokes them. */
  leases: LeaseSet;
}

export interface ResolveOptions {
  env?: Record<string, string | undefined>;
  /**
   * Provider instances by provider name, kept by a long-lived caller (the server) so that a backend's
   * login (Vault AppRole, 1Password Connect) is done once, not per request. Default: one per call.
   */
  providers?: Map<string, Promise<Provider>>;
  /** Where leases are collected (default: a new set, returned in the Resolution). */
  leases?: LeaseSet;
}

function fetchKey(spec: SecretSpec): string {
  return JSON.stringify([spec.provider, spec.ref, spec.field ?? null, spec.versionStage ?? null]);
}

function reasonOf(error: unknown): string {
  if (error instanceof ProviderError) return error.message;
  if (error instanceof Error && error.name === "KzError") return error.message;
  // Unexpected errors: keep their class and message but never a stack (it can hold request data).
  if (error instanceof Error) return `${error.name}: ${error.message.split("\n")[0]}`;
  return "unknown error";
}

/**
 * Bounds `work` by `ms`. Its abort signal is made only when a provider reads it (the env and local ones
 * never do; the first AbortController costs ~1 ms of kz run's start-up); one read after the timeout
 * comes already aborted.
 */
function withTimeout<T>(work: (signal: () => AbortSignal) => Promise<T>, ms: number, provider: string): Promise<T> {
  let controller: AbortController | undefined;
  let timedOut = false;
  const signal = () => {
    if (!controller) {
      controller = new AbortController();
      if (timedOut) controller.abort();
    }
    return controller.signal;
  };
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      timedOut = true;
      controller?.abort();
      reject(new ProviderError(`${provider} did not answer within ${ms} ms (set [providers.${provider}] timeout_ms to wait longer)`));
    }, ms);
  });
  return Promise.race([work(signal), timeout]).finally(() => clearTimeout(timer));
}

export async function resolveSecrets(config: KzConfig, specs: SecretSpec[], opts: ResolveOptions = {}): Promise<Resolution> {
  const env = opts.env ?? process.env;
  const providers = opts.providers ?? new Map<string, Promise<Provider>>();
  const fetches = new Map<string, Promise<SecretValue>>();
  const leases = opts.leases ?? new LeaseSet();

  const providerFor = (name: string): Promise<Provider> => {
    let provider = providers.get(name);
    if (!provider) {
      const settings = config.providers[name] ?? {};
      provider = loadProviderFactory(name).then((factory) => factory({ settings, env, configDir: config.dir }));
      // A provider that failed to start (bad settings, unreachable login) is retried on the next call.
      provider.catch(() => providers.delete(name));
      providers.set(name, provider);
    }
    return provider;
  };

  const fetchOnce = (spec: SecretSpec): Promise<SecretValue> => {
    const key = fetchKey(spec);
    let pending = fetches.get(key);
    if (!pending) {
      const timeoutMs = Number(config.providers[spec.provider]?.timeout_ms ?? DEFAULT_TIMEOUT_MS);
      pending = withTimeout(
        async (signal) => {
          const provider = await providerFor(spec.provider);
          const { name, ref, field, versionStage } = spec;
          return provider.fetch({ name, ref, field, versionStage, leases, get signal() { return signal(); } });
        },
        timeoutMs,
        spec.provider,
      );
      fetches.set(key, pending);
    }
    return pending;
  };

  /** A templated secret: each {{field}} fetched from the same ref in this resolution (one read), then filled in. */
  const templated = async (spec: SecretSpec, template: string): Promise<SecretValue> => {
    const fields = templateFields(template);
    const values = await Promise.all(fields.map((field) => fetchOnce({ ...spec, field, template: undefined })));
    return new SecretValue(fillTemplate(template, new Map(fields.map((f, i) => [f, values[i]!.reveal()]))));
  };

  const outcomes = await Promise.all(
    specs.map(async (spec): Promise<SecretOutcome> => {
      const started = performance.now();
      try {
        const value = spec.template === undefined ? await fetchOnce(spec) : await templated(spec, spec.template);
        return { spec, value, ms: performance.now() - started };
      } catch (error) {
        return { spec, error: reasonOf(error), ms: performance.now() - started };
      }
    }),
  );

  const values = new Map<string, SecretValue>();
  for (const o of outcomes) if (o.value) values.set(o.spec.name, o.value);
  // A spec that shared another's fetch (same ref and field) took its value from the same lease.
  for (const o of outcomes) {
    const twin = leases.size && !leases.leaseOf(o.spec.name) && outcomes.find((t) => fetchKey(t.spec) === fetchKey(o.spec) && leases.leaseOf(t.spec.name));
    if (twin) leases.add(leases.leaseOf(twin.spec.name)!, o.spec.name);
  }
  return {
    outcomes,
    values,
    failures: outcomes.filter((o) => o.error !== undefined && !o.spec.optional),
    skipped: outcomes.filter((o) => o.error !== undefined && o.spec.optional),
    leases,
  };
}

/** "NAME (provider ref): reason" — the one-line form used by run, status and validate. */
export function describeFailure(o: SecretOutcome): string {
  const field = o.spec.field ? `#${o.spec.field}` : "";
  return `${o.spec.name} (${o.spec.provider} ${o.spec.ref}${field}): ${o.error}`;
}

/** Narrows specs to --only names; unknown names are an error listing the known ones. */
export function selectSpecs(specs: SecretSpec[], only: string[] | undefined): SecretSpec[] | { unknown: string[] } {
  if (!only) return specs;
  const known = new Set(specs.map((s) => s.name));
  const unknown = only.filter((n) => !known.has(n));
  if (unknown.length) return { unknown };
  const wanted = new Set(only);
  return specs.filter((s) => wanted.has(s.name));
}
