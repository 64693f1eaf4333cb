// The HTTP API (hono): /v1/decide, /v1/resolve, /v1/tokens, /v1/tokens/revoke, the minted tokens' JWKS,
// /healthz, /metrics, and /mcp when enabled. Every /v1 request is authenticated here; every error is
// {error: {code, message}} with its status (401 with WWW-Authenticate). /v1/resolve is the one place a
// value leaves the server.

import { Hono, type Context } from "hono";
import type { AuditLog } from "../audit/log.ts";
import { bearerChallenge } from "../identity/challenge.ts";
import { MintError, type TokenMinter } from "../identity/mint.ts";
import type { RevocationStore } from "../identity/revocation.ts";
import type { CallerIdentity } from "../mcp/host.ts";
import { AccessError, type AccessService } from "./access.ts";
import { StateUnavailableError } from "../state/types.ts";
import { actionField, INCOMPLETE_BODY, onlyFields, optionalString, readJsonObject, secretField } from "./api-body.ts";
import type { BundleState } from "./bundle-state.ts";
import type { Metrics } from "./metrics.ts";
import { mountShares } from "./shares.ts";
import type { ServerState } from "../state/types.ts";
import type { ServerLeases } from "./leases.ts";

export interface AppDeps {
  access: AccessService;
  state: () => BundleState;
  metrics: Metrics;
  audit: AuditLog;
  minter: TokenMinter;
  revocations: RevocationStore;
  version: string;
  log: (line: string) => void;
  /** One-time share links (src/server/shares.ts): the server state that holds them and the public URL links use. */
  shares?: { state: ServerState; publicUrl: string };
  /** Dynamic-secret leases per token (src/server/leases.ts): revoked with the token. */
  leases?: ServerLeases;
  /** Serves /mcp and its protected-resource metadata when --mcp is on. */
  mcp?: {
    handle: (request: Request, client: string) => Promise<Response>;
    metadata: (request: Request) => Response;
  };
}

type Env = { Bindings: { client: string }; Variables: { identity: CallerIdentity } };

function errorResponse(c: Context, error: AccessError, metrics: Metrics): Response {
  metrics.error(error.code);
  const headers: Record<string, string> = {};
  if (error.status === 401) {
    headers["WWW-Authenticate"] = bearerChallenge({ realm: "kz" }, error.code === "missing_token" ? undefined : error.message);
  }
  return c.json({ error: { code: error.code, message: error.message } }, error.status, headers);
}

/**
 * Whether `caller` may revoke the minted token with `target` claims: the token itself, or its direct parent
 * — the very token it was minted from, matched by jti and issuer, never just by the same sub/iss (a
 * sibling minted from the same identity may not revoke another's child). A parent without a jti cannot
 * be told from its siblings, so what it minted can be revoked only by the minted token itself.
 */
export function mayRevoke(caller: CallerIdentity, target: Record<string, unknown>, minterName: string): boolean {
  const callerJti = caller.claims.jti;
  if (typeof callerJti !== "string" || callerJti === "") return false;
  if (caller.issuer === minterName && callerJti === target.jti) return true;
  const parent = target.kz_parent as { iss?: unknown; jti?: unknown } | undefined;
  return typeof parent === "object" && parent !== null && parent.jti === callerJti && parent.iss === caller.claims.iss;
}

