// A kz server for the share tests: a bundle whose policies allow `share` on one secret and not on
// another, a client .keyzero.toml pointing [providers.kz] at it, and helpers that run `kz share`, read the
// link, and reach into the server's SQLite state (to expire a share without waiting).
import { Database } from "bun:sqlite";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Sandbox, type KzResult } from "../helpers/kz.ts";
import { identityKey, identityToken, ServerProcess, writeIssuer } from "../helpers/server.ts";

export const SHARED_VALUE = "fake-db-password-to-hand-over-7Q2w";
export const LOCAL_VALUE = "fake-local-api-key-9Zx1-for-a-person";

export interface ShareWorld {
  serverDir: string;
  server: ServerProcess;
  box: Sandbox;
  token: string;
  /** Runs `kz share …` in the client sandbox with the identity token. */
  share(args: string[], opts?: { stdin?: string; env?: Record<string, string> }): Promise<KzResult>;
  /** Sets a share's expiry in the past (no sleeping: the state is edited, as if time had passed). */
  expire(id: string): void;
  /** Everything the server wrote to disk or its log, for leak checks. */
  everythingStored(): string;
  stop(): Promise<void>;
}

/** The link is the last line of stdout: returns it with its id and key. */
export function parseLink(stdout: string): { link: string; id: string; key: string; page: string } {
  const last = stdout.trimEnd().split("\n").at(-1) ?? "";
  const m = /^(https?:\/\/[^#\s]+\/s\/([A-Za-z0-9_-]+))#([A-Za-z0-9_-]+)$/.exec(last);
  if (!m) throw new Error(`no share link on the last line of stdout: ${JSON.stringify(last)}`);
  return { link: last, page: m[1]!, id: m[2]!, key: m[3]! };
}

export async function startShareWorld(): Promise<ShareWorld> {
  const serverDir = mkdtempSync(join(tmpdir(), "kz-share-server-"));
  const key = await identityKey();
  writeFileSync(
    join(serverDir, "bundle.yaml"),
    `${writeIssuer(serverDir, key)}
secrets:
  DB_SHARED: { provider: env, ref: SHARE_DB_SOURCE }
  NO_SHARE: { provider: env, ref: SHARE_NO_SOURCE }
policies:
- match: "SHARE_DB_SOURCE"
  rules:
  - cel: "identity.service == 'ops'"
    effect: allow
- match: "SHARE_NO_SOURCE"
  rules:
  - cel: "identity.service == 'ops' && request.action == 'resolve'"
    effect: allow
`,
  );
  const server = await ServerProcess.start(["--bundle", "bundle.yaml"], {
    cwd: serverDir,
    env: { SHARE_DB_SOURCE: SHARED_VALUE, SHARE_NO_SOURCE: "fake-not-shareable-value-3" },
  });
  const token = await identityToken(key, { sub: "ops-person", service: "ops" });
  const box = new Sandbox({ KZ_IDENTITY_TOKEN: token, LOCAL_SOURCE: LOCAL_VALUE });
  box.write(
    ".keyzero.toml",
    `[providers.kz]
url = "${server.url}"

[secrets]
DB_SHARED = { provider = "kz", ref = "DB_SHARED" }
NO_SHARE = { provider = "kz", ref = "NO_SHARE" }
LOCAL_ONE = { provider = "env", ref = "LOCAL_SOURCE" }
`,
  );
  const statePath = join(serverDir, "state.db");
  return {
    serverDir,
    server,
    box,
    token,
    share: (args, opts = {}) => box.kz(["share", ...args], opts),
    expire(id) {
      const db = new Database(statePath);
      try {
        const changed = db.query("UPDATE shares SET expires_at = 1 WHERE id = ?").run(id).changes;
        if (changed !== 1) throw new Error(`no share ${id} in ${statePath}`);
      } finally {
        db.close();
      }
    },
    everythingStored() {
      const files = ["state.db", "state.db-wal", "state.db-shm", "audit.jsonl"].map((f) => join(serverDir, f)).filter(existsSync);
      return [...files.map((f) => readFileSync(f).toString("latin1")), server.lines.join("\n")].join("\n");
    },
    async stop() {
      await server.stop();
      box.cleanup();
    },
  };
}
