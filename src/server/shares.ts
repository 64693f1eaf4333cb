// One-time share links on the server. It stores only what `kz share` (or the MCP `share` tool) encrypted;
// the key stays in the link's fragment, which browsers never send, so nothing here can read a share.
//   POST /v1/shares               authenticated; policy action "share" → {id, url, expires_at, views}
//   GET  /v1/shares/<id>          no auth: whether it can still be opened and needs a passphrase (no view)
//   POST /v1/shares/<id>/open     no auth (the id is the capability): the ciphertext, counting one view
//   GET  /s/<id>, /s/assets/*     the page and its files (never counts a view: a GET changes nothing)
//
// Which policy decides a share: a share that names a `secret` is decided like any access — the bundle must
// know it and a policy must allow `request.action == "share"` on it (and a minted token's scope must hold
// it). A share without a name (`kz share -`, or a local secret the bundle does not know) carries a value
// the server never sees and cannot attribute to any bundle secret, so no secret policy can speak for it:
// any verified identity may create one, except a minted (scoped) token — it may act only on the secrets
// its scope names. Either way the creator is audited.
//
// An unknown id and a malformed one take the same path (the malformed one is looked up as an id that
// cannot exist). The audit log records each share by a reference (a hash of its id), never the id
// itself: the id plus the fragment opens a share, and whoever reads the audit log should not be able to
// use up a person's view. Never the key, the ciphertext or the value.

import type { Context, Hono } from "hono";
import type { AuditFields } from "../audit/log.ts";
import { scopeOf } from "../identity/mint.ts";
import type { CallerIdentity } from "../mcp/host.ts";
import { inspectEnvelope, shareUrl } from "../share/envelope.ts";
import { checkExpiresIn, checkViews, isShareId, MAX_CIPHERTEXT_CHARS, newShareId } from "../share/limits.ts";
import { StateUnavailableError, type ServerState } from "../state/types.ts";
import { AccessError, type AccessService } from "./access.ts";
import { onlyFields, readJsonObject } from "./api-body.ts";
import { SHARE_HEADERS, shareAsset, sharePage } from "./share-page.ts";

export interface ShareDeps {
  access: Pick<AccessService, "authenticate" | "decideFull">;
  state: ServerState;
  audit: { append(fields: AuditFields): void };
  /** The URL people reach this server at (--public-url): links are built on it. */
  publicUrl: string;
  log: (line: string) => void;
  /** Clock in milliseconds; tests pass a fake one. */
  now?: () => number;
}

type ShareEnv = { Bindings: { client: string } };

/** Room for the JSON around a maximal ciphertext; anything larger is refused before it is parsed. */
const MAX_BODY_BYTES = MAX_CIPHERTEXT_CHARS + 4096;
/** Looked up in place of a malformed id: the same path as any unknown id, and it can never exist. */
const NEVER_AN_ID = "malformed-id";

/** The audit's name for a share: a hash of its id (the id is half of the capability; this is not). */
export function shareRef(id: string): string {
  return `sh_${new Bun.CryptoHasher("sha256").update(`kz-share-ref:${id}`).digest("base64url").slice(0, 16)}`;
}

function jsonError(c: Context, status: 400 | 404 | 410 | 503, code: string, message: string): Response {
  return c.json({ error: { code, message } }, status, SHARE_HEADERS);
}

function creatorOf(identity: CallerIdentity): string {
  return identity.subject !== "" ? identity.subject : identity.issuer;
}

