// kz run --blind against a hostile echo server (test/servers/echo-upstream.ts): the server gets the real
// value and sends it straight back in every encoding an API might use — in the body and in headers,
// compressed whether asked or not, in WebSocket frames — and the child must receive none of it. And a
// secret bound to localhost:PORT, with the real service on 127.0.0.1 only and a squatter on [::1]:PORT:
// the squatter must get nothing. The compiled kz; the child is a raw-socket Python client that prints
// every byte it received (base64), so the test sees exactly what the agent saw. --no-masking, so only
// the proxy stands between the value and the child's output.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { gunzipSync, inflateSync } from "node:zlib";
import { KZ, Sandbox } from "../helpers/kz.ts";
import { type EchoUpstream, echoHandlers, echoedForms, readBack, startEchoUpstream, wsFrames, type EchoRequest } from "../servers/echo-upstream.ts";
import type { TCPSocketListener } from "bun";

const VALUE = 'sk-live/Fake+Key "q" <&> 0001-abcdefghijklmnop';
const LOOP_VALUE = "loopback-fake-value-0001-abcdefghijklmnop";
const API = "api.example.test";
const python = "/usr/bin/python3";

const CLIENT = String.raw`
import base64, os, socket, ssl, sys, urllib.parse
mode, host, port, path, var = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5]
token = os.environ[var]
def proxy(name):
    p = urllib.parse.urlparse(os.environ[name])
    cred = base64.b64encode(("%s:%s" % (urllib.parse.unquote(p.username), urllib.parse.unquote(p.password))).encode()).decode()
    return socket.create_connection((p.hostname, p.port)), cred
if mode == "plain":
    s, cred = proxy("HTTP_PROXY")
    s.sendall(("GET http://%s:%d%s HTTP/1.1\r\nHost: %s:%d\r\nProxy-Authorization: Basic %s\r\nAuthorization: Bearer %s\r\n"
               "Accept-Encoding: gzip, deflate, br\r\nConnection: close\r\n\r\n" % (host, port, path, host, port, cred, token)).encode())
else:
    s, cred = proxy("HTTPS_PROXY")
    s.sendall(("CONNECT %s:%d HTTP/1.1\r\nHost: %s:%d\r\nProxy-Authorization: Basic %s\r\n\r\n" % (host, port, host, port, cred)).encode())
    buf = b""
    while b"\r\n\r\n" not in buf:
        d = s.recv(4096)
        if not d: sys.exit("proxy closed the CONNECT")
        buf += d
    if not buf.startswith(b"HTTP/1.1 200"): sys.exit("CONNECT refused")
    s = ssl.create_default_context(cafile=os.environ["SSL_CERT_FILE"]).wrap_socket(s, server_hostname=host)
    if mode == "ws":
        req = ("GET %s HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
               "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\r\n" % (path, host, token))
    else:
        req = ("GET %s HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\nAccept-Encoding: gzip, deflate, br\r\n"
               "Connection: close\r\n\r\n" % (path, host, token))
    s.sendall(req.encode())
out = b""
while True:
    try:
        d = s.recv(65536)
    except (ssl.SSLError, ConnectionResetError):
        break
    if not d: break
    out += d
sys.stdout.write(base64.b64encode(out).decode())
`;

let box: Sandbox;
let upstream: EchoUpstream;
/** The real loopback service (127.0.0.1 only) and the squatter on [::1], on the same port. */
let loopPort = 0;
let realLoop: TCPSocketListener<any>;
let squatter: TCPSocketListener<any>;
const loopRequests: EchoRequest[] = [];
let squatted = 0;

beforeAll(async () => {
  upstream = await startEchoUpstream([API]);
  for (let attempt = 0; ; attempt++) {
    realLoop = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: echoHandlers(loopRequests) });
    try {
      squatter = Bun.listen({ hostname: "::1", port: realLoop.port, socket: { open: () => void squatted++, data() {} } });
      break;
    } catch (error) {
      realLoop.stop(true);
      if (attempt > 20) throw error;
    }
  }
  loopPort = realLoop.port;
  box = new Sandbox();
  box.write("client.py", CLIENT);
  box.write(
    ".keyzero.toml",
    `[blind]
upstream_ca = "${upstream.caFile}"
resolve = { "${API}:443" = "127.0.0.1:${upstream.port}" }

[secrets]
API_KEY = { provider = "local", hosts = ["${API}"] }
LOOP_KEY = { provider = "local", hosts = ["localhost:${loopPort}"] }
`,
  );
  await box.put("API_KEY", VALUE);
  await box.put("LOOP_KEY", LOOP_VALUE);
  expect((await box.kz(["allow"])).code).toBe(0); // the user approves these bindings
});

afterAll(() => {
  upstream?.stop();
  realLoop?.stop(true);
  squatter?.stop(true);
  box?.cleanup();
});

