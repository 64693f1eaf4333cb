// A HashiCorp Vault stand-in for tests: Bun.serve on 127.0.0.1 speaking the part of Vault's HTTP API kz
// uses — KV v1 and v2 reads, AppRole / JWT / Kubernetes logins, X-Vault-Token and X-Vault-Namespace —
// with Vault's own response and error shapes. Knobs: seal it, make the next N requests fail, limit a
// token to some paths, delete a KV v2 secret's current version. Every request is recorded.
// Dynamic secrets: GET <mount>/creds/<role> on a dynamic mount (database, aws) mints a credential with a
// lease (lease_id, lease_duration, renewable); PUT sys/leases/renew and sys/leases/revoke act on it
// (renewals capped by the max TTL). GET /_test/count?path=P answers how many requests had path P (so a
// child process can wait for an event, e.g. a renewal, instead of sleeping).

export interface VaultLogin {
  method: "approle" | "jwt" | "kubernetes";
  /** Auth mount path; defaults to the method's name. */
  mount?: string;
  role?: string;
  roleId?: string;
  secretId?: string;
  jwt?: string;
}

export interface VaultServerOptions {
  /** A token that may read everything. */
  rootToken?: string;
  kv2Mounts?: string[];
  kv1Mounts?: string[];
  logins?: VaultLogin[];
  /** Tokens allowed to read only under these path prefixes, e.g. { "t": ["secret/data/app/"] }. */
  limitedTokens?: Record<string, string[]>;
  tls?: { cert: string; key: string };
  /** Called as each request arrives, before it is answered. */
  onRequest?: (request: RecordedRequest) => void;
  /** Mounts whose creds/<role> mint dynamic secrets (default database, aws). */
  dynamicMounts?: string[];
  /** The username and password a database/creds/<role> read returns (default: fresh ones per read), e.g. a real role a test made in PostgreSQL. */
  databaseCreds?: (role: string) => { username: string; password: string };
}

/** A lease the test Vault minted. */
export interface VaultLease {
  id: string;
  path: string;
  username: string;
  issuedAt: number;
  /** Seconds from issue after which no renewal extends it. */
  maxTtl: number;
  expiresAt: number;
  revoked: boolean;
  renewals: number[];
  /** The token that read it: Vault revokes the lease when that token ends. */
  token: string;
}

export interface RecordedRequest {
  method: string;
  /** The JSON body of a PUT/POST to sys/leases/*, as sent. */
  body?: Record<string, unknown>;
  /** Decoded, e.g. "/v1/secret/data/prod/github". */
  path: string;
  /** Lower-cased header names. */
  headers: Record<string, string>;
}

export interface VaultServer {
  url: string;
  requests: RecordedRequest[];
  /** Writes a secret at mount/path (no "data/" — the server knows which mounts are KV v2). */
  writeSecret(path: string, data: Record<string, unknown>, namespace?: string): void;
  deleteCurrentVersion(path: string, namespace?: string): void;
  setSealed(sealed: boolean): void;
  /** The next `count` requests answer `status` with Vault's error body for it. */
  failNext(count: number, status: 429 | 500 | 502 | 504): void;
  /** How many recorded requests had this exact path. */
  countRequests(path: string): number;
  /** Leases minted so far, by id. */
  leases: Map<string, VaultLease>;
  /** lease_duration (and the max TTL) of leases minted from now on; renewable unless told otherwise. */
  setLeaseDuration(seconds: number, opts?: { maxTtl?: number; renewable?: boolean }): void;
  /** Login tokens issued from now on live `seconds` (renewable up to `maxTtl` from login). */
  setLoginTtl(seconds: number, maxTtl?: number): void;
  /** Requests to `path` wait until release(); `arrived` resolves when the first one comes. */
  holdRequests(path: string): { arrived: Promise<void>; release(): void };
  /** Whether a lease still holds: not revoked, not expired, and its token alive. */
  leaseAlive(id: string): boolean;
  /** Revocations answer this status (e.g. 403, 500) instead of 204; undefined restores. */
  failRevocations(status: number | undefined): void;
  stop(): void;
}

interface KvVersion {
  data: Record<string, unknown>;
  created_time: string;
  deletion_time: string;
}

