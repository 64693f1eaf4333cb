// The share routes against an in-memory state and a stub access service: limits (400/413), policy on a
// named secret, scoped tokens and unnamed shares, one-time opens (404 unknown or malformed, 410 consumed or
// expired), a GET that never counts a view, the security headers, and audit records without secrets —
// against the real SQLite backend and the tests' in-memory one.
import { beforeEach, describe, expect, test } from "bun:test";
import { Hono } from "hono";
import type { AuditFields } from "../../src/audit/log.ts";
import { AccessError } from "../../src/server/access.ts";
import { mountShares, shareRef } from "../../src/server/shares.ts";
import { sealShare } from "../../src/share/envelope.ts";
import { MAX_CIPHERTEXT_CHARS } from "../../src/share/limits.ts";
import { SqliteState } from "../../src/state/sqlite.ts";
import { MemoryState, ProbedState } from "../helpers/memory-state.ts";

const PUBLIC = "https://kz.example.test";
let clock = 1_000_000;
let state: ProbedState;
let records: AuditFields[];
let app: Hono<{ Bindings: { client: string } }>;
let decisions: { secret: string; action: string }[];

const identities: Record<string, Record<string, unknown>> = {
  "Bearer alice": { sub: "alice" },
  "Bearer scoped": { sub: "agent", kz_scope: { secrets: ["SHARABLE"] } },
};

const access = {
  async authenticate(header: string | null) {
    const claims = header ? identities[header] : undefined;
    if (!claims) return { ok: false as const, status: 401 as const, code: "invalid_token", message: "bad token" };
    return { ok: true as const, identity: { issuer: "https://idp.example.test", subject: String(claims.sub), claims } };
  },
  decideFull(_identity: unknown, secret: string, request: { action: string }) {
    decisions.push({ secret, action: request.action });
    if (secret === "SHARABLE") return { id: "dec_1", decision: { kind: "decided", allow: true, effect: "allow", reason: "allowed", errors: [], claimsUsed: [] } };
    if (secret === "PRIVATE") return { id: "dec_2", decision: { kind: "decided", allow: false, effect: "deny", reason: "denied by policy 0 rule 0", errors: [], claimsUsed: [] } };
    return { id: "dec_3", decision: { kind: "unknown-secret", allow: false, effect: "deny", reason: `no secret named "${secret}" in the bundle`, errors: [], claimsUsed: [] } };
  },
};

const sealed = await sealShare(new TextEncoder().encode("hunter2-the-value"));