/** Reads and checks the body of POST /v1/shares (400 or 413 naming the field). */
async function readCreate(request: Request): Promise<{ secret?: string; ciphertext: string; views: number; expiresIn: number; passphrase: boolean }> {
  const declared = Number(request.headers.get("content-length") ?? "NaN");
  if (declared > MAX_BODY_BYTES) throw new AccessError(413, "body_too_large", `the share is ${declared} bytes; a share's ciphertext may be at most ${MAX_CIPHERTEXT_CHARS} characters`);
  const body = await readJsonObject(request, MAX_BODY_BYTES);
  onlyFields(body, ["secret", "ciphertext", "views", "expires_in"]);
  const secret = body.secret;
  if (secret !== undefined && (typeof secret !== "string" || secret === "" || secret.length > 256)) {
    throw new AccessError(400, "invalid_request", '"secret" must be the name of a secret in the bundle, or left out for a value the server does not hold');
  }
  const ciphertext = body.ciphertext;
  if (typeof ciphertext !== "string") throw new AccessError(400, "invalid_request", '"ciphertext" must be the share envelope (base64url) that kz share produced');
  if (ciphertext.length > MAX_CIPHERTEXT_CHARS) throw new AccessError(413, "body_too_large", `"ciphertext" is ${ciphertext.length} characters; at most ${MAX_CIPHERTEXT_CHARS} are accepted`);
  const envelope = inspectEnvelope(ciphertext);
  if (!envelope) throw new AccessError(400, "invalid_request", '"ciphertext" is not a kz share envelope (version 1, base64url)');
  const views = checkViews(body.views);
  if (!views.ok) throw new AccessError(400, "invalid_request", `"views": ${views.message}`);
  const expires = checkExpiresIn(body.expires_in);
  if (!expires.ok) throw new AccessError(400, "invalid_request", `"expires_in": ${expires.message}`);
  return { secret: secret as string | undefined, ciphertext, views: views.value, expiresIn: expires.value, passphrase: envelope.passphrase };
}