/** Runs the raw client under kz run --blind; returns every byte it received. */
async function child(mode: "connect" | "ws" | "plain", host: string, port: number, path: string, variable = "API_KEY"): Promise<Buffer> {
  const proc = Bun.spawn([KZ, "run", "--blind", "--no-masking", "--", python, "client.py", mode, host, String(port), path, variable], {
    cwd: box.dir,
    env: box.env,
    stdout: "pipe",
    stderr: "pipe",
  });
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  if (code !== 0) throw new Error(`child failed (${code}): ${stderr.trim()}`);
  expect(stderr).not.toContain(VALUE);
  return Buffer.from(stdout, "base64");
}

interface Response_ {
  status: number;
  statusLine: string;
  headers: [string, string][];
  body: Buffer;
}

/** Parses what the child received: head, then the body de-chunked and (should kz have left it so) decompressed. */
function parse(raw: Buffer): Response_ {
  const end = raw.indexOf("\r\n\r\n");
  const [start, ...lines] = raw.subarray(0, end).toString("latin1").split("\r\n");
  const headers = lines.map((l) => [l.slice(0, l.indexOf(":")).toLowerCase(), l.slice(l.indexOf(":") + 1).trim()] as [string, string]);
  const get = (name: string) => headers.find(([n]) => n === name)?.[1];
  let body = raw.subarray(end + 4);
  if (get("transfer-encoding") === "chunked") {
    const parts: Buffer[] = [];
    for (let i = 0; ; ) {
      const lineEnd = body.indexOf("\r\n", i);
      const size = parseInt(body.subarray(i, lineEnd).toString(), 16);
      if (!size) break;
      parts.push(body.subarray(lineEnd + 2, lineEnd + 2 + size));
      i = lineEnd + 2 + size + 2;
    }
    body = Buffer.concat(parts);
  }
  const coding = get("content-encoding");
  if (coding === "gzip") body = gunzipSync(body);
  if (coding === "deflate") body = inflateSync(body);
  return { status: Number(start!.split(" ")[1]), statusLine: start!, headers, body };
}

/** Is any trace of `value` in `bytes`, read as they are and in any case? */
function holds(bytes: Buffer, value: string): boolean {
  const text = bytes.toString("latin1").toLowerCase();
  const v = value.toLowerCase();
  return text.includes(v) || text.includes(v.slice(0, 16)) || text.includes(v.slice(-16));
}

/** Fails naming every form in which the value reached the child. */
function expectNoValue(res: Response_, value: string): void {
  const leaks: string[] = [];
  if (holds(Buffer.concat([Buffer.from(res.headers.flat().join("\n")), res.body]), value)) leaks.push("raw bytes");
  if (holds(Buffer.from(res.statusLine), value)) leaks.push("reason phrase");
  const hexName = res.headers.find(([, v]) => v === "in the name")?.[0] ?? "";
  expect(hexName.startsWith("x-")).toBe(true);
  if (holds(readBack("hex", hexName.slice(2)), value)) leaks.push("header name");
  const json = JSON.parse(res.body.toString("utf8")) as Record<string, string>;
  for (const [kind, text] of Object.entries(json)) if (holds(readBack(kind, text), value)) leaks.push(`body ${kind}`);
  const header = (name: string) => res.headers.find(([n]) => n === name)?.[1] ?? "";
  const headerForms: [string, string][] = [
    ["raw", header("x-echo-raw")],
    ["raw", header("x-echo-upper")],
    ["hex", header("x-echo-hex")],
    ["base64", header("x-echo-base64")],
    ["json", header("x-echo-json")],
    ["percent", header("location").split("key=")[1] ?? ""],
    ["base64url", /c=([^>]*)>/.exec(header("link"))?.[1] ?? ""],
  ];
  for (const [kind, text] of headerForms) {
    expect(text.length).toBeGreaterThan(0);
    if (holds(readBack(kind, text), value)) leaks.push(`header ${kind}`);
  }
  expect(leaks).toEqual([]);
}

function lastRequest(path: string): EchoRequest {
  return upstream.requests.filter((r) => r.path === path).at(-1)!;
}