const FAILURE_ERRORS: Record<number, string> = {
  429: 'request path "secret/": rate limit quota exceeded',
  500: "internal error",
  502: "bad gateway",
  504: "context deadline exceeded",
};

function envelope(fields: Record<string, unknown>): Record<string, unknown> {
  return {
    request_id: crypto.randomUUID(),
    lease_id: "",
    renewable: false,
    lease_duration: 0,
    data: null,
    wrap_info: null,
    warnings: null,
    auth: null,
    ...fields,
  };
}

const errors = (status: number, ...messages: string[]) => Response.json({ errors: messages }, { status });

export function startVaultServer(opts: VaultServerOptions = {}): VaultServer {
  const kv2Mounts = new Set(opts.kv2Mounts ?? ["secret"]);
  const kv1Mounts = new Set(opts.kv1Mounts ?? ["kv"]);
  const store = new Map<string, KvVersion[]>();
  const issuedTokens = new Set<string>();
  const requests: RecordedRequest[] = [];
  let sealed = false;
  let failures: { count: number; status: number } = { count: 0, status: 500 };
  const dynamicMounts = new Set(opts.dynamicMounts ?? ["database", "aws"]);
  const leases = new Map<string, VaultLease>();
  let leaseConfig = { duration: 3600, maxTtl: 86400, renewable: true };
  let loginTtl = { seconds: 2764800, maxTtl: 2764800 };
  const holds = new Map<string, { arrive: () => void; released: Promise<void> }>();
  /** Login tokens' lifetimes: when each ends, and the latest renew-self may reach. */
  const tokenLife = new Map<string, { issuedAt: number; expiresAt: number; maxAt: number }>();
  const tokenAlive = (token: string) => {
    const life = tokenLife.get(token);
    return !life || Date.now() < life.expiresAt;
  };
  let revokeFailure: number | undefined;

  const mayUse = (token: string) => (token === opts.rootToken || issuedTokens.has(token) || Boolean(opts.limitedTokens?.[token])) && tokenAlive(token);

  function readDynamic(path: string, token: string): Response {
    if (!mayUse(token)) return errors(403, "permission denied");
    const [mount, , role] = path.split("/");
    const id = `${path}/${crypto.randomUUID().replaceAll("-", "").slice(0, 24)}`;
    const now = Date.now();
    const username = `v-${role}-${leases.size + 1}`;
    leases.set(id, {
      id,
      path,
      username,
      issuedAt: now,
      maxTtl: leaseConfig.maxTtl,
      expiresAt: now + leaseConfig.duration * 1000,
      revoked: false,
      renewals: [],
      token,
    });
    const data =
      mount === "aws"
        ? { access_key: `AKIA${crypto.randomUUID().replaceAll("-", "").slice(0, 16).toUpperCase()}`, secret_key: `dyn-secret-${crypto.randomUUID()}`, security_token: null }
        : (opts.databaseCreds?.(role!) ?? { username, password: `dyn-pass-${crypto.randomUUID()}` });
    return Response.json(envelope({ lease_id: id, lease_duration: leaseConfig.duration, renewable: leaseConfig.renewable, data }));
  }

  function leaseCall(action: string, token: string, body: Record<string, unknown>): Response {
    if (!mayUse(token)) return errors(403, "permission denied");
    const lease = typeof body.lease_id === "string" ? leases.get(body.lease_id) : undefined;
    if (action === "revoke") {
      if (revokeFailure) return errors(revokeFailure, revokeFailure === 403 ? "permission denied" : "internal error");
      if (lease) lease.revoked = true;
      return new Response(null, { status: 204 }); // Vault revokes unknown ids silently
    }
    if (!lease || lease.revoked || Date.now() > lease.expiresAt) return errors(400, "lease not found or lease is not renewable");
    if (!leaseConfig.renewable) return errors(400, "lease is not renewable");
    const asked = typeof body.increment === "number" ? body.increment : leaseConfig.duration;
    const left = Math.max(0, Math.floor((lease.issuedAt + lease.maxTtl * 1000 - Date.now()) / 1000));
    const granted = Math.min(asked, left);
    lease.expiresAt = Date.now() + granted * 1000;
    lease.renewals.push(granted);
    return Response.json(envelope({ lease_id: lease.id, renewable: true, lease_duration: granted }));
  }

  const storeKey = (namespace: string, path: string) => `${namespace.replace(/^\/+|\/+$/g, "")}|${path}`;

  function login(mount: string, body: Record<string, unknown>): Response {
    const config = (opts.logins ?? []).find((l) => (l.mount ?? l.method) === mount);
    if (!config) return errors(404, `no handler for route "auth/${mount}/login". route entry not found.`);
    if (config.method === "approle") {
      if (!body.role_id) return errors(400, "missing role_id");
      if (body.role_id !== config.roleId || body.secret_id !== config.secretId) return errors(400, "invalid role or secret ID");
    } else if (config.method === "jwt") {
      if (body.role !== undefined && body.role !== config.role) return errors(400, `role "${body.role}" could not be found`);
      if (body.jwt !== config.jwt) return errors(400, "error validating token: invalid JWT");
    } else {
      if (!body.role) return errors(400, "missing role");
      if (body.role !== config.role) return errors(400, `invalid role name "${body.role}"`);
      if (body.jwt !== config.jwt) return errors(403, "permission denied");
    }
    const token = `hvs.fake-issued-token-${String(issuedTokens.size + 1).padStart(4, "0")}`;
    issuedTokens.add(token);
    tokenLife.set(token, { issuedAt: Date.now(), expiresAt: Date.now() + loginTtl.seconds * 1000, maxAt: Date.now() + loginTtl.maxTtl * 1000 });
    const policies = ["default", "kz-read"];
    return Response.json(
      envelope({
        auth: {
          client_token: token,
          accessor: `fake-accessor-${issuedTokens.size}`,
          policies,
          token_policies: policies,
          metadata: { role_name: config.role ?? "kz" },
          lease_duration: loginTtl.seconds,
          renewable: true,
          entity_id: crypto.randomUUID(),
          token_type: "service",
          orphan: true,
        },
      }),
    );
  }

  function readKv(path: string, token: string, namespace: string): Response {
    const limited = opts.limitedTokens?.[token];
    if (!limited && token !== opts.rootToken && !issuedTokens.has(token)) return errors(403, "permission denied");
    if (limited && !limited.some((prefix) => path.startsWith(prefix))) {
      return errors(403, "1 error occurred:\n\t* permission denied\n\n");
    }
    const [mount, ...rest] = path.split("/");
    if (kv1Mounts.has(mount!)) {
      const versions = store.get(storeKey(namespace, path));
      if (!versions) return errors(404);
      return Response.json(envelope({ lease_duration: 2764800, data: versions.at(-1)!.data }));
    }
    if (!kv2Mounts.has(mount!)) return errors(404, `no handler for route "${path}". route entry not found.`);
    if (rest[0] !== "data" || rest.length < 2) return errors(404);
    const versions = store.get(storeKey(namespace, [mount, ...rest.slice(1)].join("/")));
    if (!versions) return errors(404);
    const current = versions.at(-1)!;
    const metadata = {
      created_time: current.created_time,
      custom_metadata: null,
      deletion_time: current.deletion_time,
      destroyed: false,
      version: versions.length,
    };
    const deleted = current.deletion_time !== "";
    return Response.json(envelope({ data: { data: deleted ? null : current.data, metadata } }), { status: deleted ? 404 : 200 });
  }

  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    tls: opts.tls,
    async fetch(req) {
      const url = new URL(req.url);
      const path = decodeURIComponent(url.pathname);
      const recorded: RecordedRequest = { method: req.method, path, headers: Object.fromEntries(req.headers) };
      requests.push(recorded);
      opts.onRequest?.(recorded);

      const hold = holds.get(path);
      if (hold) {
        hold.arrive();
        await hold.released;
      }
      if (failures.count > 0) {
        failures.count--;
        const headers = failures.status === 429 ? { "Retry-After": "1" } : undefined;
        return Response.json({ errors: [FAILURE_ERRORS[failures.status]] }, { status: failures.status, headers });
      }
      if (sealed) return errors(503, "Vault is sealed");
      if (path === "/_test/count") return new Response(String(requests.filter((r) => r.path === url.searchParams.get("path")).length));
      if (path === "/_test/alive") {
        const under = url.searchParams.get("path");
        return new Response(String([...leases.values()].filter((l) => l.path === under && server_.leaseAlive(l.id)).length));
      }
      if (!path.startsWith("/v1/")) return errors(404);
      const apiPath = path.slice("/v1/".length);
      const namespace = req.headers.get("x-vault-namespace") ?? "";

      if ((req.method === "PUT" || req.method === "POST") && apiPath === "auth/token/renew-self") {
        const token = req.headers.get("x-vault-token") ?? "";
        const life = tokenLife.get(token);
        if (!life || !tokenAlive(token)) return errors(403, "permission denied");
        const body = ((await req.json().catch(() => ({}))) ?? {}) as Record<string, unknown>;
        recorded.body = body;
        const asked = typeof body.increment === "number" ? body.increment : loginTtl.seconds;
        const granted = Math.max(0, Math.min(asked, Math.floor((life.maxAt - Date.now()) / 1000)));
        life.expiresAt = Date.now() + granted * 1000;
        return Response.json(envelope({ auth: { client_token: token, lease_duration: granted, renewable: true, policies: ["default", "kz-read"] } }));
      }
      const loginRoute = /^auth\/(.+)\/login$/.exec(apiPath);
      if (req.method === "POST" && loginRoute) {
        let body: unknown;
        try {
          body = await req.json();
        } catch {
          return errors(400, "failed to parse JSON input");
        }
        return login(loginRoute[1]!, (body ?? {}) as Record<string, unknown>);
      }
      const leaseRoute = /^sys\/leases\/(renew|revoke)$/.exec(apiPath);
      if ((req.method === "PUT" || req.method === "POST") && leaseRoute) {
        let body: Record<string, unknown>;
        try {
          body = ((await req.json()) ?? {}) as Record<string, unknown>;
        } catch {
          return errors(400, "failed to parse JSON input");
        }
        recorded.body = body;
        return leaseCall(leaseRoute[1]!, req.headers.get("x-vault-token") ?? "", body);
      }
      const [mount, creds] = apiPath.split("/");
      if (req.method === "GET" && creds === "creds" && dynamicMounts.has(mount!) && apiPath.split("/").length === 3) {
        return readDynamic(apiPath, req.headers.get("x-vault-token") ?? "");
      }
      if (req.method === "GET") return readKv(apiPath, req.headers.get("x-vault-token") ?? "", namespace);
      return errors(405, "1 error occurred:\n\t* unsupported operation\n\n");
    },
  });

  const server_: VaultServer = {
    url: `${opts.tls ? "https" : "http"}://127.0.0.1:${server.port}`,
    requests,
    writeSecret(path, data, namespace = "") {
      const key = storeKey(namespace, path);
      const version = { data, created_time: new Date().toISOString(), deletion_time: "" };
      const isKv2 = kv2Mounts.has(path.split("/")[0]!);
      store.set(key, isKv2 ? [...(store.get(key) ?? []), version] : [version]);
    },
    deleteCurrentVersion(path, namespace = "") {
      const current = store.get(storeKey(namespace, path))?.at(-1);
      if (current) current.deletion_time = new Date().toISOString();
    },
    setSealed(value) {
      sealed = value;
    },
    failNext(count, status) {
      failures = { count, status };
    },
    countRequests(path) {
      return requests.filter((r) => r.path === path).length;
    },
    leases,
    holdRequests(path) {
      let arrive!: () => void;
      let release!: () => void;
      const arrived = new Promise<void>((r) => (arrive = r));
      const released = new Promise<void>((r) => (release = r));
      holds.set(path, { arrive, released });
      return {
        arrived,
        release() {
          holds.delete(path);
          release();
        },
      };
    },
    setLoginTtl(seconds, maxTtl = seconds * 100) {
      loginTtl = { seconds, maxTtl };
    },
    leaseAlive(id) {
      const lease = leases.get(id);
      return Boolean(lease && !lease.revoked && Date.now() < lease.expiresAt && tokenAlive(lease.token));
    },
    setLeaseDuration(seconds, o = {}) {
      leaseConfig = { duration: seconds, maxTtl: o.maxTtl ?? 86400, renewable: o.renewable ?? true };
    },
    failRevocations(status) {
      revokeFailure = status;
    },
    stop() {
      server.stop(true);
    },
  };
  return server_;
}
