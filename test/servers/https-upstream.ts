// A recording HTTPS server for blind-mode tests: Bun.serve on 127.0.0.1:0 with its own test CA,
// generated at start with openssl (so only what is told to trust that CA can talk to it), plus the same
// routes over plain http. Every request is recorded — method, path, headers, body digest and (small)
// body, and which TCP connection carried it — before it is answered.
//
// Routes: /echo (the request back as JSON), /sse + /sse-ack (an event stream whose second event waits
// for the client to acknowledge the first), /download?bytes=N[&chunked=1], /upload (a sink that hashes
// what it receives), /ws (WebSocket echo), /credentials[?bytes=N][&gzip=1] (creates a user: JSON with a fresh random
// password of N characters, default 32, also percent-encoded in a connection URL, base64 in a Basic
// credential and raw in X-Request-Id, beside an "account" id too large for a JavaScript number; each
// password kept in `credentials`).

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createHash, randomBytes } from "node:crypto";
import type { Server } from "bun";

export interface RecordedRequest {
  method: string;
  /** Path and query as received. */
  path: string;
  /** Lower-cased header names. */
  headers: Record<string, string>;
  /** The body, kept when at most 1 MiB (else empty; see bodyLength / bodySha256). */
  body: Buffer;
  bodyLength: number;
  bodySha256: string;
  /** "addr:port" of the connection that carried the request (same value = same keep-alive connection). */
  connection: string;
  tls: boolean;
}

export interface HttpsUpstream {
  /** HTTPS port. */
  port: number;
  /** Plain http port (same routes). */
  httpPort: number;
  /** The test CA's certificate: trust it to talk to this server directly. */
  caPem: string;
  caFile: string;
  requests: RecordedRequest[];
  /** sha256 (hex) of each /download body sent, in order. */
  downloads: string[];
  /** Each password /credentials created, in order. */
  credentials: string[];
  stop(): void;
}

const KEEP_BODY_MAX = 1 << 20;

async function run(cmd: string[], cwd: string): Promise<void> {
  const proc = Bun.spawn(cmd, { cwd, stdout: "ignore", stderr: "pipe" });
  const [code, stderr] = await Promise.all([proc.exited, new Response(proc.stderr).text()]);
  if (code !== 0) throw new Error(`${cmd[0]} ${cmd[1]} failed: ${stderr.trim()}`);
}

/** A CA and a server certificate for `hostnames` (plus localhost and 127.0.0.1), made with openssl. */
export async function makeCertificates(dir: string, hostnames: string[]): Promise<void> {
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];
  await run(["openssl", "req", "-x509", ...ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=kz test upstream CA",
    "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"], dir);
  await run(["openssl", "req", ...ec, "-keyout", "server.key", "-out", "server.csr", "-subj", `/CN=${hostnames[0] ?? "localhost"}`], dir);
  const san = [...hostnames, "localhost"].map((h) => `DNS:${h}`).concat("IP:127.0.0.1").join(",");
  await Bun.write(join(dir, "ext.cnf"), `subjectAltName=${san}\nextendedKeyUsage=serverAuth\n`);
  await run(["openssl", "x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
    "-out", "server.pem", "-days", "2", "-extfile", "ext.cnf"], dir);
}

