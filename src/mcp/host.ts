// What the MCP layer needs from the server that hosts it: authentication, the bundle's secrets, a policy
// decision (which also writes the audit record), a secret's value for `fetch`, and the fetch settings.
// The server (src/server) implements it; src/mcp depends on this interface only, never on hono or the
// server's state, so the same tools serve Streamable HTTP and stdio.

import type { FetchSettings, QuerySettings, RequestAction } from "../config/bundle.ts";
import type { SecretSpec } from "../config/types.ts";
import type { SecretValue } from "../secret.ts";
import type { StatefulHost } from "./stateful.ts";

/** A caller whose JWT verified. */
export interface CallerIdentity {
  /** Issuer name from the bundle (or "keyzero" for tokens this server minted). */
  issuer: string;
  subject: string;
  /** All verified claims. */
  claims: Record<string, unknown>;
}

export type AuthResult =
  | { ok: true; identity: CallerIdentity }
  | { ok: false; status: 401 | 503; code: string; message: string };

export interface AccessRequest {
  action: Extract<RequestAction, "resolve" | "fetch" | "share" | "query">;
  /** `query` only: whether the statement may write (CEL `request.write`). */
  write?: boolean;
  host?: string;
  method?: string;
  path?: string;
  /**
   * kz refuses this whatever the policies say (e.g. the host is not one the secret is bound to): the
   * reason is recorded as a deny without evaluating the policies.
   */
  refused?: string;
}

export interface AccessDecision {
  allow: boolean;
  /** False when the bundle has no such secret (also a deny). */
  known: boolean;
  /** One line, safe to show the caller: never a value. */
  reason: string;
  /** The audit record's decision id. */
  decisionId: string;
}

export interface McpHost {
  /** Verifies `Authorization: Bearer …` (null when the header is absent). Called on every HTTP request. */
  authenticate(authorization: string | null): Promise<AuthResult>;
  /** The bundle's secrets, in bundle order (specs hold no values). */
  secrets(): readonly SecretSpec[];
  /**
   * Decides whether `identity` may use `secret` for `request` and writes the audit record. `client` is the
   * caller's address ("stdio" over stdio). Never throws on policy errors: they deny.
   */
  decide(identity: CallerIdentity, secret: string, request: AccessRequest, client: string): AccessDecision;
  /**
   * The secret's value, fetched through the provider layer; call only after an allow. Throws on failure.
   * Pass the caller: a dynamic secret is then leased for that token alone (revoked with it).
   */
  value(secret: string, identity?: CallerIdentity): Promise<SecretValue>;
  /** The bundle's `fetch:` block (upstream_ca, resolve pins, allow_private). */
  fetchSettings(): FetchSettings;
  /** `mcp.allowed_origins` of the bundle. */
  allowedOrigins(): readonly string[];
  /** The bundle's `query:` block (timeout, row and size caps); absent: the tool's defaults. */
  querySettings?(): QuerySettings;
  /** Appends a tool's own audit record (e.g. a query's outcome). Throws when the log cannot be written. */
  record?(fields: Record<string, string | number | boolean | null>): void;
  /** Server state for captured secrets and `share` (stateful.ts); absent or undefined: those are refused. */
  stateful?(): StatefulHost | undefined;
}
