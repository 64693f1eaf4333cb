// The blind proxy transport end to end: real clients (curl, Python requests and httpx, Bun's fetch and
// WebSocket, raw sockets) talk through the real proxy to a recording HTTPS upstream whose CA only the
// proxy trusts. The rewrite engine is stood in for by a small real policy (policy-fixture.ts).

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { connect as netConnect, type Socket as NetSocket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect as tlsConnect } from "node:tls";
import { createCertificateAuthority, type CertificateAuthority } from "../../src/blind/ca.ts";
import { startProxy, type BlindProxy } from "../../src/blind/proxy.ts";
import { buildTrustEnv, type TrustEnv } from "../../src/blind/trust-env.ts";
import { UpstreamConnector } from "../../src/blind/upstream.ts";
import { startHttpsUpstream, type HttpsUpstream, type RecordedRequest } from "../servers/https-upstream.ts";
import { ECHO_MASK, REAL, SECRET, TOKEN, fixturePolicy, type FixturePolicy } from "./policy-fixture.ts";

const API = "api.example.test"; // bound and intercepted
const OTHER = "other.example.test"; // intercepted, not bound: tokens are refused there
const TUNNEL = "tunnel.example.test"; // neither: an untouched tunnel
const CACHE = "cache.example.test"; // bound and intercepted, used only by the leaf-cache test
const PLAIN = "plain.example.test"; // plain http, not loopback: tokens are never swapped
const CLOSED = "closed.example.test"; // pinned to a port nothing listens on
const MISNAMED = "misnamed.example.test"; // bound and intercepted, pinned to the upstream, whose certificate does not name it

let upstream: HttpsUpstream;
let ca: CertificateAuthority;
let policy: FixturePolicy;
let proxy: BlindProxy;
let trust: TrustEnv;
let scratch: string;

beforeAll(async () => {
  upstream = await startHttpsUpstream({ hostnames: [API, OTHER, TUNNEL, CACHE] });
  ca = createCertificateAuthority();
  policy = fixturePolicy({ bound: [API, CACHE, PLAIN, MISNAMED, "127.0.0.1"], intercepted: [API, OTHER, CACHE, CLOSED, MISNAMED] });
  const pin = `127.0.0.1:${upstream.port}`;
  proxy = startProxy({
    policy,
    ca,
    upstream: {
      extraCaPem: upstream.caPem,
      resolve: {
        [`${API}:443`]: pin,
        [`${OTHER}:443`]: pin,
        [`${TUNNEL}:443`]: pin,
        [`${CACHE}:443`]: pin,
        [`${PLAIN}:80`]: `127.0.0.1:${upstream.httpPort}`,
        [`${CLOSED}:443`]: "127.0.0.1:1",
        [`${MISNAMED}:443`]: pin,
      },
    },
  });
  trust = buildTrustEnv({ caPem: ca.certPem, proxyUrl: proxy.url });
  scratch = mkdtempSync(join(tmpdir(), "kz-proxy-test-"));
});

afterAll(() => {
  proxy?.stop();
  upstream?.stop();
  trust?.cleanup();
  if (scratch) rmSync(scratch, { recursive: true, force: true });
});

/** The child environment kz would build: inherited variables, trust variables over them. */
function childEnv(extra: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries(process.env)) if (value !== undefined) env[name] = value;
  for (const name of trust.unset) delete env[name];
  return { ...env, ...trust.env, ...extra };
}

interface Ran {
  code: number;
  stdout: string;
  stderr: string;
}

async function run(cmd: string[], env = childEnv()): Promise<Ran> {
  const proc = Bun.spawn(cmd, { env, stdout: "pipe", stderr: "pipe" });
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  return { code, stdout, stderr };
}

const curl = (...args: string[]) => run(["curl", "-sS", ...args]);
const python = (script: string, extra: Record<string, string> = {}) => run(["/usr/bin/python3", "-c", script], childEnv(extra));

function recorded(path: string): RecordedRequest[] {
  return upstream.requests.filter((r) => r.path === path);
}