export async function startHttpsUpstream(options: { hostnames?: string[] } = {}): Promise<HttpsUpstream> {
  const dir = mkdtempSync(join(tmpdir(), "kz-upstream-"));
  await makeCertificates(dir, options.hostnames ?? ["api.example.test"]);
  const caFile = join(dir, "ca.pem");
  const requests: RecordedRequest[] = [];
  const downloads: string[] = [];
  const credentials: string[] = [];
  const sseAcks = new Map<string, () => void>();
  const payloads = new Map<number, Buffer>();

  const payload = (bytes: number) => {
    let data = payloads.get(bytes);
    if (!data) payloads.set(bytes, (data = randomBytes(bytes)));
    return data;
  };

  const handle = async (req: Request, server: Server<undefined>, tls: boolean): Promise<Response | undefined> => {
    const url = new URL(req.url);
    const ip = server.requestIP(req);
    const hash = createHash("sha256");
    const kept: Buffer[] = [];
    let length = 0;
    if (req.body) {
      for await (const chunk of req.body) {
        hash.update(chunk);
        length += chunk.length;
        if (length <= KEEP_BODY_MAX) kept.push(Buffer.from(chunk));
      }
    }
    const recorded: RecordedRequest = {
      method: req.method,
      path: url.pathname + url.search,
      headers: Object.fromEntries(req.headers),
      body: length <= KEEP_BODY_MAX ? Buffer.concat(kept) : Buffer.alloc(0),
      bodyLength: length,
      bodySha256: hash.digest("hex"),
      connection: `${ip?.address}:${ip?.port}`,
      tls,
    };
    requests.push(recorded);

    switch (url.pathname) {
      case "/ws":
        if (server.upgrade(req)) return undefined;
        return new Response("expected a WebSocket upgrade", { status: 400 });
      case "/echo":
        return Response.json({ ...recorded, body: recorded.body.toString("utf8") });
      case "/credentials": {
        // Hex, then characters each encoding treats differently (so raw, percent and base64 forms all differ).
        const bytes = Number(url.searchParams.get("bytes") ?? "32");
        const password = `${randomBytes(Math.ceil(bytes / 2)).toString("hex").slice(0, Math.max(bytes - 4, 0))}!&/=`.slice(0, bytes);
        credentials.push(password);
        const user = `app_${credentials.length}`;
        const json = JSON.stringify({
          id: credentials.length,
          user: { name: user, password },
          connection: `postgres://${user}:${encodeURIComponent(password)}@db.internal:5432/app`,
          basic: Buffer.from(`${user}:${password}`).toString("base64"),
        });
        // Plus an id no JavaScript number holds exactly, as a 64-bit API would send it.
        const text = `${json.slice(0, -1)},"account":12345678901234567890123}`;
        const headers = { "content-type": "application/json", "x-request-id": password };
        // ?gzip=1: compressed although the client asked for identity (as some servers do).
        if (url.searchParams.has("gzip")) return new Response(Bun.gzipSync(Buffer.from(text)), { status: 201, headers: { ...headers, "content-encoding": "gzip" } });
        return new Response(text, { status: 201, headers });
      }
      case "/upload":
        return Response.json({ bytes: length, sha256: recorded.bodySha256 });
      case "/download": {
        const data = payload(Number(url.searchParams.get("bytes") ?? "0"));
        downloads.push(createHash("sha256").update(data).digest("hex"));
        if (!url.searchParams.has("chunked")) return new Response(data, { headers: { "content-type": "application/octet-stream" } });
        let offset = 0;
        const stream = new ReadableStream<Uint8Array>({
          pull(controller) {
            if (offset >= data.length) return controller.close();
            controller.enqueue(data.subarray(offset, (offset += 256 * 1024)));
          },
        });
        return new Response(stream, { headers: { "content-type": "application/octet-stream" } });
      }
      case "/sse": {
        const id = url.searchParams.get("id") ?? "";
        const acked = new Promise<void>((resolve) => sseAcks.set(id, resolve));
        const stream = new ReadableStream<Uint8Array>({
          async start(controller) {
            controller.enqueue(new TextEncoder().encode(`id: 1\ndata: first event for ${id}\n\n`));
            await acked;
            controller.enqueue(new TextEncoder().encode(`id: 2\ndata: second event for ${id}\n\n`));
            controller.close();
          },
        });
        return new Response(stream, { headers: { "content-type": "text/event-stream", "cache-control": "no-cache" } });
      }
      case "/sse-ack": {
        const id = url.searchParams.get("id") ?? "";
        const ack = sseAcks.get(id);
        sseAcks.delete(id);
        ack?.();
        return new Response(ack ? "acked\n" : "no such stream\n", { status: ack ? 200 : 404 });
      }
      default:
        return new Response("not found\n", { status: 404 });
    }
  };

  const websocket = {
    message(ws: { send(data: string | Buffer): void }, message: string | Buffer) {
      ws.send(message);
    },
  };
  const https = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    tls: { cert: Bun.file(join(dir, "server.pem")), key: Bun.file(join(dir, "server.key")) },
    fetch: (req, server) => handle(req, server, true),
    websocket,
    maxRequestBodySize: 1 << 30,
  });
  const http = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    fetch: (req, server) => handle(req, server, false),
    websocket,
    maxRequestBodySize: 1 << 30,
  });

  return {
    port: https.port!,
    httpPort: http.port!,
    caPem: await Bun.file(caFile).text(),
    caFile,
    requests,
    downloads,
    credentials,
    stop() {
      https.stop(true);
      http.stop(true);
      for (const ack of sseAcks.values()) ack();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
