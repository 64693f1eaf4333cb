// kz run --blind end to end, for what streams: a server-sent event stream (the first event must reach
// the child while the upstream still holds the stream open), a 50 MB textual upload rewritten whole, a
// chunked upload rewritten as it streams (httpx), and a WebSocket echo. The compiled kz, real clients as
// the child, and the recording HTTPS upstream whose test CA only kz trusts (upstream_ca). Every test
// checks what the upstream received AND what the child saw: the token, never the value. Children run
// with --no-masking, so only the proxy stands between the real value and the child's output.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { KZ, Sandbox } from "../helpers/kz.ts";
import { startHttpsUpstream, type HttpsUpstream, type RecordedRequest } from "../servers/https-upstream.ts";

const API_KEY = "sk-fake-stream-api-key-0000000000000001";
const API = "api.example.test";
const python = "/usr/bin/python3";

let box: Sandbox;
let upstream: HttpsUpstream;

beforeAll(async () => {
  upstream = await startHttpsUpstream({ hostnames: [API] });
  box = new Sandbox();
  box.write(
    ".keyzero.toml",
    `[blind]
upstream_ca = "${upstream.caFile}"
resolve = { "${API}:443" = "127.0.0.1:${upstream.port}" }

[secrets]
API_KEY = { provider = "local", hosts = ["${API}"], swap = ["header", "query", "body"] }
`,
  );
  await box.put("API_KEY", API_KEY);
  expect((await box.kz(["allow"])).code).toBe(0); // the user approves these bindings
});

afterAll(() => {
  upstream?.stop();
  box?.cleanup();
});