function proxyAuthorization(): string {
  const url = new URL(proxy.url);
  return `Basic ${Buffer.from(`${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`).toString("base64")}`;
}

/** Sends raw bytes to the proxy and returns everything it answers until it closes the connection. */
async function rawExchange(bytes: string): Promise<string> {
  const socket = netConnect(proxy.port, "127.0.0.1");
  const chunks: Buffer[] = [];
  socket.on("data", (chunk: Buffer) => chunks.push(chunk));
  await new Promise<void>((resolve, reject) => {
    socket.on("connect", () => socket.write(bytes));
    socket.on("close", () => resolve());
    socket.on("error", reject);
  });
  return Buffer.concat(chunks).toString("latin1");
}

async function sha256File(path: string): Promise<string> {
  const hasher = new Bun.CryptoHasher("sha256");
  for await (const chunk of Bun.file(path).stream()) hasher.update(chunk);
  return hasher.digest("hex");
}

describe("swapping through an intercepted host", () => {
  test("curl: a header token reaches the upstream as the real value; the echo comes back masked", async () => {
    const result = await curl("-H", `Authorization: Bearer ${TOKEN}`, `https://${API}/echo?case=curl-swap`);
    expect(result.code).toBe(0);
    const [seen] = recorded("/echo?case=curl-swap");
    expect(seen!.headers.authorization).toBe(`Bearer ${REAL}`);
    expect(seen!.headers["proxy-authorization"]).toBeUndefined();
    expect(result.stdout).toContain(`Bearer ${ECHO_MASK}`);
    expect(result.stdout).not.toContain(REAL);
    expect(policy.events).toContainEqual({ kind: "swap", host: API, secrets: [SECRET] });
  });

  test("python requests: header and JSON body swapped, Content-Length recomputed", async () => {
    const script = `
import os, requests
r = requests.post("https://${API}/echo?case=requests", headers={"Authorization": "Bearer " + os.environ["TOK"]},
                  json={"key": os.environ["TOK"], "note": "x" * 5000})
print(r.status_code)
print(r.text)
`;
    const result = await python(script, { TOK: TOKEN });
    expect(result.stderr).toBe("");
    expect(result.stdout.startsWith("200\n")).toBe(true);
    const [seen] = recorded("/echo?case=requests");
    expect(seen!.headers.authorization).toBe(`Bearer ${REAL}`);
    const body = seen!.body.toString();
    expect(JSON.parse(body).key).toBe(REAL);
    expect(Number(seen!.headers["content-length"])).toBe(seen!.bodyLength);
    expect(body).not.toContain(TOKEN);
    expect(result.stdout).not.toContain(REAL);
  });

  test("httpx: a chunked upload is rewritten as it streams, a token split across chunks included", async () => {
    const script = `
import os, httpx
tok = os.environ["TOK"].encode()
def body():
    yield b'{"before": "' + b"a" * 70000 + b'", "key": "'
    yield tok[:9]
    yield tok[9:]
    yield b'", "after": "' + b"z" * 70000 + b'"}'
r = httpx.post("https://${API}/upload?case=httpx-chunked", content=body(), headers={"content-type": "application/json"})
print(r.status_code, r.text)
`;
    const result = await python(script, { TOK: TOKEN });
    expect(result.stderr).toBe("");
    expect(result.stdout).toStartWith("200 ");
    const [seen] = recorded("/upload?case=httpx-chunked");
    expect(seen!.headers["transfer-encoding"]).toBe("chunked");
    const body = JSON.parse(seen!.body.toString());
    expect(body.key).toBe(REAL);
    expect(body.before.length).toBe(70000);
    expect(body.after.length).toBe(70000);
  });

  test("Bun fetch in a child that has only the trust environment", async () => {
    const script = `const r = await fetch("https://${API}/echo?case=bun-env", { headers: { authorization: "Bearer " + process.env.TOK } });
console.log(r.status, await r.text());`;
    const result = await run([process.execPath, "-e", script], childEnv({ TOK: TOKEN }));
    expect(result.stderr).toBe("");
    expect(result.stdout).toStartWith("200 ");
    expect(recorded("/echo?case=bun-env")[0]!.headers.authorization).toBe(`Bearer ${REAL}`);
    expect(result.stdout).not.toContain(REAL);
  });

  test("plain http to loopback is handled in absolute form, the proxy credential not forwarded", async () => {
    const result = await curl("-H", `X-Api-Key: ${TOKEN}`, `http://127.0.0.1:${upstream.httpPort}/echo?case=plain-loopback`);
    expect(result.code).toBe(0);
    const [seen] = recorded("/echo?case=plain-loopback");
    expect(seen!.tls).toBe(false);
    expect(seen!.headers["x-api-key"]).toBe(REAL);
    expect(seen!.headers["proxy-authorization"]).toBeUndefined();
    expect(result.stdout).not.toContain(REAL);
  });

  test("plain http to a non-loopback host reaches the policy as tls:false and the token stays inert", async () => {
    const result = await curl("-H", `X-Api-Key: ${TOKEN}`, `http://${PLAIN}/echo?case=plain-remote`);
    expect(result.code).toBe(0);
    const plan = policy.planned.find((p) => p.head.target === "/echo?case=plain-remote");
    expect(plan!.dest).toEqual({ host: PLAIN, port: 80, tls: false });
    expect(recorded("/echo?case=plain-remote")[0]!.headers["x-api-key"]).toBe(TOKEN);
  });
});

describe("refusals", () => {
  test("a token headed to an intercepted host it is not bound to gets 403 naming the secret; upstream sees nothing", async () => {
    const result = await curl("-w", "\n%{http_code}", "-H", `Authorization: Bearer ${TOKEN}`, `https://${OTHER}/echo?case=refused`);
    expect(result.stdout.endsWith("\n403")).toBe(true);
    expect(result.stdout).toContain(SECRET);
    expect(result.stdout).toContain(OTHER);
    expect(result.stdout).not.toContain(REAL);
    expect(recorded("/echo?case=refused")).toHaveLength(0);
    const event = policy.events.find((e) => e.kind === "refusal" && e.host === OTHER && e.secrets?.includes(SECRET));
    expect(event).toBeDefined();
    expect(JSON.stringify(event)).not.toContain(REAL);
  });

  test("a token in a buffered body headed to the wrong host is refused after the body is read", async () => {
    const result = await curl("-w", "\n%{http_code}", "-H", "content-type: application/json", "--data", `{"k":"${TOKEN}"}`, `https://${OTHER}/echo?case=refused-body`);
    expect(result.stdout.endsWith("\n403")).toBe(true);
    expect(result.stdout).not.toContain(REAL);
    expect(recorded("/echo?case=refused-body")).toHaveLength(0);
  });

  test("a Host header that disagrees with the CONNECT target is refused", async () => {
    const result = await curl("-w", "\n%{http_code}", "-H", `Host: ${OTHER}`, `https://${API}/echo?case=host-mismatch`);
    expect(result.stdout.endsWith("\n403")).toBe(true);
    expect(result.stdout).toContain("Host header");
    expect(recorded("/echo?case=host-mismatch")).toHaveLength(0);
  });

  test("a TLS server name that disagrees with the CONNECT target closes the connection", async () => {
    const socket = netConnect(proxy.port, "127.0.0.1");
    await new Promise((resolve) => socket.on("connect", resolve));
    socket.write(`CONNECT ${API}:443 HTTP/1.1\r\nHost: ${API}:443\r\nProxy-Authorization: ${proxyAuthorization()}\r\n\r\n`);
    const reply = await new Promise<string>((resolve) => socket.once("data", (d) => resolve(d.toString())));
    expect(reply).toStartWith("HTTP/1.1 200");
    const secure = tlsConnect({ socket, servername: "evil.example.test", rejectUnauthorized: false });
    const outcome = await new Promise<string>((resolve) => {
      secure.on("secureConnect", () => secure.write(`GET /echo?case=sni HTTP/1.1\r\nHost: ${API}\r\n\r\n`));
      secure.on("data", (d) => resolve(`data: ${d}`));
      secure.on("close", () => resolve("closed"));
      secure.on("error", () => resolve("closed"));
    });
    secure.destroy();
    expect(outcome).toBe("closed");
    expect(recorded("/echo?case=sni")).toHaveLength(0);
    expect(policy.events.some((e) => e.kind === "refusal" && e.host === API && e.reason?.includes("evil.example.test"))).toBe(true);
  });
});

describe("proxy credential", () => {
  const port = () => new URL(proxy.url).port;

  test("a missing credential gets 407 with a Basic challenge", async () => {
    const result = await curl("-w", "%{http_connect}", "--proxy", `http://127.0.0.1:${port()}`, `https://${API}/echo?case=no-credential`);
    expect(result.code).not.toBe(0);
    expect(result.stdout).toBe("407");
    const raw = await rawExchange(`CONNECT ${API}:443 HTTP/1.1\r\nHost: ${API}:443\r\n\r\n`);
    expect(raw).toStartWith("HTTP/1.1 407 ");
    expect(raw).toContain('Proxy-Authenticate: Basic realm="kz"');
    expect(recorded("/echo?case=no-credential")).toHaveLength(0);
  });

  test("a wrong credential gets 407, for CONNECT and for plain http", async () => {
    const wrong = `http://kz:not-the-credential@127.0.0.1:${port()}`;
    const tunnelled = await curl("-w", "%{http_connect}", "--proxy", wrong, `https://${API}/echo?case=wrong-credential`);
    expect(tunnelled.stdout).toBe("407");
    const plain = await curl("-w", "%{http_code}", "-o", "/dev/null", "--proxy", wrong, `http://127.0.0.1:${upstream.httpPort}/echo?case=wrong-credential`);
    expect(plain.stdout).toBe("407");
    expect(recorded("/echo?case=wrong-credential")).toHaveLength(0);
    const password = new URL(proxy.url).password;
    expect(tunnelled.stderr + tunnelled.stdout + plain.stdout).not.toContain(password);
  });
});

describe("transport", () => {
  test("a host nothing is bound to is tunnelled untouched (the client sees the real certificate)", async () => {
    const before = proxy.stats.tunnels;
    // Trusting only the upstream's own CA proves the TLS session is end to end, not terminated by kz.
    const result = await curl("--cacert", upstream.caFile, "-H", `Authorization: Bearer ${TOKEN}`, `https://${TUNNEL}/echo?case=tunnel`);
    expect(result.stderr).toBe("");
    expect(recorded("/echo?case=tunnel")[0]!.headers.authorization).toBe(`Bearer ${TOKEN}`);
    expect(proxy.stats.tunnels).toBe(before + 1);
    expect(policy.events).toContainEqual({ kind: "tunnel", host: TUNNEL });
  });

  test("a client that does not trust the run's CA fails its handshake, and the proxy says why", async () => {
    const result = await curl("--cacert", upstream.caFile, `https://${API}/echo?case=untrusted`);
    expect(result.code).toBe(60); // curl: peer certificate cannot be authenticated
    expect(recorded("/echo?case=untrusted")).toHaveLength(0);
    expect(policy.events).toContainEqual({ kind: "error", host: API, reason: "TLS handshake with the client failed (does it trust kz's CA?)" });
  });

  test("an IP destination is intercepted with an IP certificate", async () => {
    const own = startProxy({
      policy: fixturePolicy({ bound: ["127.0.0.1"], intercepted: ["127.0.0.1"] }),
      ca,
      upstream: { extraCaPem: upstream.caPem },
    });
    try {
      const result = await curl("--proxy", own.url, "-H", `X-Key: ${TOKEN}`, `https://127.0.0.1:${upstream.port}/echo?case=ip`);
      expect(result.code).toBe(0);
      expect(recorded("/echo?case=ip")[0]!.headers["x-key"]).toBe(REAL);
      expect(own.stats.intercepted).toBe(1);
    } finally {
      own.stop();
    }
  });

  test("keep-alive on both legs: three requests, one CONNECT, one upstream connection", async () => {
    const before = proxy.stats.connects;
    const urls = [1, 2, 3].map((n) => `https://${API}/echo?case=keepalive-${n}`);
    const result = await curl("-w", "%{num_connects}\n", "-o", "/dev/null", "-o", "/dev/null", "-o", "/dev/null", ...urls);
    expect(result.stdout).toBe("1\n0\n0\n");
    expect(proxy.stats.connects).toBe(before + 1);
    const connections = [1, 2, 3].map((n) => recorded(`/echo?case=keepalive-${n}`)[0]!.connection);
    expect(new Set(connections).size).toBe(1);
  });

  test("server-sent events: the first event arrives before the stream ends", async () => {
    const id = `sse-${Date.now()}`;
    const proc = Bun.spawn(["curl", "-sS", "-N", `https://${API}/sse?id=${id}`], { env: childEnv(), stdout: "pipe", stderr: "pipe" });
    const reader = proc.stdout.getReader();
    const decoder = new TextDecoder();
    let text = "";
    while (!text.includes("\n\n")) {
      const { value, done } = await reader.read();
      if (done) break;
      text += decoder.decode(value, { stream: true });
    }
    expect(text).toBe(`id: 1\ndata: first event for ${id}\n\n`);
    // The server sends the rest only after this separate request: had the proxy held the first event
    // back, we would never have got here.
    const ack = await curl(`https://${API}/sse-ack?id=${id}`);
    expect(ack.stdout).toBe("acked\n");
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      text += decoder.decode(value, { stream: true });
    }
    expect(await proc.exited).toBe(0);
    expect(text).toBe(`id: 1\ndata: first event for ${id}\n\nid: 2\ndata: second event for ${id}\n\n`);
  });

  test("50 MB download, intact (Content-Length, through the response rewriter)", async () => {
    const out = join(scratch, "download.bin");
    const result = await curl("-o", out, `https://${API}/download?bytes=${50 << 20}`);
    expect(result.stderr).toBe("");
    expect(Bun.file(out).size).toBe(50 << 20);
    expect(await sha256File(out)).toBe(upstream.downloads.at(-1)!);
  });

  test("8 MB chunked download, intact (re-chunked through the response rewriter)", async () => {
    const out = join(scratch, "download-chunked.bin");
    const result = await curl("-o", out, `https://${API}/download?bytes=${8 << 20}&chunked=1`);
    expect(result.stderr).toBe("");
    expect(await sha256File(out)).toBe(upstream.downloads.at(-1)!);
  });

  test("50 MB upload, intact", async () => {
    const file = join(scratch, "upload.bin");
    await Bun.write(file, randomBytes(50 << 20));
    const expected = await sha256File(file);
    const result = await curl("-H", "content-type: application/octet-stream", "--data-binary", `@${file}`, `https://${API}/upload?case=big-upload`);
    expect(result.stderr).toBe("");
    expect(JSON.parse(result.stdout)).toEqual({ bytes: 50 << 20, sha256: expected });
    expect(recorded("/upload?case=big-upload")[0]!.bodySha256).toBe(expected);
  });

  test("WebSocket echo through an intercepted host (101, then raw relay)", async () => {
    const ws = new WebSocket(`wss://${API}/ws`, { proxy: proxy.url, tls: { ca: ca.certPem } } as Bun.WebSocketOptions);
    ws.binaryType = "arraybuffer";
    const big = randomBytes(1 << 20);
    const received: (string | Buffer)[] = [];
    await new Promise<void>((resolve, reject) => {
      ws.onopen = () => {
        ws.send("hello through kz");
        ws.send(big);
      };
      ws.onmessage = (m) => {
        received.push(typeof m.data === "string" ? m.data : Buffer.from(m.data as ArrayBuffer));
        if (received.length === 2) resolve();
      };
      ws.onerror = () => reject(new Error("websocket error"));
    });
    ws.close();
    expect(received[0]).toBe("hello through kz");
    expect(Buffer.compare(received[1] as Buffer, big)).toBe(0);
    expect(upstream.requests.some((r) => r.path === "/ws" && r.headers.upgrade === "websocket")).toBe(true);
  });

  test("100 concurrent requests", async () => {
    const responses = await Promise.all(
      Array.from({ length: 100 }, (_, i) =>
        fetch(`https://${API}/echo?case=concurrent-${i}`, {
          proxy: proxy.url,
          tls: { ca: ca.certPem },
          headers: { authorization: `Bearer ${TOKEN}` },
        }).then(async (r) => ({ status: r.status, body: await r.text() })),
      ),
    );
    expect(responses.every((r) => r.status === 200 && !r.body.includes(REAL))).toBe(true);
    for (let i = 0; i < 100; i++) expect(recorded(`/echo?case=concurrent-${i}`)[0]!.headers.authorization).toBe(`Bearer ${REAL}`);
  });

  test("leaf certificates are cached: a second connection to a host signs nothing new", async () => {
    const before = ca.issuedCount;
    expect((await curl(`https://${CACHE}/echo?case=cache-1`)).code).toBe(0);
    expect(ca.issuedCount).toBe(before + 1);
    expect((await curl(`https://${CACHE}/echo?case=cache-2`)).code).toBe(0);
    expect(ca.issuedCount).toBe(before + 1);
    expect(recorded("/echo?case=cache-2")).toHaveLength(1);
  });

  test("an unreachable upstream gets 502 with a one-line reason", async () => {
    const result = await curl("-w", "%{http_connect}", `https://${CLOSED}/`);
    expect(result.stdout).toBe("502");
    const raw = await rawExchange(`CONNECT ${CLOSED}:443 HTTP/1.1\r\nHost: ${CLOSED}:443\r\nProxy-Authorization: ${proxyAuthorization()}\r\n\r\n`);
    expect(raw).toStartWith("HTTP/1.1 502 ");
    expect(raw).toMatch(/\r\n\r\nkz proxy: cannot connect to closed\.example\.test:443 \(pinned to 127\.0\.0\.1:1\): \S+\n$/);
  });

  test("an upstream whose certificate does not verify gets 502 naming why, inside the tunnel; nothing is sent to it", async () => {
    // The CONNECT is answered once TCP is up; the upstream TLS handshake runs alongside the client's,
    // so its failure is the answer to the first request.
    const result = await curl("-w", "\n%{http_connect} %{http_code}", "-H", `Authorization: Bearer ${TOKEN}`, `https://${MISNAMED}/echo?case=misnamed`);
    expect(result.stdout).toBe(`kz proxy: TLS certificate of ${MISNAMED}:443 not trusted (ERR_TLS_CERT_ALTNAME_INVALID)\n\n200 502`);
    expect(recorded("/echo?case=misnamed")).toHaveLength(0);
    expect(policy.events.some((e) => e.kind === "error" && e.host === MISNAMED && e.reason?.includes("not trusted"))).toBe(true);
  });

  test("the upstream connector verifies against the system roots plus upstream_ca, and the name", async () => {
    const dest = { host: API, port: 443, tls: true };
    const resolve = { [`${API}:443`]: `127.0.0.1:${upstream.port}`, [`${MISNAMED}:443`]: `127.0.0.1:${upstream.port}` };
    const withCa = new UpstreamConnector({ extraCaPem: upstream.caPem, resolve });
    for (let i = 0; i < 3; i++) (await withCa.connect(dest, true)).destroy(); // one shared trust store, every connection verified
    await expect(withCa.connect({ ...dest, host: MISNAMED }, true)).rejects.toThrow(/not trusted \(ERR_TLS_CERT_ALTNAME_INVALID\)/);
    const rootsOnly = new UpstreamConnector({ resolve });
    await expect(rootsOnly.connect(dest, true)).rejects.toThrow(/TLS certificate of api\.example\.test:443 not trusted/);
  });

  test("malformed requests get 400 and the proxy keeps serving", async () => {
    const garbage = await rawExchange("this is not http\r\n\r\n");
    expect(garbage).toStartWith("HTTP/1.1 400 ");
    const smuggle = await rawExchange(
      `POST http://127.0.0.1:${upstream.httpPort}/echo?case=smuggle HTTP/1.1\r\nHost: 127.0.0.1:${upstream.httpPort}\r\n` +
        `Proxy-Authorization: ${proxyAuthorization()}\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`,
    );
    expect(smuggle).toStartWith("HTTP/1.1 400 ");
    expect(recorded("/echo?case=smuggle")).toHaveLength(0);
    const tls = netConnect(proxy.port, "127.0.0.1");
    tls.on("error", () => {});
    tls.write(Buffer.from([0x16, 0x03, 0x01, 0x00, 0x05, 0x01, 0x00, 0x00, 0x01, 0x00])); // a TLS record, no head end
    tls.destroy();
    expect((await curl(`https://${API}/echo?case=after-garbage`)).code).toBe(0);
  });
});