export function createApp(deps: AppDeps): Hono<Env> {
  const { access, metrics } = deps;
  const app = new Hono<Env>();

  app.onError((error, c) => {
    if (error instanceof AccessError) {
      if (error.code === INCOMPLETE_BODY) deps.log(`client ${c.env.client} hung up mid-body on ${c.req.method} ${c.req.path} (400 ${INCOMPLETE_BODY})`);
      return errorResponse(c, error, metrics);
    }
    // The client went away mid-request (e.g. while /mcp read its body): its failure, not the server's.
    if (c.req.raw.signal.aborted) {
      deps.log(`client ${c.env.client} hung up mid-request on ${c.req.method} ${c.req.path} (400 ${INCOMPLETE_BODY})`);
      return errorResponse(c, new AccessError(400, INCOMPLETE_BODY, "the client closed the connection before the request was complete"), metrics);
    }
    // The shared state (SQLite or Redis) failed: 503, nothing revealed; decisions that need no state go on.
    if (error instanceof StateUnavailableError) {
      deps.log(`${c.req.method} ${c.req.path}: ${String(error.message).split("\n")[0]}`);
      return errorResponse(c, new AccessError(503, "state_unavailable", "the server's state is unavailable; nothing was revealed — try again shortly"), metrics);
    }
    // Unexpected: log the class and first line only (a stack can hold request data), answer generically.
    deps.log(`internal error on ${c.req.method} ${c.req.path}: ${error.name}: ${String(error.message).split("\n")[0]}`);
    return errorResponse(c, new AccessError(500, "internal_error", "internal error (see the server log)"), metrics);
  });
  app.notFound((c) => errorResponse(c, new AccessError(404, "not_found", `no endpoint ${c.req.method} ${c.req.path}`), metrics));

  app.get("/healthz", (c) => {
    const state = deps.state();
    return c.json({
      status: "ok",
      version: deps.version,
      bundle: { file: state.set.bundle.file, sha256: state.sha256, loaded_at: state.loadedAt },
      secrets: state.set.bundle.secrets.length,
      policies: state.set.bundle.policies.length,
    });
  });

  app.get("/metrics", (c) =>
    c.text(metrics.render({ version: deps.version, bundleSha256: deps.state().sha256 }), 200, {
      "Content-Type": "text/plain; version=0.0.4; charset=utf-8",
    }),
  );

  app.get("/.well-known/jwks.json", (c) => c.json(deps.minter.jwks, 200, { "Cache-Control": "public, max-age=300" }));

  if (deps.mcp) {
    const mcp = deps.mcp;
    app.get("/.well-known/oauth-protected-resource", (c) => mcp.metadata(c.req.raw));
    app.get("/.well-known/oauth-protected-resource/mcp", (c) => mcp.metadata(c.req.raw));
    app.all("/mcp", (c) => mcp.handle(c.req.raw, c.env.client));
  }

  // Before the /v1 authentication: opening a share needs no token (its id is the capability).
  if (deps.shares) mountShares(app, { access, audit: deps.audit, log: deps.log, ...deps.shares });

  app.use("/v1/*", async (c, next) => {
    const result = await access.authenticate(c.req.raw.headers.get("authorization"));
    if (!result.ok) throw new AccessError(result.status, result.code, result.message);
    c.set("identity", result.identity);
    await next();
  });

  app.post("/v1/decide", async (c) => {
    const body = await readJsonObject(c.req.raw);
    onlyFields(body, ["secret", "action", "host", "method", "path"]);
    const secret = secretField(body);
    const request = {
      action: actionField(body, "resolve"),
      host: optionalString(body, "host", 255),
      method: optionalString(body, "method", 16),
      path: optionalString(body, "path"),
    };
    const { id, decision } = access.decideFull(c.get("identity"), secret, request, c.env.client);
    if (decision.kind === "unknown-secret") throw new AccessError(404, "unknown_secret", decision.reason);
    // The hot path: a plain Response (what c.json builds, minus its header bookkeeping).
    const answer = {
      allow: decision.allow,
      effect: decision.effect,
      policy: decision.policy ?? null,
      rule: decision.rule ?? null,
      reason: decision.reason,
      decision_id: id,
    };
    return new Response(JSON.stringify(answer), { headers: { "Content-Type": "application/json" } });
  });

  app.post("/v1/resolve", async (c) => {
    const body = await readJsonObject(c.req.raw);
    onlyFields(body, ["secret"]);
    const secret = secretField(body);
    const { id, decision } = access.decideFull(c.get("identity"), secret, { action: "resolve" }, c.env.client);
    if (decision.kind === "unknown-secret") throw new AccessError(404, "unknown_secret", decision.reason);
    if (!decision.allow) throw new AccessError(403, "denied", `${decision.reason} (decision ${id})`);
    const value = await access.value(secret, c.get("identity"));
    // The one response that carries a value: revealed here, into the body, and nowhere else.
    return c.json({ name: secret, value: value.reveal(), decision_id: id }, 200, { "Cache-Control": "no-store" });
  });

  app.post("/v1/tokens", async (c) => {
    const body = await readJsonObject(c.req.raw);
    onlyFields(body, ["secrets", "ttl_seconds", "audience"]);
    const secrets = body.secrets;
    if (!Array.isArray(secrets) || secrets.length === 0 || secrets.length > 100 || secrets.some((s) => typeof s !== "string" || s === "")) {
      throw new AccessError(400, "invalid_request", '"secrets" must be a non-empty list of secret names, e.g. {"secrets": ["ZENDESK_KEY"]}');
    }
    const ttl = body.ttl_seconds;
    if (ttl !== undefined && (typeof ttl !== "number" || !Number.isInteger(ttl) || ttl < 1)) {
      throw new AccessError(400, "invalid_request", '"ttl_seconds" must be a whole number of seconds ≥ 1');
    }
    const audience = optionalString(body, "audience", 512);
    const identity = c.get("identity");
    const decisions: string[] = [];
    for (const secret of new Set(secrets as string[])) {
      const { id, decision } = access.decideFull(identity, secret, { action: "mint" }, c.env.client);
      decisions.push(id);
      if (decision.kind === "unknown-secret") throw new AccessError(404, "unknown_secret", decision.reason);
      if (!decision.allow) throw new AccessError(403, "denied", `${secret}: ${decision.reason} (decision ${id})`);
    }
    let minted;
    try {
      minted = await deps.minter.mint({ parentClaims: identity.claims, scope: { secrets: secrets as string[] }, ttlSeconds: ttl as number | undefined, audience });
    } catch (error) {
      if (error instanceof MintError) throw new AccessError(400, "invalid_request", error.message);
      throw error;
    }
    deps.audit.append({
      event: "token.mint",
      jti: minted.jti,
      issuer: identity.issuer,
      subject: minted.sub,
      secrets: minted.scope.secrets,
      expires_at: new Date(minted.expiresAt * 1000).toISOString(),
      ancestry: minted.ancestry,
      decisions,
      client: c.env.client,
    });
    return c.json(
      {
        token: minted.token,
        token_type: "Bearer",
        jti: minted.jti,
        expires_at: new Date(minted.expiresAt * 1000).toISOString(),
        scope: minted.scope,
        audience: minted.audience,
      },
      201,
      { "Cache-Control": "no-store" },
    );
  });

  app.post("/v1/tokens/revoke", async (c) => {
    const body = await readJsonObject(c.req.raw);
    onlyFields(body, ["token"]);
    if (typeof body.token !== "string" || body.token === "") throw new AccessError(400, "invalid_request", '"token" must be the minted token to revoke');
    const target = await deps.state().verifier.verify(body.token);
    if (!target.ok) throw new AccessError(400, "invalid_request", `the token to revoke does not verify: ${target.message}`);
    if (target.issuer !== deps.minter.name || typeof target.claims.jti !== "string" || typeof target.claims.exp !== "number") {
      throw new AccessError(400, "invalid_request", "only tokens minted by this server (POST /v1/tokens) can be revoked here");
    }
    const caller = c.get("identity");
    if (!mayRevoke(caller, target.claims, deps.minter.name)) {
      throw new AccessError(403, "denied", "only the token that minted it (its direct parent, by jti) or the token itself may revoke a token");
    }
    await deps.revocations.revoke(target.claims.jti, target.claims.exp);
    deps.audit.append({ event: "token.revoke", jti: target.claims.jti, subject: String(target.claims.sub ?? ""), by: caller.subject, by_jti: String(caller.claims.jti), client: c.env.client });
    // Every dynamic-secret lease obtained with it or a token minted from it dies with it.
    const leases = (await deps.leases?.revokeHeldBy(target.claims.jti)) ?? 0;
    return c.json({ revoked: true, jti: target.claims.jti, ...(leases > 0 ? { leases_revoked: leases } : {}) });
  });

  return app;
}