/** A running `kz run --blind --no-masking -- cmd`, its stdout readable as it comes. */
function spawnBlind(cmd: string[]) {
  const proc = Bun.spawn([KZ, "run", "--blind", "--no-masking", "--", ...cmd], {
    cwd: box.dir,
    env: box.env,
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  const reader = proc.stdout.getReader();
  const decoder = new TextDecoder();
  let text = "";
  return {
    proc,
    /** Reads stdout until it contains `marker` (or ends); returns everything read so far. */
    async readUntil(marker: string): Promise<string> {
      while (!text.includes(marker)) {
        const { value, done } = await reader.read();
        if (done) break;
        text += decoder.decode(value, { stream: true });
      }
      return text;
    },
    /** Reads stdout to its end; returns all of it, with the exit code and stderr. */
    async finish(): Promise<{ code: number; stdout: string; stderr: string }> {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        text += decoder.decode(value, { stream: true });
      }
      const [code, stderr] = await Promise.all([proc.exited, new Response(proc.stderr).text()]);
      return { code, stdout: text, stderr };
    },
  };
}

async function blind(cmd: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return spawnBlind(cmd).finish();
}

function newRequests(): () => RecordedRequest[] {
  const before = upstream.requests.length;
  return () => upstream.requests.slice(before);
}

/** What the proxy puts in place of an echoed value: the token fitted to the value's length. */
function maskOf(token: string, length: number): string {
  return token.length >= length ? token.slice(0, length) : token + "_".repeat(length - token.length);
}

const tokenIn = (stdout: string) => /^token=(KZ_TOK_[A-Za-z0-9_-]+)$/m.exec(stdout)?.[1] ?? "";

describe("streams through kz run --blind", () => {
  test("server-sent events: the first event reaches the child while the upstream still holds the stream open", async () => {
    const seen = newRequests();
    // The event id is the token: swapped to the value on the way up, the upstream echoes it in its
    // events, and the proxy masks it on the way back down.
    const child = spawnBlind(["sh", "-c", `echo "token=$API_KEY"; exec curl -sS -N "https://${API}/sse?id=$API_KEY" -H "Authorization: Bearer $API_KEY"`]);
    const first = await child.readUntil("\n\n");
    const token = tokenIn(first);
    const mask = maskOf(token, API_KEY.length);
    expect(first).toBe(`token=${token}\nid: 1\ndata: first event for ${mask}\n\n`);
    // Only now may the stream go on: the upstream sends its second event and ends the stream after
    // this acknowledgement (sent straight to it, not through kz). Had the proxy held the first event
    // back until the stream ended, the child could not have printed it.
    const ack = await fetch(`https://127.0.0.1:${upstream.port}/sse-ack?id=${encodeURIComponent(API_KEY)}`, { tls: { ca: upstream.caPem } });
    expect(await ack.text()).toBe("acked\n");
    const result = await child.finish();
    expect(result.code).toBe(0);
    expect(result.stdout).toBe(`${first}id: 2\ndata: second event for ${mask}\n\n`);
    expect(result.stdout + result.stderr).not.toContain(API_KEY);
    const sse = seen().find((r) => r.path.startsWith("/sse?"))!;
    expect(sse.path).toBe(`/sse?id=${API_KEY}`);
    expect(sse.headers.authorization).toBe(`Bearer ${API_KEY}`);
  });

  test("a 50 MB textual upload is rewritten whole: Content-Length recomputed, tokens at both ends and in the middle swapped", async () => {
    const seen = newRequests();
    const size = 50 << 20;
    // The child writes 50 MB of text with its token at the start, in the middle and at the end, and
    // uploads it with curl; the upstream answers with the length and SHA-256 of what it received.
    const script = `
import os, subprocess, sys
tok = os.environ["API_KEY"].encode()
filler = (${size} - 3 * len(tok)) // 2
path = os.path.join(os.environ["HOME"], "upload.txt")
with open(path, "wb") as f:
    f.write(tok + b"a" * filler + tok + b"z" * (${size} - 3 * len(tok) - filler) + tok)
print("token=" + tok.decode(), flush=True)
sys.exit(subprocess.call(["curl", "-sS", "-H", "Authorization: Bearer " + tok.decode(), "-H", "content-type: text/plain",
  "--data-binary", "@" + path, "https://${API}/upload?case=big-text"]))
`;
    const result = await blind([python, "-c", script]);
    expect(result.stderr).toBe("");
    expect(result.code).toBe(0);
    const token = tokenIn(result.stdout);
    const filler = Math.floor((size - 3 * token.length) / 2);
    const real = Buffer.from(API_KEY);
    const expected = createHash("sha256")
      .update(real)
      .update(Buffer.alloc(filler, "a"))
      .update(real)
      .update(Buffer.alloc(size - 3 * token.length - filler, "z"))
      .update(real)
      .digest("hex");
    const expectedBytes = size + 3 * (API_KEY.length - token.length);
    // What the child saw: the upstream's answer about the real body, and no value.
    expect(JSON.parse(result.stdout.slice(result.stdout.indexOf("{")))).toEqual({ bytes: expectedBytes, sha256: expected });
    expect(result.stdout).not.toContain(API_KEY);
    // What the upstream received.
    const upload = seen().find((r) => r.path === "/upload?case=big-text")!;
    expect(upload.bodyLength).toBe(expectedBytes);
    expect(Number(upload.headers["content-length"])).toBe(expectedBytes);
    expect(upload.bodySha256).toBe(expected);
    expect(upload.headers.authorization).toBe(`Bearer ${API_KEY}`);
  });

  test("httpx: a chunked JSON upload is rewritten as it streams, a token split across two chunks included", async () => {
    const seen = newRequests();
    const script = `
import json, os, httpx
tok = os.environ["API_KEY"].encode()
def body():
    yield b'{"before": "' + b"a" * 100000 + b'", "key": "'
    yield tok[:10]
    yield tok[10:]
    yield b'", "after": "' + b"z" * 100000 + b'"}'
r = httpx.post("https://${API}/echo?case=chunked", content=body(), headers={"content-type": "application/json", "authorization": "Bearer " + tok.decode()})
echoed = r.json()
print("token=" + tok.decode())
print(r.status_code, echoed["headers"]["transfer-encoding"], echoed["headers"]["authorization"], echoed["bodyLength"])
print("key", json.loads(echoed["body"])["key"])
`;
    const result = await blind([python, "-c", script]);
    expect(result.stderr).toBe("");
    const token = tokenIn(result.stdout);
    const bodyLength = 100000 + 100000 + API_KEY.length + '{"before": "", "key": "", "after": ""}'.length;
    // The upstream echoed the request — the value in its header and inside the 200 kB body it sent
    // back: the child sees the mask in both places.
    const mask = maskOf(token, API_KEY.length);
    expect(result.stdout).toBe(`token=${token}\n200 chunked Bearer ${mask} ${bodyLength}\nkey ${mask}\n`);
    const upload = seen().find((r) => r.path === "/echo?case=chunked")!;
    expect(upload.headers["transfer-encoding"]).toBe("chunked");
    expect(upload.headers.authorization).toBe(`Bearer ${API_KEY}`);
    const json = JSON.parse(upload.body.toString());
    expect(json.key).toBe(API_KEY);
    expect(json.before).toBe("a".repeat(100000));
    expect(json.after).toBe("z".repeat(100000));
    expect(upload.body.toString()).not.toContain(token);
  });

  test("WebSocket echo: the upgrade request carries the value, frames flow both ways", async () => {
    const seen = newRequests();
    // Bun's WebSocket in the child, pointed at the proxy and kz's CA from the environment kz gave it.
    const script = `
const { readFileSync } = require("node:fs");
const big = new Uint8Array(1 << 20).map((_, i) => (i * 7) & 0xff);
const ws = new WebSocket("wss://${API}/ws", {
  proxy: process.env.HTTPS_PROXY,
  tls: { ca: readFileSync(process.env.NODE_EXTRA_CA_CERTS, "utf8") },
  headers: { authorization: "Bearer " + process.env.API_KEY },
});
ws.binaryType = "arraybuffer";
const got = [];
ws.onopen = () => { ws.send("hello " + process.env.API_KEY); ws.send(big); };
ws.onmessage = (m) => {
  got.push(m.data);
  if (got.length < 2) return;
  const echoed = new Uint8Array(got[1]);
  console.log("token=" + process.env.API_KEY);
  console.log(got[0]);
  console.log("binary", echoed.length, echoed.every((b, i) => b === big[i]));
  ws.close();
};
ws.onerror = (e) => { console.error("websocket error", e.message ?? e); process.exit(1); };
`;
    const result = await blind([process.execPath, "-e", script]);
    expect(result.stderr).toBe("");
    expect(result.code).toBe(0);
    const token = tokenIn(result.stdout);
    // Frames are relayed untouched after the 101: the token the child sent comes back as it was.
    expect(result.stdout).toBe(`token=${token}\nhello ${token}\nbinary 1048576 true\n`);
    const upgrade = seen().find((r) => r.path === "/ws")!;
    expect(upgrade.headers.upgrade).toBe("websocket");
    expect(upgrade.headers.authorization).toBe(`Bearer ${API_KEY}`);
  });
});