/**
 * A deliberately misbehaving plain-http upstream (raw sockets): per connection it answers the first
 * request, then closes on the second without answering (a keep-alive connection the server dropped);
 * /cut promises 100 bytes and closes after 10.
 */
function startRawUpstream() {
  const seen: { connection: number; line: string }[] = [];
  let connections = 0;
  const server = Bun.listen<{ id: number; requests: number; buffer: string }>({
    hostname: "127.0.0.1",
    port: 0,
    socket: {
      open(socket) {
        socket.data = { id: ++connections, requests: 0, buffer: "" };
      },
      data(socket, chunk) {
        socket.data.buffer += chunk.toString("latin1");
        let end: number;
        while ((end = socket.data.buffer.indexOf("\r\n\r\n")) !== -1) {
          const line = socket.data.buffer.slice(0, socket.data.buffer.indexOf("\r\n"));
          socket.data.buffer = socket.data.buffer.slice(end + 4);
          seen.push({ connection: socket.data.id, line });
          if (++socket.data.requests > 1) return void socket.end();
          if (line.includes("/cut")) return void socket.end("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789");
          socket.write(`HTTP/1.1 200 OK\r\nContent-Length: ${line.length}\r\n\r\n${line}`);
        }
      },
    },
  });
  return { port: server.port, seen, stop: () => server.stop(true) };
}

