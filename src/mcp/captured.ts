// Captured secrets as the MCP tools see them: whose they are (the caller's issuer and subject), the token
// that stands for each, which hosts a capture may be bound to, and the audit records of their use.
//
// A captured secret's token is derived from its sealed form (SHA-256 of owner, name and the sealed text,
// which holds a random nonce): every replica computes the same token from the shared state, a fresh capture
// of the same name gets a fresh token (the old one goes inert), and nothing about the value can be read
// from it. Holding a token grants nothing: only the owner's own requests ever look their tokens up.
//
// Hosts: a captured value may be bound only to hosts that the capturing request could already reach — its
// own destination, or a host pattern of a secret the request used (no wider). So a capture cannot turn a
// credential into one that goes somewhere new, e.g. to a server the agent controls.

import { createHash } from "node:crypto";
import type { AuditFields } from "../audit/log.ts";
import { type HostPattern, parseHostPattern } from "../blind/hosts.ts";
import { TOKEN_PREFIX } from "../blind/tokens.ts";
import { SCOPE_CLAIM } from "../identity/mint.ts";
import type { Destination } from "../blind/types.ts";
import type { SecretSpec } from "../config/types.ts";
import type { CapturedSecret } from "../state/types.ts";
import type { CallContext } from "./calls.ts";
import type { CallerIdentity } from "./host.ts";
import type { StatefulHost } from "./stateful.ts";

/** The most live captured secrets one owner may hold. */
export const MAX_CAPTURED_PER_OWNER = 64;

/**
 * The caller's stable owner key — issuer and subject — or undefined when the token has no subject. A
 * minted (scoped) token is an owner of its own, by its jti: sibling sub-agents minted from one parent
 * share issuer and subject but not scopes, so they must not share captured secrets either.
 */
export function ownerOf(identity: CallerIdentity): string | undefined {
  const { claims } = identity;
  const iss = typeof claims.iss === "string" && claims.iss !== "" ? claims.iss : identity.issuer;
  if (!identity.subject) return undefined;
  if (Object.hasOwn(claims, SCOPE_CLAIM)) {
    return typeof claims.jti === "string" && claims.jti !== "" ? JSON.stringify([iss, identity.subject, claims.jti]) : undefined;
  }
  return JSON.stringify([iss, identity.subject]);
}

/** The stand-in token of one stored capture (see the header). */
export function capturedToken(secret: Pick<CapturedSecret, "owner" | "name" | "sealed">): string {
  const digest = createHash("sha256").update(`kz captured token v1\0${secret.owner}\0${secret.name}\0${secret.sealed}`).digest();
  return TOKEN_PREFIX + digest.subarray(0, 18).toString("base64url");
}

/** A captured secret of the caller, with its token. */
export interface CapturedEntry {
  name: string;
  token: string;
  hosts: string[];
  expiresAt: number;
  stored: CapturedSecret;
}

/** The host's state, or undefined when it keeps none. */
export function statefulOf(ctx: CallContext): StatefulHost | undefined {
  return ctx.host.stateful?.();
}

/**
 * The caller's live captured secrets, minus any whose name a bundle secret now has (the bundle wins; a
 * capture of such a name is refused, so this happens only when a reload added the name later).
 */
export async function callerCaptured(ctx: CallContext, specs: readonly SecretSpec[]): Promise<CapturedEntry[]> {
  const stateful = statefulOf(ctx);
  const owner = ownerOf(ctx.identity);
  if (!stateful || !owner) return [];
  const bundleNames = new Set(specs.map((s) => s.name));
  return (await stateful.captured.list(owner))
    .filter((c) => !bundleNames.has(c.name) && c.expiresAt > stateful.now())
    .map((stored) => ({ name: stored.name, token: capturedToken(stored), hosts: [...stored.hosts], expiresAt: stored.expiresAt, stored }));
}

function portCovered(p: HostPattern["port"], q: HostPattern["port"]): boolean {
  if (q === "any") return true;
  if (p === "any") return false;
  if (q === "default") return p === "default" || p === 443 || p === 80;
  return p === q;
}

function hostCovered(p: HostPattern, q: HostPattern): boolean {
  if (q.hostMatch === "any") return true;
  if (p.hostMatch === "any") return false;
  if (q.hostMatch === "exact") return p.hostMatch === "exact" && p.host === q.host;
  // q is "*.base": an exact subdomain, or a "*." pattern at or below base.
  return p.host.endsWith(`.${q.host}`) || (p.hostMatch === "subdomains" && p.host === q.host);
}

/** Whether every destination `pattern` matches is matched by one of `parents`. */
export function coveredBy(pattern: HostPattern, parents: readonly HostPattern[]): boolean {
  return parents.some((q) => hostCovered(pattern, q) && portCovered(pattern.port, q.port));
}

/** The host pattern of a request's own destination. */
export function destinationPattern(dest: Destination): HostPattern {
  const host = dest.host.includes(":") ? `[${dest.host}]` : dest.host;
  const text = dest.port === 443 || dest.port === 80 ? host : `${host}:${dest.port}`;
  return parseHostPattern(text);
}

/** The first of `hosts` that reaches further than `parents`, or undefined when all are covered. */
export function uncoveredHost(hosts: readonly string[], parents: readonly HostPattern[]): string | undefined {
  return hosts.find((h) => !coveredBy(parseHostPattern(h), parents));
}

/** Writes a captured-secret audit record (never a value); throws when the log cannot be written. */
export function auditCaptured(ctx: CallContext, stateful: StatefulHost, event: string, fields: Record<string, string | number | boolean | null | string[]>): void {
  const { identity } = ctx;
  const record: AuditFields = {
    event,
    issuer: identity.issuer,
    subject: identity.subject,
    owner: ownerOf(identity) ?? null,
    client: ctx.client,
  };
  for (const [key, value] of Object.entries(fields)) record[key] = value;
  stateful.audit(record);
}