describe("echoed in every encoding", () => {
  test("the forms the server sends are the ones the test reads back (sanity: unmasked they hold the value)", () => {
    for (const [kind, text] of Object.entries(echoedForms(VALUE))) expect(holds(readBack(kind, text), VALUE)).toBe(true);
  });

  test("body and headers: the upstream got the value and asked for no compression; the child got none of it", async () => {
    const res = parse(await child("connect", API, 443, "/forms?compress=gzip"));
    expect(res.status).toBe(200);
    const seen = lastRequest("/forms?compress=gzip");
    expect(seen.headers.authorization).toBe(`Bearer ${VALUE}`);
    expect(seen.headers["accept-encoding"]).toBe("identity");
    expectNoValue(res, VALUE);
    // Same length: the body is exactly as long as the server's.
    expect(res.body.length).toBe(Buffer.byteLength(JSON.stringify(echoedForms(VALUE))));
  });

  test("an interim 103 head is masked too (reason, Link, header name)", async () => {
    const raw = await child("connect", API, 443, "/forms?early=1");
    const interimEnd = raw.indexOf("\r\n\r\n");
    const interim = raw.subarray(0, interimEnd).toString("latin1");
    expect(interim.startsWith("HTTP/1.1 103")).toBe(true);
    expect(holds(Buffer.from(interim), VALUE)).toBe(false);
    const hex = Buffer.from(VALUE).toString("hex");
    expect(interim.toLowerCase()).not.toContain(hex.slice(0, 24));
    expectNoValue(parse(raw.subarray(interimEnd + 4)), VALUE);
  });

  for (const coding of ["gzip", "deflate", "deflate-raw", "br"]) {
    test(`a ${coding} response sent although not asked for is decoded and masked`, async () => {
      const res = parse(await child("connect", API, 443, `/forms?compress=${coding}&force=1`));
      expect(res.status).toBe(200);
      expect(res.headers.some(([n]) => n === "content-encoding")).toBe(false);
      expect(lastRequest(`/forms?compress=${coding}&force=1`).headers.authorization).toBe(`Bearer ${VALUE}`);
      expectNoValue(res, VALUE);
    });
  }

  test("a coding kz cannot decode is refused with a 502, its body never passed on", async () => {
    const raw = await child("connect", API, 443, "/forms?compress=x-unknown&force=1");
    const res = parse(raw);
    expect(res.status).toBe(502);
    expect(holds(raw, VALUE)).toBe(false);
    expect(res.body.toString()).toContain("x-unknown");
  });

  test("a corrupt gzip stream cuts the response (kz itself carries on); the raw bytes after the break never arrive", async () => {
    for (let i = 0; i < 2; i++) {
      const raw = await child("connect", API, 443, "/forms?compress=gzip&force=1&corrupt=1");
      expect(raw.subarray(0, 12).toString()).toBe("HTTP/1.1 200");
      expect(raw.toString("latin1")).not.toContain(VALUE);
      expect(raw.toString("latin1")).not.toContain(String.fromCharCode(0xee).repeat(8));
    }
  });

  test("a gzip transfer coding (undone by the client's HTTP stack) is refused with a 502 too", async () => {
    const raw = await child("connect", API, 443, "/forms?te=gzip");
    expect(parse(raw).status).toBe(502);
    expect(holds(raw, VALUE)).toBe(false);
    expect(lastRequest("/forms?te=gzip").headers.authorization).toBe(`Bearer ${VALUE}`);
  });
});

describe("WebSocket", () => {
  test("frames from the server are masked at equal length; the upgrade carried the value and no extension offer", async () => {
    const raw = await child("ws", API, 443, "/ws");
    const end = raw.indexOf("\r\n\r\n");
    expect(raw.subarray(0, 12).toString()).toBe("HTTP/1.1 101");
    const frames = raw.subarray(end + 4);
    const sent = wsFrames(VALUE);
    expect(frames.length).toBe(sent.length); // every frame, same lengths
    expect(holds(frames, VALUE)).toBe(false);
    // The base64 message decodes to no value either; the fragmented message is masked across its fragments.
    const text = frames.toString("latin1");
    const b64 = /[A-Za-z0-9+/]{40,}={0,2}/.exec(text)?.[0] ?? "";
    expect(b64.length).toBeGreaterThan(0);
    expect(holds(Buffer.from(b64, "base64"), VALUE)).toBe(false);
    expect(text).toContain("fragmented ");
    expect(text).toContain("bye ");
    const upgrade = lastRequest("/ws");
    expect(upgrade.headers.authorization).toBe(`Bearer ${VALUE}`);
    expect(upgrade.headers["sec-websocket-extensions"]).toBeUndefined();
  });
});

describe("WebSocket frames kz cannot mask", () => {
  test("a frame with RSV1 (compressed) ends the connection: the child gets the 101 and nothing after it", async () => {
    const raw = await child("ws", API, 443, "/ws?rsv1");
    const end = raw.indexOf("\r\n\r\n");
    expect(raw.subarray(0, 12).toString()).toBe("HTTP/1.1 101");
    expect(raw.length).toBe(end + 4);
    expect(holds(raw, VALUE)).toBe(false);
  });
});

describe("loopback squatting", () => {
  test("a secret bound to localhost:PORT reaches 127.0.0.1, not a squatter on [::1]", async () => {
    const res = parse(await child("plain", "localhost", loopPort, "/forms", "LOOP_KEY"));
    expect(res.status).toBe(200);
    expect(loopRequests.at(-1)?.headers.authorization).toBe(`Bearer ${LOOP_VALUE}`);
    expectNoValue(res, LOOP_VALUE);
    // A marker connection to the squatter is accepted after any connection kz could have opened to it.
    const closed = Promise.withResolvers<void>();
    const before = squatted;
    await Bun.connect({ hostname: "::1", port: loopPort, socket: { open: (s) => void s.end(), data() {}, close: () => closed.resolve() } });
    await closed.promise;
    while (squatted === before) await Bun.sleep(5);
    expect(squatted).toBe(1);
  });
});