describe("upstream misbehaviour", () => {
  test("a reused keep-alive connection the server dropped is retried once on a fresh one", async () => {
    const raw = startRawUpstream();
    try {
      const base = `http://127.0.0.1:${raw.port}`;
      const result = await curl("-w", "\n%{num_connects}\n", `${base}/first`, `${base}/second`);
      expect(result.stdout).toBe("GET /first HTTP/1.1\n1\nGET /second HTTP/1.1\n0\n");
      // The second request reached the server twice: on the dropped connection, then on a new one.
      expect(raw.seen).toEqual([
        { connection: 1, line: "GET /first HTTP/1.1" },
        { connection: 1, line: "GET /second HTTP/1.1" },
        { connection: 2, line: "GET /second HTTP/1.1" },
      ]);
    } finally {
      raw.stop();
    }
  });

  test("a response cut short by the server cuts the client connection, and the proxy carries on", async () => {
    const raw = startRawUpstream();
    try {
      const cut = await curl(`http://127.0.0.1:${raw.port}/cut`);
      expect(cut.code).toBe(18); // curl: transfer closed with outstanding read data remaining
      expect((await curl(`https://${API}/echo?case=after-cut`)).code).toBe(0);
    } finally {
      raw.stop();
    }
  });
});

test("pipelined requests are answered in order", async () => {
  const auth = proxyAuthorization();
  const request = (path: string, last: boolean) =>
    `GET http://127.0.0.1:${upstream.httpPort}${path} HTTP/1.1\r\nHost: 127.0.0.1:${upstream.httpPort}\r\n` +
    `Proxy-Authorization: ${auth}\r\n${last ? "Connection: close\r\n" : ""}\r\n`;
  const answer = await rawExchange(request("/echo?case=pipe-1", false) + request("/echo?case=pipe-2", true));
  const first = answer.indexOf("pipe-1");
  const second = answer.indexOf("pipe-2");
  expect(answer.match(/HTTP\/1\.1 200 /g)).toHaveLength(2);
  expect(first).toBeGreaterThan(0);
  expect(second).toBeGreaterThan(first);
});

