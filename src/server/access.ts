// Access decisions for every front door (the JSON API and MCP): verify the caller's bearer token, decide
// a secret access against the current bundle (a minted token's scope first, then the policies), write the
// audit record, count it, and fetch a value through the provider layer once allowed. Implements McpHost
// so the MCP tools use exactly the decisions the API uses. Fails closed: an audit record that cannot be
// written is an error, never an unrecorded allow.

import { randomFillSync } from "node:crypto";
import type { AuditLog } from "../audit/log.ts";
import type { FetchSettings, QuerySettings } from "../config/bundle.ts";
import type { SecretSpec } from "../config/types.ts";
import type { AccessDecision, AccessRequest, AuthResult, CallerIdentity, McpHost } from "../mcp/host.ts";
import type { StatefulHost } from "../mcp/stateful.ts";
import { decide, PreparedIdentity, type Decision, type DecisionRequest } from "../policy/engine.ts";
import { scopeOf } from "../identity/mint.ts";
import { resolveSecrets } from "../resolve/resolve.ts";
import type { SecretValue } from "../secret.ts";
import { freshProviders, type BundleState } from "./bundle-state.ts";
import type { ServerLeases } from "./leases.ts";
import { LeaseSet } from "../resolve/leases.ts";
import { decisionRecord } from "./decision-record.ts";
import type { Metrics } from "./metrics.ts";

/** A request failed in a way the caller should see as an HTTP error (never a value in the message). */
export class AccessError extends Error {
  constructor(
    readonly status: 400 | 401 | 403 | 404 | 413 | 415 | 500 | 502 | 503,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = "AccessError";
  }
}

export interface FullDecision {
  id: string;
  decision: Decision;
  spec?: SecretSpec;
}

/** "Bearer <token>" → the token; undefined for anything else. */
export function bearerToken(authorization: string | null | undefined): string | undefined {
  if (!authorization) return undefined;
  const match = /^Bearer[ \t]+([^ \t]+)[ \t]*$/i.exec(authorization);
  return match?.[1];
}

/** Random bytes for decision ids, drawn in bulk (one getrandom per 512 decisions, not one per decision). */
const ID_BYTES = 12;
const idPool = Buffer.alloc(ID_BYTES * 512);
let idOffset = idPool.length;

export function newDecisionId(): string {
  if (idOffset >= idPool.length) {
    randomFillSync(idPool);
    idOffset = 0;
  }
  const id = `dec_${idPool.toString("base64url", idOffset, idOffset + ID_BYTES)}`;
  idOffset += ID_BYTES;
  return id;
}

/** A request kz refuses before any policy (AccessRequest.refused) is a recorded deny. */
function refusedDecision(request: DecisionRequest & { refused?: string }): Decision | undefined {
  if (request.refused === undefined) return undefined;
  return { kind: "decided", allow: false, effect: "deny", reason: request.refused, errors: [], claimsUsed: [] };
}

/** A scoped (minted) token may touch only the secrets its scope names, whatever the policies say. */
function scopeDenial(identity: CallerIdentity, secret: string): Decision | undefined {
  const scope = scopeOf(identity.claims);
  if (!scope || scope.secrets.includes(secret)) return undefined;
  return { kind: "decided", allow: false, effect: "deny", reason: `${secret} is outside this token's scope (kz_scope)`, errors: [], claimsUsed: [] };
}

/**
 * Claims converted to CEL, kept per claims object: the verifier hands out the same (frozen) claims object
 * for every request that reuses a cached token, so its conversion happens once, not per request.
 */
const preparedIdentities = new WeakMap<object, PreparedIdentity>();

function preparedIdentity(claims: Record<string, unknown>): PreparedIdentity {
  if (!Object.isFrozen(claims)) return new PreparedIdentity(claims);
  let prepared = preparedIdentities.get(claims);
  if (prepared === undefined) {
    prepared = new PreparedIdentity(claims);
    preparedIdentities.set(claims, prepared);
  }
  return prepared;
}

export class AccessService implements McpHost {
  constructor(
    private readonly state: () => BundleState,
    private readonly audit: AuditLog,
    private readonly metrics: Metrics,
    private readonly log: (line: string) => void,
  ) {}

  async authenticate(authorization: string | null): Promise<AuthResult> {
    const token = bearerToken(authorization);
    if (token === undefined) {
      const message = authorization ? "the Authorization header must be \"Bearer <JWT>\"" : "no bearer token: send Authorization: Bearer <JWT>";
      return { ok: false, status: 401, code: authorization ? "invalid_token" : "missing_token", message };
    }
    const result = await this.state().verifier.verify(token);
    if (!result.ok) return { ok: false, status: result.status, code: result.code, message: result.message };
    const subject = typeof result.claims.sub === "string" ? result.claims.sub : "";
    return { ok: true, identity: { issuer: result.issuer, subject, claims: result.claims as Record<string, unknown> } };
  }

  secrets(): readonly SecretSpec[] {
    return this.state().set.bundle.secrets;
  }

  fetchSettings(): FetchSettings {
    return this.state().set.bundle.fetch;
  }

  allowedOrigins(): readonly string[] {
    return this.state().set.bundle.mcp.allowedOrigins;
  }

