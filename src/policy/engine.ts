// The decision engine: compiles a bundle's policies once (globs, CEL plans, which policies apply to
// which secret), then decides per request. Policies whose `match` matches the secret's ref apply; deny
// overrides allow; nothing matching, or no rule allowing, is a deny; only `true` satisfies a rule; a
// rule that fails to evaluate counts as a deny whatever its declared effect and is reported.

import { loadBundle, requestActions, type Bundle, type RequestAction, type RuleEffect } from "../config/bundle.ts";
import type { SecretSpec } from "../config/types.ts";
import { ConfigError } from "../errors.ts";
import { CelCompileError, celRecord, celTimestamp, compileRule, type CompiledRule, type RuleBindings } from "./cel.ts";
import { GlobError, globMatches, parseGlob, type RefGlob } from "./glob.ts";
import type { CelMap } from "@bufbuild/cel";

export interface PolicyRule {
  index: number;
  effect: RuleEffect;
  origin: string;
  compiled: CompiledRule;
}

export interface CompiledPolicy {
  index: number;
  match: RefGlob;
  origin: string;
  rules: PolicyRule[];
}

interface SecretEntry {
  spec: SecretSpec;
  /** `secret` as CEL sees it; fixed for the bundle's life. */
  value: CelMap;
  /** Policies whose match covers the secret's ref, in bundle order. */
  policies: CompiledPolicy[];
  /** Identity claims those policies' rules read. */
  claims: string[];
}

/** A bundle with its policies compiled: what `decide` runs against. */
export interface PolicySet {
  bundle: Bundle;
  policies: CompiledPolicy[];
  secrets: Map<string, SecretEntry>;
}

export interface DecisionRequest {
  action: RequestAction;
  host?: string;
  method?: string;
  path?: string;
  /** `query` only: whether the statement may write (CEL `request.write`). */
  write?: boolean;
}

export interface RuleError {
  policy: number;
  rule: number;
  /** "file:line" of the rule. */
  origin: string;
  error: string;
}

export interface Decision {
  /** "unknown-secret": no such secret in the bundle (the server answers 404); it is also a deny. */
  kind: "decided" | "unknown-secret";
  allow: boolean;
  effect: RuleEffect;
  /** The deciding policy and rule, when one decided. */
  policy?: number;
  rule?: number;
  /** One line, safe to log and return. */
  reason: string;
  errors: RuleError[];
  /** Identity claims the applicable rules read, for the audit record. */
  claimsUsed: string[];
}

/** Verified claims converted to CEL once, for deciding several secrets for one request. */
export class PreparedIdentity {
  readonly value: CelMap;
  constructor(readonly claims: Record<string, unknown>) {
    this.value = celRecord(claims);
  }
}

/** Compiles every policy of `bundle`. Throws ConfigError naming the policy, the rule and the column. */
export function compilePolicies(bundle: Bundle): PolicySet {
  const policies = bundle.policies.map((policy, p): CompiledPolicy => {
    let match: RefGlob;
    try {
      match = parseGlob(policy.match);
    } catch (e) {
      if (e instanceof GlobError) throw new ConfigError(`${policy.origin}: policy ${p}: match: ${e.message}`);
      throw e;
    }
    const rules = policy.rules.map((rule, r): PolicyRule => {
      try {
        return { index: r, effect: rule.effect, origin: rule.origin, compiled: compileRule(rule.cel) };
      } catch (e) {
        if (!(e instanceof CelCompileError)) throw e;
        const at = e.line > 1 ? `line ${e.line}, column ${e.column}` : `column ${e.column}`;
        throw new ConfigError(`${rule.origin}: policy ${p}, rule ${r}: ${at}: ${e.message}`);
      }
    });
    return { index: p, match, origin: policy.origin, rules };
  });

  const secrets = new Map<string, SecretEntry>();
  for (const spec of bundle.secrets) {
    const applicable = policies.filter((policy) => globMatches(policy.match, spec.ref));
    const claims = new Set(applicable.flatMap((policy) => policy.rules.flatMap((rule) => rule.compiled.claims)));
    secrets.set(spec.name, {
      spec,
      value: celRecord({ name: spec.name, provider: spec.provider, ref: spec.ref }),
      policies: applicable,
      claims: [...claims].sort(),
    });
  }
  return { bundle, policies, secrets };
}