describe("stop", () => {
  test("stop() closes the listener and open tunnels", async () => {
    const own = startProxy({ policy, ca, upstream: { extraCaPem: upstream.caPem, resolve: { [`${TUNNEL}:443`]: `127.0.0.1:${upstream.port}` } } });
    const url = new URL(own.url);
    const socket: NetSocket = netConnect(own.port, "127.0.0.1");
    await new Promise((resolve) => socket.on("connect", resolve));
    const auth = Buffer.from(`${url.username}:${decodeURIComponent(url.password)}`).toString("base64");
    socket.write(`CONNECT ${TUNNEL}:443 HTTP/1.1\r\nHost: ${TUNNEL}:443\r\nProxy-Authorization: Basic ${auth}\r\n\r\n`);
    const reply = await new Promise<string>((resolve) => socket.once("data", (d) => resolve(d.toString())));
    expect(reply).toStartWith("HTTP/1.1 200");
    const closed = new Promise((resolve) => socket.on("close", resolve));
    own.stop();
    await closed;
    const refused = await new Promise<string>((resolve) => {
      const again = netConnect(own.port, "127.0.0.1");
      again.on("connect", () => resolve("connected"));
      again.on("error", (e: NodeJS.ErrnoException) => resolve(e.code ?? "error"));
    });
    expect(refused).toBe("ECONNREFUSED");
  });
});
