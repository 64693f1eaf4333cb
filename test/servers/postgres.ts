// A real PostgreSQL 15 cluster for tests: initdb + pg_ctl in a temp dir on a free loopback port, with
// password (scram-sha-256) auth for TCP and a role and database made by the set-up. PostgreSQL refuses
// to run as root, so as root (CI) the cluster runs as the ordinary test account (test/helpers/
// ordinary-user.ts) in a folder that account owns. One cluster per test file keeps set-up time small.

import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ordinaryAccount } from "../helpers/ordinary-user.ts";

const BIN = process.env.KZ_PG_BIN ?? "/usr/lib/postgresql/15/bin";

export interface Postgres {
  port: number;
  user: string;
  password: string;
  database: string;
  /** postgres://user:password@127.0.0.1:port/database */
  url: string;
  /** Runs SQL as the superuser over the unix socket (psql); returns stdout. Throws on failure. */
  psql(sql: string, database?: string): string;
  /** Stops the server (a "down server" test); start() brings it back. */
  stop(): void;
  start(): void;
  cleanup(): void;
}

/** Why PostgreSQL cannot be used here (tests skip with it), or undefined. */
export function postgresMissing(): string | undefined {
  if (!Bun.file(join(BIN, "initdb")).size) return `no PostgreSQL at ${BIN} (scripts/test-deps.sh installs it)`;
  const account = ordinaryAccount();
  return typeof account === "string" ? account : undefined;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

export async function startPostgres(opts: { user?: string; password?: string; database?: string } = {}): Promise<Postgres> {
  const account = ordinaryAccount();
  if (typeof account === "string") throw new Error(account);
  const dir = mkdtempSync(join(tmpdir(), "kz-pg-"));
  chmodSync(dir, 0o755);
  const data = join(dir, "data");
  const pwfile = join(dir, "superpw");
  writeFileSync(pwfile, "super-unused\n");
  Bun.spawnSync(["chown", "-R", `${account.uid}:${account.gid}`, dir]);
  const as = (argv: string[]) => {
    const r = Bun.spawnSync([...account.prefix, ...argv], { stdout: "pipe", stderr: "pipe", env: { PATH: "/usr/bin:/bin", LANG: "C.UTF-8", HOME: dir } });
    if (r.exitCode !== 0) throw new Error(`${argv[0]} failed: ${r.stderr.toString()}${r.stdout.toString()}`);
    return r.stdout.toString();
  };
  as([join(BIN, "initdb"), "-D", data, "-U", "pgsuper", "--auth-local=trust", "--auth-host=scram-sha-256", `--pwfile=${pwfile}`, "-E", "UTF8", "--no-sync"]);
  const port = await freePort();
  const user = opts.user ?? "kz_broker_user";
  const password = opts.password ?? "pg-pw-7f3a9c1e5b";
  const database = opts.database ?? "kz_broker_db";
  const start = () =>
    as([join(BIN, "pg_ctl"), "-D", data, "-l", join(dir, "log"), "-w", "-o", `-c listen_addresses=127.0.0.1 -p ${port} -k ${dir} -c fsync=off`, "start"]);
  const stop = () => as([join(BIN, "pg_ctl"), "-D", data, "-m", "immediate", "-w", "stop"]);
  start();
  const psql = (sql: string, db = database) => as(["/usr/bin/psql", "-h", dir, "-p", String(port), "-U", "pgsuper", "-d", db, "-v", "ON_ERROR_STOP=1", "-qAt", "-c", sql]);
  psql(`CREATE ROLE ${user} LOGIN PASSWORD '${password}'`, "postgres");
  psql(`CREATE DATABASE ${database} OWNER ${user}`, "postgres");
  return {
    port,
    user,
    password,
    database,
    url: `postgres://${user}:${password}@127.0.0.1:${port}/${database}`,
    psql,
    stop,
    start,
    cleanup() {
      try {
        stop();
      } catch {
        // already stopped
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
