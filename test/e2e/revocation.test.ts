// Revocation through the real `kz server start`: a three-level chain of minted tokens (A → C → C2) where
// revoking A refuses C and C2 on their very next request (they had been used, so cached) and C can no
// longer mint; siblings — tokens of the same sub and issuer — cannot revoke each other's children; the
// audit records carry the ancestry. The audit key is created 0600 and an unsafe one stops the server.
// And the server refuses decisions (503 audit_unavailable, no value)
// when its audit log cannot be written.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { KZ, Sandbox } from "../helpers/kz.ts";
import { identityKey, identityToken, ServerProcess, writeIssuer, type IdentityKey } from "../helpers/server.ts";

const FAKE_VALUE = "fake-revocation-value-0123456789";

const policies = `
policies:
- match: "secret/**"
  rules:
  - cel: "true"
    effect: allow
`;

let sandbox: Sandbox;
let key: IdentityKey;
let server: ServerProcess;

beforeAll(async () => {
  sandbox = new Sandbox();
  key = await identityKey();
  const bundle = sandbox.write(
    "bundle.yaml",
    `${writeIssuer(sandbox.dir, key)}
secrets:
  API_KEY: { provider: env, ref: secret/api }
  OTHER: { provider: env, ref: secret/other }
audit: { path: ./audit.jsonl }
${policies}`,
  );
  server = await ServerProcess.start(["--bundle", bundle], { cwd: sandbox.dir, env: { "secret/api": FAKE_VALUE, "secret/other": "fake-other-000000000" } });
});

afterAll(async () => {
  await server?.stop();
  sandbox?.cleanup();
});

async function mint(parent: string, secrets = ["API_KEY"]): Promise<{ token: string; jti: string }> {
  const res = await server.post("/v1/tokens", { secrets }, parent);
  const body = (await res.json()) as { token: string; jti: string };
  expect(res.status).toBe(201);
  return body;
}

async function resolveWith(token: string): Promise<{ status: number; code?: string; message?: string; value?: string }> {
  const res = await server.post("/v1/resolve", { secret: "API_KEY" }, token);
  const body = (await res.json()) as { value?: string; error?: { code: string; message: string } };
  return { status: res.status, code: body.error?.code, message: body.error?.message, value: body.value };
}

const revoke = (target: string, by: string) => server.post("/v1/tokens/revoke", { token: target }, by);

describe("revocation cascades", () => {
  test("A → C → C2: revoking A refuses C and C2 at once, and C cannot mint again", async () => {
    const root = await identityToken(key, { sub: "lead", jti: "lead-root-1" });
    const a = await mint(root);
    const c = await mint(a.token);
    const c2 = await mint(c.token);
    for (const t of [a, c, c2]) expect((await resolveWith(t.token)).value).toBe(FAKE_VALUE); // each used (and cached)

    const res = await revoke(a.token, root); // by A's parent
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ revoked: true, jti: a.jti });

    expect(await resolveWith(a.token)).toMatchObject({ status: 401, code: "token_revoked" });
    for (const t of [c, c2]) {
      expect(await resolveWith(t.token)).toEqual({ status: 401, code: "token_revoked", message: "token has been revoked (a token it was minted from was revoked)", value: undefined });
    }
    const again = await server.post("/v1/tokens", { secrets: ["API_KEY"] }, c.token);
    expect(again.status).toBe(401);
    expect(((await again.json()) as { error: { code: string } }).error.code).toBe("token_revoked");
    // The root is untouched.
    expect((await resolveWith(root)).value).toBe(FAKE_VALUE);

    const records = readFileSync(join(sandbox.dir, "audit.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l));
    const minted = records.filter((r) => r.event === "token.mint");
    expect(minted.find((r) => r.jti === c2.jti)?.ancestry).toEqual(["lead-root-1", a.jti, c.jti]);
    expect(records.find((r) => r.event === "token.revoke" && r.jti === a.jti)).toMatchObject({ by: "lead", by_jti: "lead-root-1" });
  });

  test("the token itself may revoke itself (and so its descendants); a grandparent may not reach past its child", async () => {
    const root = await identityToken(key, { sub: "lead", jti: "lead-root-2" });
    const a = await mint(root);
    const c = await mint(a.token);
    const c2 = await mint(c.token);
    expect((await revoke(c2.token, root)).status).toBe(403); // grandparent of C: not its direct parent
    expect((await revoke(c.token, c.token)).status).toBe(200); // itself
    expect(await resolveWith(c2.token)).toMatchObject({ status: 401, code: "token_revoked" });
    expect((await resolveWith(a.token)).value).toBe(FAKE_VALUE);
  });

  test("siblings with the same sub and issuer cannot revoke each other's children, nor each other", async () => {
    const rootOne = await identityToken(key, { sub: "lead", jti: "lead-root-3" });
    const rootTwo = await identityToken(key, { sub: "lead", jti: "lead-root-4" }); // same identity, another token
    const a = await mint(rootOne);
    const b = await mint(rootOne); // A's sibling (same parent)
    const c = await mint(a.token);

    for (const [target, by] of [
      [c.token, b.token], // A's sibling → A's child
      [a.token, b.token], // sibling → sibling
      [a.token, rootTwo], // the parent's twin (same sub/iss, other jti) → A
    ] as const) {
      const res = await revoke(target, by);
      expect(res.status).toBe(403);
      expect(((await res.json()) as { error: { message: string } }).error.message).toBe(
        "only the token that minted it (its direct parent, by jti) or the token itself may revoke a token",
      );
    }
    for (const t of [a, b, c]) expect((await resolveWith(t.token)).value).toBe(FAKE_VALUE);
    expect((await revoke(c.token, a.token)).status).toBe(200); // its direct parent may
    expect(await resolveWith(c.token)).toMatchObject({ status: 401, code: "token_revoked" });
  });

  test("a chain deeper than 8 mints is refused", async () => {
    let parent = await identityToken(key, { sub: "deep", jti: "deep-root" });
    for (let depth = 1; depth <= 8; depth++) parent = (await mint(parent)).token;
    const res = await server.post("/v1/tokens", { secrets: ["API_KEY"] }, parent);
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: { message: string } }).error.message).toContain("at most 8 ancestors");
  });
});

