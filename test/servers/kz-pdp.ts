// A kz policy server stand-in for the kz provider's tests: Bun.serve on 127.0.0.1 speaking the resolve
// contract of DESIGN.md — `POST /v1/resolve` with a bearer token and {secret}, answering {name, value} or
// {error: {code, message}} with 401 (+ WWW-Authenticate), 403, 404, 400 or 413. Identities are plain
// bearer strings mapped to the secrets they may resolve; a knob makes the next answer anything at all.

export interface PdpServerOptions {
  /** Secret name → the value the server holds. */
  secrets: Record<string, string>;
  /** Bearer token → names of the secrets it may resolve ("*" for all). Any other token is rejected. */
  identities: Record<string, string[]>;
  tls?: { cert: string; key: string };
}

export interface RecordedRequest {
  method: string;
  path: string;
  /** Lower-cased header names. */
  headers: Record<string, string>;
  body: string;
}

export interface PdpServer {
  url: string;
  requests: RecordedRequest[];
  /** The next request is answered with this status, JSON body and headers, whatever it asks. */
  answerNext(status: number, body?: unknown, headers?: Record<string, string>): void;
  stop(): void;
}

export const MAX_BODY_BYTES = 16 * 1024;

const failure = (status: number, code: string, message: string, headers: Record<string, string> = {}) =>
  Response.json({ error: { code, message } }, { status, headers });

export function startPdpServer(opts: PdpServerOptions): PdpServer {
  const requests: RecordedRequest[] = [];
  let override: { status: number; body: unknown; headers: Record<string, string> } | undefined;

  function answer(request: Request, body: string): Response {
    const path = new URL(request.url).pathname;
    if (path !== "/v1/resolve") return failure(404, "not_found", `no route ${request.method} ${path}`);
    if (request.method !== "POST") return failure(405, "method_not_allowed", "use POST");
    const auth = request.headers.get("authorization") ?? "";
    const token = /^Bearer ([^\s]+)$/.exec(auth)?.[1];
    const allowed = token !== undefined ? opts.identities[token] : undefined;
    if (!allowed) {
      const message = token === undefined ? "missing bearer token" : "token signature does not verify";
      return failure(401, "invalid_token", message, { "www-authenticate": `Bearer realm="kz", error="invalid_token"` });
    }
    if (new TextEncoder().encode(body).length > MAX_BODY_BYTES) return failure(413, "too_large", `request body over ${MAX_BODY_BYTES} bytes`);
    let parsed: unknown;
    try {
      parsed = JSON.parse(body);
    } catch {
      return failure(400, "malformed", "request body is not JSON");
    }
    const name = (parsed as { secret?: unknown } | null)?.secret;
    if (typeof name !== "string" || name === "") return failure(400, "malformed", `"secret" must be a non-empty string`);
    if (!Object.hasOwn(opts.secrets, name)) return failure(404, "unknown_secret", `no secret named ${name}`);
    if (!allowed.includes("*") && !allowed.includes(name)) {
      return failure(403, "denied", `no policy allows this identity to resolve ${name}`);
    }
    return Response.json({ name, value: opts.secrets[name] });
  }

  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    tls: opts.tls,
    async fetch(request) {
      const body = await request.text();
      requests.push({
        method: request.method,
        path: new URL(request.url).pathname,
        headers: Object.fromEntries([...request.headers].map(([k, v]) => [k.toLowerCase(), v])),
        body,
      });
      if (override) {
        const { status, body: json, headers } = override;
        override = undefined;
        return json === undefined ? new Response(null, { status, headers }) : Response.json(json, { status, headers });
      }
      return answer(request, body);
    },
  });

  return {
    url: `${opts.tls ? "https" : "http"}://127.0.0.1:${server.port}`,
    requests,
    answerNext(status, body, headers = {}) {
      override = { status, body, headers };
    },
    stop() {
      server.stop(true);
    },
  };
}