  #stateful: StatefulHost | undefined;

  /** Gives the MCP tools the server state (captured secrets, share): src/server/mcp-stateful.ts. */
  attachStateful(stateful: StatefulHost): void {
    this.#stateful = stateful;
  }

  stateful(): StatefulHost | undefined {
    return this.#stateful;
  }

  querySettings(): QuerySettings {
    return this.state().set.bundle.query;
  }

  /** A tool's own audit record (MCP query's outcome); AccessError(503) when it cannot be written. */
  record(fields: Record<string, string | number | boolean | null>): void {
    try {
      this.audit.append(fields);
    } catch (error) {
      this.metrics.error("audit_unavailable");
      this.log(`audit: cannot write ${this.audit.path} (${(error as NodeJS.ErrnoException).code ?? "error"})`);
      throw new AccessError(503, "audit_unavailable", "the audit log cannot be written");
    }
  }

  /** Decides and records; throws AccessError(503) when the record cannot be written. */
  decideFull(identity: CallerIdentity, secret: string, request: DecisionRequest, client: string): FullDecision {
    const started = performance.now();
    const state = this.state();
    const spec = state.set.secrets.get(secret)?.spec;
    const decision =
      (spec && refusedDecision(request)) ||
      (spec && scopeDenial(identity, secret)) ||
      decide(state.set, preparedIdentity(identity.claims), secret, request);
    const id = newDecisionId();
    const latencyMs = performance.now() - started;
    for (const e of decision.errors) {
      this.log(`rule error: ${e.origin}: policy ${e.policy} rule ${e.rule}: ${e.error} (counted as deny; decision ${id})`);
    }
    try {
      this.audit.append(decisionRecord({ id, identity, secret, ref: spec?.ref ?? null, request, decision, latencyMs, client }));
    } catch (error) {
      this.metrics.error("audit_unavailable");
      this.log(`audit: cannot write ${this.audit.path} (${(error as NodeJS.ErrnoException).code ?? "error"}); refusing decisions until it can`);
      throw new AccessError(503, "audit_unavailable", "the audit log cannot be written, so no decision is made");
    }
    this.metrics.decision(request.action, decision.effect, (performance.now() - started) / 1000);
    return { id, decision, spec };
  }

  decide(identity: CallerIdentity, secret: string, request: AccessRequest, client: string): AccessDecision {
    try {
      const { id, decision } = this.decideFull(identity, secret, request, client);
      return { allow: decision.allow, known: decision.kind !== "unknown-secret", reason: decision.reason, decisionId: id };
    } catch (error) {
      if (!(error instanceof AccessError)) throw error;
      return { allow: false, known: true, reason: error.message, decisionId: "" };
    }
  }

  #leases: ServerLeases | undefined;

  /** Gives value() the server's lease keeper: dynamic secrets are then leased per token (src/server/leases.ts). */
  attachLeases(leases: ServerLeases): void {
    this.#leases = leases;
  }

  /**
   * The secret's value through the provider layer; AccessError(503) naming the backend on failure.
   * `identity`: who the value is for. A dynamic secret's lease is held by that token (revoked with it, never
   * past its exp) and its value is reused only for that token. Secrets that read the same ref (username
   * and password of one database/creds/<role>) are read with it, so they come from one lease.
   */
  async value(secret: string, identity?: CallerIdentity): Promise<SecretValue> {
    const state = this.state();
    const spec = state.set.secrets.get(secret)?.spec;
    if (!spec) throw new AccessError(404, "unknown_secret", `no secret named ${JSON.stringify(secret.slice(0, 100))} in the bundle`);
    const cached = identity && this.#leases?.cached(identity, secret);
    if (cached) return cached;
    const siblings = state.set.bundle.secrets.filter((s) => s.name !== secret && s.provider === spec.provider && s.ref === spec.ref);
    const { outcomes, leases } = await resolveSecrets(state.config, [spec, ...siblings], { providers: freshProviders(state), leases: new LeaseSet() });
    // A lease that arrives after the read timed out is nobody's: revoke it as soon as it shows up.
    const keeper = this.#leases;
    if (keeper) leases.onLate((lease) => void keeper.revokeLate(lease, secret));
    const outcome = outcomes[0]!;
    if (leases.size > 0 && this.#leases) {
      if (!outcome.value) {
        await this.#leases.revokeNow(leases, secret, "read failed");
      } else {
        try {
          const values = new Map(outcomes.flatMap((o) => (o.value ? [[o.spec.name, o.value] as const] : [])));
          await this.#leases.hold(identity, values, leases);
        } catch {
          await this.#leases.revokeNow(leases, secret, "could not be recorded");
          throw new AccessError(503, "state_unavailable", `${secret}: its lease could not be recorded in the server state, so it was revoked`);
        }
      }
    }
    if (outcome.value) return outcome.value;
    this.metrics.error("backend_unavailable");
    this.log(`provider: ${secret} (${spec.provider} ${spec.ref}): ${outcome.error}`);
    // The caller gets no backend internals (addresses, paths); the server log has the detail.
    throw new AccessError(503, "backend_unavailable", `${secret}: the ${spec.provider} backend could not provide it (details in the server log)`);
  }
}