describe("the server's audit key", () => {
  test("is created 0600 beside the log on first start; one readable by others stops the server with one line", async () => {
    expect(statSync(join(sandbox.dir, "audit.key")).mode & 0o777).toBe(0o600);
    const box = new Sandbox();
    try {
      const bundle = box.write("bundle.yaml", `${writeIssuer(box.dir, key)}secrets:\n  API_KEY: { provider: env, ref: secret/api }\naudit: { path: ./audit.jsonl, key_file: ./keys/chain.key }\n${policies}`);
      mkdirSync(join(box.dir, "keys"));
      writeFileSync(join(box.dir, "keys", "chain.key"), `${"ab".repeat(32)}\n`, { mode: 0o644 });
      chmodSync(join(box.dir, "keys", "chain.key"), 0o644);
      const proc = Bun.spawn([KZ, "server", "start", "--listen", "127.0.0.1:0", "--bundle", bundle], { cwd: box.dir, env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: box.dir }, stdout: "pipe", stderr: "pipe" });
      const [stderr, code] = await Promise.all([new Response(proc.stderr).text(), proc.exited]);
      expect(code).toBe(3);
      const path = join(box.dir, "keys", "chain.key");
      expect(stderr).toBe(`kz: error: audit key ${path} is readable by other users (mode 644) — run: chmod 600 ${path}\n`);
    } finally {
      box.cleanup();
    }
  });
});

describe("an unwritable audit log", () => {
  test("refuses every decision with 503 audit_unavailable, never a value, and counts it", async () => {
    const box = new Sandbox();
    try {
      mkdirSync(join(box.dir, "audit-is-a-dir")); // the log's path is a directory: no record can be written
      const bundle = box.write("bundle.yaml", `${writeIssuer(box.dir, key)}secrets:\n  API_KEY: { provider: env, ref: secret/api }\naudit: { path: ./audit-is-a-dir }\n${policies}`);
      const broken = await ServerProcess.start(["--bundle", bundle], { cwd: box.dir, env: { "secret/api": FAKE_VALUE } });
      try {
        const token = await identityToken(key, { sub: "agent", jti: "agent-1" });
        for (const path of ["/v1/resolve", "/v1/decide"]) {
          const res = await broken.post(path, { secret: "API_KEY" }, token);
          const text = await res.text();
          expect({ path, status: res.status }).toEqual({ path, status: 503 });
          expect(JSON.parse(text).error.code).toBe("audit_unavailable");
          expect(text).not.toContain(FAKE_VALUE);
        }
        const mintRes = await broken.post("/v1/tokens", { secrets: ["API_KEY"] }, token);
        expect(mintRes.status).toBe(503);
        const metrics = await (await fetch(`${broken.url}/metrics`)).text();
        expect(metrics).toMatch(/kz_errors_total\{code="audit_unavailable"\} [3-9]/);
        await broken.waitForLine(/audit: cannot write .*audit-is-a-dir \(EISDIR\); refusing decisions until it can/, 0);
      } finally {
        await broken.stop();
      }
    } finally {
      box.cleanup();
    }
  });
});