export function mountShares<E extends ShareEnv>(app: Hono<E>, deps: ShareDeps): void {
  const now = deps.now ?? Date.now;
  const { state, audit } = deps;

  /** Runs a state call; a backend that is down is a 503 that reveals nothing. */
  async function stateCall<T>(c: Context<E>, what: string, call: () => Promise<T>): Promise<T | Response> {
    try {
      return await call();
    } catch (error) {
      if (!(error instanceof StateUnavailableError)) throw error;
      deps.log(`state: ${what} failed: ${error.message.split("\n")[0]}`);
      return jsonError(c, 503, "state_unavailable", "the server's share storage is unavailable; nothing was revealed — try again shortly");
    }
  }

  app.get("/s/assets/:name", (c: Context<E>) => shareAsset(c.req.param("name") ?? "") ?? jsonError(c, 404, "not_found", "no such file"));
  app.get("/s/:id", () => sharePage());

  app.get("/v1/shares/:id", async (c: Context<E>) => {
    const raw = c.req.param("id") ?? "";
    const id = isShareId(raw) ? raw : NEVER_AN_ID;
    const peek = await stateCall(c, "peek", () => state.peekShare(id, now()));
    if (peek instanceof Response) return peek;
    if (peek.status === "open") {
      return c.json({ passphrase: peek.passphrase, views_left: peek.viewsLeft, expires_at: new Date(peek.expiresAt).toISOString() }, 200, SHARE_HEADERS);
    }
    return closedAnswer(c, peek.status);
  });

  app.post("/v1/shares/:id/open", async (c: Context<E>) => {
    // A JSON content type keeps cross-site forms (simple requests, no preflight) from using up views.
    if (!/^application\/json\b/i.test(c.req.header("content-type") ?? "")) {
      return c.json({ error: { code: "unsupported_media_type", message: "send Content-Type: application/json" } }, 415, SHARE_HEADERS);
    }
    const raw = c.req.param("id") ?? "";
    const id = isShareId(raw) ? raw : NEVER_AN_ID;
    const opened = await stateCall(c, "open", () => state.openShare(id, now()));
    if (opened instanceof Response) return opened;
    const ref = shareRef(raw);
    if (opened.status === "opened") {
      try {
        audit.append({ event: "share.opened", share: ref, creator: opened.creator, views_left: opened.viewsLeft, client: c.env.client });
      } catch {
        deps.log("audit: cannot write the record of a share being opened; not revealing it");
        return jsonError(c, 503, "audit_unavailable", "the audit log cannot be written, so the share is not revealed");
      }
      return c.json({ ciphertext: opened.ciphertext, views_left: opened.viewsLeft, passphrase: opened.passphrase }, 200, SHARE_HEADERS);
    }
    // A consumed link opened again may mean the link was intercepted: on record. An unknown id is not
    // (anyone may post random ids without a token; recording each would let them fill the audit log).
    if (opened.status !== "unknown") {
      try {
        audit.append({ event: opened.status === "expired" ? "share.expired" : "share.refused", share: ref, reason: opened.status, client: c.env.client });
      } catch {
        deps.log("audit: cannot write the record of a refused share open");
      }
    }
    return closedAnswer(c, opened.status);
  });

  app.post("/v1/shares", async (c: Context<E>) => {
    const auth = await deps.access.authenticate(c.req.raw.headers.get("authorization"));
    if (!auth.ok) throw new AccessError(auth.status, auth.code, auth.message);
    const identity = auth.identity;
    const share = await readCreate(c.req.raw);
    const creator = creatorOf(identity);
    let decisionId: string | null = null;
    if (share.secret !== undefined) {
      const { id, decision } = deps.access.decideFull(identity, share.secret, { action: "share" }, c.env.client);
      decisionId = id;
      if (decision.kind === "unknown-secret") throw new AccessError(404, "unknown_secret", `${decision.reason}; leave "secret" out to share a value the server does not hold`);
      if (!decision.allow) {
        auditRefusal(c, identity, share.secret, decision.reason);
        throw new AccessError(403, "denied", `${decision.reason} (decision ${id})`);
      }
    } else if (scopeOf(identity.claims) !== undefined) {
      const reason = 'a minted (scoped) token may share only the secrets its scope names: pass "secret"';
      auditRefusal(c, identity, null, reason);
      throw new AccessError(403, "denied", reason);
    }
    const id = newShareId();
    const createdAt = now();
    const expiresAt = createdAt + share.expiresIn * 1000;
    // Recorded before it is stored (fail closed): a share the audit log does not know never exists.
    try {
      audit.append({
        event: "share.created",
        share: shareRef(id),
        issuer: identity.issuer,
        creator,
        secret: share.secret ?? null,
        views: share.views,
        passphrase: share.passphrase,
        expires_at: new Date(expiresAt).toISOString(),
        decision: decisionId,
        client: c.env.client,
      });
    } catch {
      deps.log("audit: cannot write the record of a new share; share refused");
      throw new AccessError(503, "audit_unavailable", "the audit log cannot be written, so no share is created");
    }
    const stored = await stateCall(c, "create", () =>
      state.putShare({ id, ciphertext: share.ciphertext, views: share.views, expiresAt, createdAt, creator, passphrase: share.passphrase }),
    );
    if (stored instanceof Response) {
      auditRefusal(c, identity, share.secret ?? null, "state_unavailable", shareRef(id));
      return stored;
    }
    return c.json({ id, url: shareUrl(deps.publicUrl, id), expires_at: new Date(expiresAt).toISOString(), views: share.views }, 201, SHARE_HEADERS);
  });

  function auditRefusal(c: Context<E>, identity: CallerIdentity, secret: string | null, reason: string, share: string | null = null): void {
    try {
      audit.append({ event: "share.refused", share, issuer: identity.issuer, creator: creatorOf(identity), secret, reason, client: c.env.client });
    } catch {
      deps.log("audit: cannot write the record of a refused share");
    }
  }
}

function closedAnswer(c: Context, status: "unknown" | "consumed" | "expired"): Response {
  if (status === "unknown") return jsonError(c, 404, "not_found", "no such share (the link is mistyped, or it expired and was removed)");
  if (status === "consumed") return jsonError(c, 410, "consumed", "this share was already opened");
  return jsonError(c, 410, "expired", "this share expired before it was opened");
}
