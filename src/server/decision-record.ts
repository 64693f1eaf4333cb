// The audit record of one decision, built from plain decision data: who asked (issuer, subject, the
// claims the policies read), what for (secret name and ref, action, host/method/path), what was decided
// (effect, deciding policy and rule, reason, rule errors), how long it took and from where. The inputs
// hold no SecretValue, so no value can reach a record.

import type { AuditFields } from "../audit/log.ts";
import type { DecisionRequest, Decision } from "../policy/engine.ts";
import type { CallerIdentity } from "../mcp/host.ts";

export interface DecisionFacts {
  id: string;
  identity: CallerIdentity;
  secret: string;
  ref: string | null;
  request: DecisionRequest;
  decision: Decision;
  latencyMs: number;
  client: string;
}

const MAX_CLAIM_TEXT = 256;

/** A claim as it goes into a record: scalars as they are, anything else as (bounded) JSON text. */
export function claimForRecord(value: unknown): string | number | boolean | null {
  if (value === undefined || value === null) return null;
  if (typeof value === "string") return value.length > MAX_CLAIM_TEXT ? `${value.slice(0, MAX_CLAIM_TEXT)}…` : value;
  if (typeof value === "number" || typeof value === "boolean") return value;
  const text = JSON.stringify(value) ?? null;
  return text !== null && text.length > MAX_CLAIM_TEXT ? `${text.slice(0, MAX_CLAIM_TEXT)}…` : text;
}

export function decisionRecord(facts: DecisionFacts): AuditFields {
  const { decision, request } = facts;
  const claims: { [name: string]: string | number | boolean | null } = {};
  for (const name of decision.claimsUsed) claims[name] = claimForRecord(facts.identity.claims[name]);
  return {
    event: "decision",
    decision_id: facts.id,
    issuer: facts.identity.issuer,
    subject: facts.identity.subject,
    claims,
    secret: facts.secret,
    ref: facts.ref,
    action: request.action,
    host: request.host ?? null,
    method: request.method ?? null,
    path: request.path ?? null,
    ...(request.write !== undefined ? { write: request.write } : {}),
    effect: decision.effect,
    policy: decision.policy ?? null,
    rule: decision.rule ?? null,
    reason: decision.reason,
    errors: decision.errors.map((e) => `policy ${e.policy} rule ${e.rule} (${e.origin}): ${e.error}`),
    latency_ms: Math.round(facts.latencyMs * 1000) / 1000,
    client: facts.client,
  };
}