describe.each(["sqlite", "memory"])("%s state", (backend) => {
  beforeEach(() => {
    clock = 1_000_000;
    state = new ProbedState(backend === "sqlite" ? new SqliteState(":memory:", { now: () => clock }) : new MemoryState());
    records = [];
    decisions = [];
    app = new Hono<{ Bindings: { client: string } }>();
    app.onError((error, c) => {
      if (error instanceof AccessError) return c.json({ error: { code: error.code, message: error.message } }, error.status);
      throw error;
    });
    mountShares(app, { access: access as never, state, audit: { append: (r) => void records.push(r) }, publicUrl: PUBLIC, log: () => {}, now: () => clock });
  });

  function call(path: string, init: RequestInit = {}): Promise<Response> {
    return Promise.resolve(app.fetch(new Request(`http://127.0.0.1${path}`, init), { client: "127.0.0.1" }));
  }

  function create(body: Record<string, unknown>, token = "Bearer alice"): Promise<Response> {
    return call("/v1/shares", { method: "POST", headers: { "Content-Type": "application/json", Authorization: token }, body: JSON.stringify(body) });
  }

  function open(id: string): Promise<Response> {
    return call(`/v1/shares/${id}/open`, { method: "POST", headers: { "Content-Type": "application/json" }, body: "{}" });
  }


  describe("POST /v1/shares", () => {
    test("creates a share: an id of 128 bits, the page's URL without the key, defaults 1 view and 1 hour", async () => {
      const res = await create({ ciphertext: sealed.ciphertext });
      expect(res.status).toBe(201);
      const body = (await res.json()) as { id: string; url: string; expires_at: string; views: number };
      expect(body.id).toMatch(/^[A-Za-z0-9_-]{22}$/);
      expect(body.url).toBe(`${PUBLIC}/s/${body.id}`);
      expect(body.views).toBe(1);
      expect(body.expires_at).toBe(new Date(clock + 3600_000).toISOString());
      expect(res.headers.get("cache-control")).toBe("no-store");
      expect(state.stored.find((x) => x.id === body.id)?.creator).toBe("alice");
      expect(state.stored.find((x) => x.id === body.id)?.passphrase).toBe(false);
      const created = records.find((r) => r.event === "share.created")!;
      expect(created).toMatchObject({ share: shareRef(body.id), creator: "alice", secret: null, views: 1 });
      expect(JSON.stringify(records)).not.toContain(body.id);
      expect(JSON.stringify(records)).not.toContain(sealed.ciphertext);
    });

    test("ids are distinct", async () => {
      const ids = new Set<string>();
      for (let i = 0; i < 20; i++) ids.add(((await (await create({ ciphertext: sealed.ciphertext })).json()) as { id: string }).id);
      expect(ids.size).toBe(20);
    });

    test("needs a valid token", async () => {
      expect((await create({ ciphertext: sealed.ciphertext }, "Bearer nobody")).status).toBe(401);
      expect((await call("/v1/shares", { method: "POST", headers: { "Content-Type": "application/json" }, body: "{}" })).status).toBe(401);
      expect(state.stored.length).toBe(0);
    });

    test("views 1–10 and expiry up to 7 days; anything else is a 400 naming the field", async () => {
      for (const views of [0, 11, 1.5, "2", -1]) {
        const res = await create({ ciphertext: sealed.ciphertext, views });
        expect(res.status).toBe(400);
        expect(((await res.json()) as { error: { message: string } }).error.message).toContain('"views"');
      }
      for (const expires_in of [0, 7 * 86400 + 1, "8d", "soon", -5, 1.5]) {
        const res = await create({ ciphertext: sealed.ciphertext, expires_in });
        expect(res.status).toBe(400);
        expect(((await res.json()) as { error: { message: string } }).error.message).toContain('"expires_in"');
      }
      const ok = await create({ ciphertext: sealed.ciphertext, views: 10, expires_in: "7d" });
      expect(ok.status).toBe(201);
      expect(((await ok.json()) as { expires_at: string }).expires_at).toBe(new Date(clock + 7 * 86400_000).toISOString());
      expect((await create({ ciphertext: sealed.ciphertext, expires_in: 60 })).status).toBe(201);
    });

    test("a ciphertext over 64 KiB is a 413; something that is not an envelope is a 400", async () => {
      const big = await create({ ciphertext: "A".repeat(MAX_CIPHERTEXT_CHARS + 1) });
      expect(big.status).toBe(413);
      const huge = await create({ ciphertext: "A".repeat(200_000) });
      expect(huge.status).toBe(413);
      expect((await create({ ciphertext: "not an envelope" })).status).toBe(400);
      expect((await create({ ciphertext: "AQAA" })).status).toBe(400);
      expect((await create({})).status).toBe(400);
      expect((await create({ ciphertext: sealed.ciphertext, key: sealed.key })).status).toBe(400);
      expect(state.stored.length).toBe(0);
    });

    test("a named secret is decided with action share: allowed, denied (403), unknown (404)", async () => {
      expect((await create({ secret: "SHARABLE", ciphertext: sealed.ciphertext })).status).toBe(201);
      const denied = await create({ secret: "PRIVATE", ciphertext: sealed.ciphertext });
      expect(denied.status).toBe(403);
      expect((await create({ secret: "NOPE", ciphertext: sealed.ciphertext })).status).toBe(404);
      expect(decisions).toEqual([
        { secret: "SHARABLE", action: "share" },
        { secret: "PRIVATE", action: "share" },
        { secret: "NOPE", action: "share" },
      ]);
      expect(state.stored.length).toBe(1);
      expect(records.some((r) => r.event === "share.refused" && r.secret === "PRIVATE")).toBe(true);
    });

    test("a scoped (minted) token may share only a named secret, never an unnamed value", async () => {
      const unnamed = await create({ ciphertext: sealed.ciphertext }, "Bearer scoped");
      expect(unnamed.status).toBe(403);
      expect((await create({ secret: "SHARABLE", ciphertext: sealed.ciphertext }, "Bearer scoped")).status).toBe(201);
      expect(state.stored.length).toBe(1);
    });

    test("the passphrase flag comes from the envelope, not from the client's say-so", async () => {
      const withPass = await sealShare(new TextEncoder().encode("v"), { passphrase: "pw" });
      const { id } = (await (await create({ ciphertext: withPass.ciphertext })).json()) as { id: string };
      expect(state.stored.find((x) => x.id === id)?.passphrase).toBe(true);
    });

    test("storage down: 503, nothing stored", async () => {
      state.down = true;
      const res = await create({ ciphertext: sealed.ciphertext });
      expect(res.status).toBe(503);
    });
  });

  describe("opening", () => {
    async function newShare(body: Record<string, unknown> = {}): Promise<string> {
      const res = await create({ ciphertext: sealed.ciphertext, ...body });
      return ((await res.json()) as { id: string }).id;
    }

    test("opens once, then 410 consumed; the ciphertext comes back unchanged", async () => {
      const id = await newShare();
      const first = await open(id);
      expect(first.status).toBe(200);
      expect(await first.json()).toEqual({ ciphertext: sealed.ciphertext, views_left: 0, passphrase: false });
      const second = await open(id);
      expect(second.status).toBe(410);
      expect(((await second.json()) as { error: { code: string } }).error.code).toBe("consumed");
      expect(records.filter((r) => r.event === "share.opened")).toEqual([{ event: "share.opened", share: shareRef(id), creator: "alice", views_left: 0, client: "127.0.0.1" }]);
      expect(records.some((r) => r.event === "share.refused" && r.reason === "consumed")).toBe(true);
    });

    test("several views count down", async () => {
      const id = await newShare({ views: 3 });
      const left = [];
      for (let i = 0; i < 4; i++) {
        const res = await open(id);
        left.push(res.status === 200 ? ((await res.json()) as { views_left: number }).views_left : res.status);
      }
      expect(left).toEqual([2, 1, 0, 410]);
    });

    test("expired: 410 expired (test clock, no waiting)", async () => {
      const id = await newShare({ expires_in: 60 });
      clock += 60_000;
      const res = await open(id);
      expect(res.status).toBe(410);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe("expired");
      expect(records.some((r) => r.event === "share.expired")).toBe(true);
    });

    test("unknown and malformed ids: the same 404", async () => {
      const unknown = await open("AAAAAAAAAAAAAAAAAAAAAA");
      const malformed = await open("..%2F..%2Fetc");
      const tooLong = await open("A".repeat(500));
      const bodies = await Promise.all([unknown, malformed, tooLong].map(async (r) => [r.status, await r.json()]));
      expect(bodies[0]).toEqual([404, { error: { code: "not_found", message: expect.any(String) } }]);
      expect(bodies[1]).toEqual(bodies[0]);
      expect(bodies[2]).toEqual(bodies[0]);
      // Unauthenticated noise does not reach the audit log.
      expect(records).toEqual([]);
    });

    test("open needs a JSON content type (a cross-site form cannot burn a view)", async () => {
      const id = await newShare();
      const res = await call(`/v1/shares/${id}/open`, { method: "POST", headers: { "Content-Type": "application/x-www-form-urlencoded" }, body: "a=b" });
      expect(res.status).toBe(415);
      expect((await open(id)).status).toBe(200);
    });

    test("GET of the status and of the page never counts a view", async () => {
      const id = await newShare();
      for (let i = 0; i < 3; i++) {
        const status = await call(`/v1/shares/${id}`);
        expect(status.status).toBe(200);
        expect(await status.json()).toEqual({ passphrase: false, views_left: 1, expires_at: new Date(clock + 3600_000).toISOString() });
        const page = await call(`/s/${id}`);
        expect(page.status).toBe(200);
        expect(await page.text()).toContain("Reveal");
        const head = await call(`/s/${id}`, { method: "HEAD" });
        expect(head.status).toBe(200);
      }
      expect((await open(id)).status).toBe(200);
      expect((await call(`/v1/shares/${id}`)).status).toBe(410);
    });

    test("storage down: 503 and nothing revealed", async () => {
      const id = await newShare();
      state.down = true;
      const res = await open(id);
      expect(res.status).toBe(503);
      expect(await res.text()).not.toContain(sealed.ciphertext);
    });
  });

  describe("the page", () => {
    test("security headers on the page, its assets and the open endpoint", async () => {
      const id = "AAAAAAAAAAAAAAAAAAAAAA";
      for (const res of [await call(`/s/${id}`), await call("/s/assets/share.js"), await call("/s/assets/envelope.js"), await open(id)]) {
        const csp = res.headers.get("content-security-policy") ?? "";
        expect(csp).toContain("default-src 'none'");
        expect(csp).toContain("script-src 'self'");
        expect(csp).toContain("connect-src 'self'");
        expect(csp).toContain("frame-ancestors 'none'");
        expect(csp).toContain("form-action 'none'");
        expect(csp).toContain("base-uri 'none'");
        expect(csp).not.toContain("unsafe");
        expect(res.headers.get("referrer-policy")).toBe("no-referrer");
        expect(res.headers.get("cache-control")).toBe("no-store");
        expect(res.headers.get("x-content-type-options")).toBe("nosniff");
        expect(res.headers.get("set-cookie")).toBeNull();
      }
    });

    test("the page loads nothing from elsewhere and has no inline script or handler", async () => {
      const html = await (await call("/s/AAAAAAAAAAAAAAAAAAAAAA")).text();
      expect(html).not.toMatch(/(src|href)="(https?:)?\/\//);
      expect(html).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/);
      expect(html).not.toMatch(/\son[a-z]+=/i);
      expect(html).toContain('name="viewport"');
    });

    test("envelope.js is the envelope itself, transpiled for the browser", async () => {
      const res = await call("/s/assets/envelope.js");
      expect(res.headers.get("content-type")).toContain("text/javascript");
      const js = await res.text();
      expect(js).toContain("export async function openShare");
      expect(js).toContain("600000");
      expect(js).not.toContain("Uint8Array<ArrayBuffer>");
      const mod = await import(`data:text/javascript;base64,${Buffer.from(js).toString("base64")}`);
      const plain = await mod.openShare(sealed.ciphertext, sealed.key);
      expect(new TextDecoder().decode(plain)).toBe("hunter2-the-value");
      expect((await call("/s/assets/other.js")).status).toBe(404);
    });
  });
});