/** Loads and compiles a bundle file: the one call a server or `kz server check` needs. */
export function loadPolicySet(path: string, cwd?: string): PolicySet {
  return compilePolicies(loadBundle(path, cwd));
}

/** `request` for the common case of an action alone, converted once per action (CEL never mutates it). */
const actionOnly = new Map<RequestAction, CelMap>(requestActions.map((action) => [action, celRecord({ action })]));

function requestValue(request: DecisionRequest): CelMap {
  if (request.host === undefined && request.method === undefined && request.path === undefined && request.write === undefined) {
    const shared = actionOnly.get(request.action);
    if (shared) return shared;
  }
  const fields: Record<string, unknown> = { action: request.action };
  if (request.host !== undefined) fields.host = request.host;
  if (request.method !== undefined) fields.method = request.method;
  if (request.path !== undefined) fields.path = request.path;
  if (request.write !== undefined) fields.write = request.write;
  return celRecord(fields);
}

/** Decides whether `identity` may perform `request` on secret `secretName`. Never throws on rule errors. */
export function decide(
  set: PolicySet,
  identity: PreparedIdentity | Record<string, unknown>,
  secretName: string,
  request: DecisionRequest,
  now: Date = new Date(),
): Decision {
  const entry = set.secrets.get(secretName);
  if (!entry) {
    return { kind: "unknown-secret", allow: false, effect: "deny", reason: `no secret named ${JSON.stringify(secretName.slice(0, 100))} in the bundle`, errors: [], claimsUsed: [] };
  }
  if (entry.policies.length === 0) {
    return { kind: "decided", allow: false, effect: "deny", reason: `no policy matches ${entry.spec.ref}`, errors: [], claimsUsed: [] };
  }

  const prepared = identity instanceof PreparedIdentity ? identity : new PreparedIdentity(identity);
  const bindings: RuleBindings = { identity: prepared.value, secret: entry.value, request: requestValue(request), now: celTimestamp(now) };
  const errors: RuleError[] = [];
  let denied: { policy: number; rule: number; reason: string } | undefined;
  let allowed: { policy: number; rule: number } | undefined;

  for (const policy of entry.policies) {
    for (const rule of policy.rules) {
      const outcome = rule.compiled.evaluate(bindings);
      if (!outcome.ok) {
        errors.push({ policy: policy.index, rule: rule.index, origin: rule.origin, error: outcome.error });
        denied ??= { policy: policy.index, rule: rule.index, reason: `policy ${policy.index} rule ${rule.index} failed (${outcome.error}), which counts as a deny` };
      } else if (outcome.value) {
        if (rule.effect === "deny") denied ??= { policy: policy.index, rule: rule.index, reason: `denied by policy ${policy.index} rule ${rule.index}` };
        else allowed ??= { policy: policy.index, rule: rule.index };
      }
    }
  }

  const base = { kind: "decided" as const, errors, claimsUsed: entry.claims };
  if (denied) return { ...base, allow: false, effect: "deny", policy: denied.policy, rule: denied.rule, reason: denied.reason };
  if (allowed) {
    return { ...base, allow: true, effect: "allow", policy: allowed.policy, rule: allowed.rule, reason: `allowed by policy ${allowed.policy} rule ${allowed.rule}` };
  }
  const matched = entry.policies.map((p) => p.index).join(", ");
  return { ...base, allow: false, effect: "deny", reason: `no rule allowed it (matching ${entry.policies.length > 1 ? "policies" : "policy"} ${matched})` };
}
