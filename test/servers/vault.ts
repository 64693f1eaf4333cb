// A HashiCorp Vault stand-in for tests: Bun.serve on 127.0.0.1 speaking the part of Vault's HTTP API kz
// uses — KV v1 and v2 reads, AppRole / JWT / Kubernetes logins, X-Vault-Token and X-Vault-Namespace —
// with Vault's own response and error shapes. Knobs: seal it, make the next N requests fail, limit a
// token to some paths, delete a KV v2 secret's current version. Every request is recorded.

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
}

export interface RecordedRequest {
  method: string;
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
    const policies = ["default", "kz-read"];
    return Response.json(
      envelope({
        auth: {
          client_token: token,
          accessor: `fake-accessor-${issuedTokens.size}`,
          policies,
          token_policies: policies,
          metadata: { role_name: config.role ?? "kz" },
          lease_duration: 2764800,
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

      if (failures.count > 0) {
        failures.count--;
        const headers = failures.status === 429 ? { "Retry-After": "1" } : undefined;
        return Response.json({ errors: [FAILURE_ERRORS[failures.status]] }, { status: failures.status, headers });
      }
      if (sealed) return errors(503, "Vault is sealed");
      if (!path.startsWith("/v1/")) return errors(404);
      const apiPath = path.slice("/v1/".length);
      const namespace = req.headers.get("x-vault-namespace") ?? "";

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
      if (req.method === "GET") return readKv(apiPath, req.headers.get("x-vault-token") ?? "", namespace);
      return errors(405, "1 error occurred:\n\t* unsupported operation\n\n");
    },
  });

  return {
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
    stop() {
      server.stop(true);
    },
  };
}
