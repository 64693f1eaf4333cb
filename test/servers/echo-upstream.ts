// A hostile echo server for blind-mode echo-masking tests, speaking HTTP/1.1 by hand over Bun sockets
// (TLS with its own test CA, and plain http) so that it can do what helpful frameworks would not:
//   GET /forms[?compress=gzip|deflate|deflate-raw|br|x-unknown[&force=1]][?te=gzip]
//       takes the credential from `Authorization: Bearer …` and sends it back in every encoding an API
//       might use (echoedForms below), as a JSON body, in response headers (X-Echo-*, Location, Link),
//       in a header name (X-<hex>) and in the reason phrase; compressed when asked, and with force=1
//       whatever the request's Accept-Encoding says; early=1 sends a 103 first that holds the value in
//       its reason, a Link and a header name; with corrupt=1 a stream that turns to garbage
//       (the value raw inside it); te=gzip sends it as a gzip transfer coding
//   GET /ws  a WebSocket that, once open, sends the credential in a text frame, a binary frame, a text
//       message fragmented across three frames with a ping between them, a base64 text frame and a
//       close frame whose reason holds it; then closes. No extension is ever accepted; with ?rsv1 it
//       sends one frame with RSV1 set anyway (as a compressing server would).
// Every request head is recorded. Connection: close on every response.

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createHash } from "node:crypto";
import { brotliCompressSync, deflateRawSync, deflateSync, gzipSync } from "node:zlib";
import type { Socket, TCPSocketListener } from "bun";
import { makeCertificates } from "./https-upstream.ts";

export interface EchoRequest {
  method: string;
  path: string;
  /** Lower-cased names. */
  headers: Record<string, string>;
}

export interface EchoUpstream {
  port: number;
  httpPort: number;
  caFile: string;
  requests: EchoRequest[];
  stop(): void;
}

const u = (s: string) => [...s].map((c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`).join("");
const entities = (s: string, named: boolean) =>
  s.replace(/[&<>"'\u0080-\uffff]/g, (c) =>
    named && c === "&" ? "&amp;" : named && c === "<" ? "&lt;" : named && c === ">" ? "&gt;" : named && c === '"' ? "&quot;" : `&#${c.charCodeAt(0)};`,
  );
const b64At = (value: string, offset: number, url: boolean) =>
  Buffer.concat([Buffer.alloc(offset, 0xa5), Buffer.from(`token=${value};`), Buffer.from([0xff, 0x00])]).toString(url ? "base64url" : "base64");

/** The credential in every encoding the server sends back, by name, with how to read each back. */
export function echoedForms(value: string): Record<string, string> {
  const forms: Record<string, string> = {
    raw: value,
    upper: value.toUpperCase(),
    json_u_all: u(value),
    json_go: JSON.stringify(value).slice(1, -1).replace(/[<>&]/g, (c) => `\\u00${c.charCodeAt(0).toString(16)}`),
    percent: encodeURIComponent(value),
    percent_lower: encodeURIComponent(value).replace(/%[0-9A-F]{2}/g, (e) => e.toLowerCase()),
    percent_all: [...Buffer.from(value)].map((b) => `%${b.toString(16).padStart(2, "0")}`).join(""),
    html_named: entities(value, true),
    html_decimal: entities(value, false),
    html_all_hex: [...value].map((c) => `&#x${c.charCodeAt(0).toString(16)};`).join(""),
    hex: Buffer.from(value).toString("hex"),
    hex_upper: Buffer.from(value).toString("hex").toUpperCase(),
  };
  for (let offset = 0; offset < 3; offset++) {
    forms[`base64_${offset}`] = b64At(value, offset, false);
    forms[`base64url_${offset}`] = b64At(value, offset, true);
  }
  return forms;
}

/** Reads a form back to bytes (so a test can say the value is not in it, masked or not). */
export function readBack(kind: string, text: string): Buffer {
  if (kind.startsWith("base64url")) return Buffer.from(text, "base64url");
  if (kind.startsWith("base64")) return Buffer.from(text, "base64");
  if (kind.startsWith("hex")) return Buffer.from(text, "hex");
  if (kind.startsWith("json")) return Buffer.from(JSON.parse(`"${text}"`) as string);
  if (kind.startsWith("percent")) {
    try {
      return Buffer.from(decodeURIComponent(text));
    } catch {
      return Buffer.from(text);
    }
  }
  if (kind.startsWith("html")) {
    const named: Record<string, string> = { amp: "&", lt: "<", gt: ">", quot: '"' };
    return Buffer.from(text.replace(/&(#x[0-9a-f]+|#\d+|\w+);/gi, (_, e: string) =>
      e[0] === "#" ? String.fromCharCode(e[1] === "x" || e[1] === "X" ? parseInt(e.slice(2), 16) : Number(e.slice(1))) : named[e.toLowerCase()] ?? `&${e};`));
  }
  return Buffer.from(text);
}

function compress(coding: string, body: Buffer): Buffer {
  switch (coding) {
    case "gzip":
      return gzipSync(body);
    case "deflate":
      return deflateSync(body);
    case "deflate-raw":
      return deflateRawSync(body);
    case "br":
      return brotliCompressSync(body);
    default:
      return body; // x-unknown: labelled, not compressed (kz cannot know that)
  }
}

function wsFrame(opcode: number, payload: Buffer, fin = true): Buffer {
  const b0 = (fin ? 0x80 : 0) | opcode;
  const head = payload.length < 126 ? Buffer.from([b0, payload.length]) : Buffer.from([b0, 126, payload.length >> 8, payload.length & 0xff]);
  return Buffer.concat([head, payload]);
}

/** The frames /ws sends for `value` (tests parse them back). */
export function wsFrames(value: string): Buffer {
  const third = Math.floor(value.length / 3);
  return Buffer.concat([
    wsFrame(1, Buffer.from(`{"echo":"${value}"}`)),
    wsFrame(2, Buffer.concat([Buffer.from([1, 2, 3]), Buffer.from(value), Buffer.alloc(300, 9)])),
    wsFrame(1, Buffer.from(`fragmented ${value.slice(0, third)}`), false),
    wsFrame(9, Buffer.from("ping")),
    wsFrame(0, Buffer.from(value.slice(third, 2 * third)), false),
    wsFrame(0, Buffer.from(`${value.slice(2 * third)} done`), true),
    wsFrame(1, Buffer.from(Buffer.from(value).toString("base64"))),
    wsFrame(8, Buffer.concat([Buffer.from([0x03, 0xe8]), Buffer.from(`bye ${value}`)])),
  ]);
}

function respond(req: EchoRequest): Buffer {
  const url = new URL(req.path, "http://x");
  const bearer = /^Bearer (.*)$/.exec(req.headers.authorization ?? "")?.[1] ?? "";
  if (url.pathname === "/ws") {
    const key = req.headers["sec-websocket-key"] ?? "";
    const accept = createHash("sha1").update(`${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest("base64");
    return Buffer.concat([
      Buffer.from(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`),
      url.searchParams.has("rsv1")
        ? // As if permessage-deflate had been agreed: RSV1 set, payload "compressed" (here: the value as is).
          Buffer.concat([Buffer.from([0xc1, bearer.length]), Buffer.from(bearer)])
        : wsFrames(bearer),
    ]);
  }
  if (url.pathname !== "/forms") return Buffer.from("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
  const forms = echoedForms(bearer);
  let body: Buffer = Buffer.from(JSON.stringify(forms));
  const headers = [
    "Content-Type: application/json",
    `X-Echo-Raw: ${forms.raw}`,
    `X-Echo-Upper: ${forms.upper}`,
    `X-Echo-Hex: ${forms.hex_upper}`,
    `X-Echo-Base64: ${forms.base64_1}`,
    `X-Echo-Json: ${forms.json_u_all}`,
    `Location: https://callback.example.test/done?key=${forms.percent_lower}`,
    `Link: <https://api.example.test/next?c=${forms.base64url_2}>; rel="next"`,
    `X-${forms.hex}: in the name`,
  ];
  const coding = url.searchParams.get("compress");
  const accepted = (req.headers["accept-encoding"] ?? "").toLowerCase().includes(coding === "deflate-raw" ? "deflate" : (coding ?? "-"));
  if (coding && (url.searchParams.has("force") || accepted)) {
    // corrupt=1: a stream that breaks off into garbage half way (the value is in the garbage, raw).
    body = url.searchParams.has("corrupt") ? Buffer.concat([compress(coding, body).subarray(0, 40), Buffer.alloc(64, 0xee), Buffer.from(bearer)]) : compress(coding, body);
    headers.push(`Content-Encoding: ${coding === "deflate-raw" ? "deflate" : coding}`);
  }
  const early = url.searchParams.has("early")
    ? Buffer.from(`HTTP/1.1 103 Early Hints ${bearer}\r\nLink: </style.css?k=${forms.hex}>; rel=preload\r\nX-${forms.hex}: early\r\n\r\n`)
    : Buffer.alloc(0);
  if (url.searchParams.get("te") === "gzip") {
    // Compressed as a transfer coding: the client's HTTP stack undoes it, so kz must not pass it on.
    const gz = gzipSync(body);
    const chunked = Buffer.concat([Buffer.from(`${gz.length.toString(16)}\r\n`), gz, Buffer.from("\r\n0\r\n\r\n")]);
    return Buffer.concat([Buffer.from(`HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\nConnection: close\r\n\r\n`), chunked]);
  }
  return Buffer.concat([early, Buffer.from(`HTTP/1.1 200 OK ${bearer}\r\n${headers.join("\r\n")}\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n`), body]);
}

function parseHead(text: string): EchoRequest {
  const [start, ...lines] = text.split("\r\n");
  const [method, path] = start!.split(" ");
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(":");
    if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  return { method: method!, path: path!, headers };
}

interface State {
  buf: Buffer;
  done: boolean;
  /** Response bytes the socket has not taken yet. */
  out: Buffer;
}

function flush(socket: Socket<State>): void {
  const state = socket.data;
  while (state.out.length > 0) {
    const written = socket.write(state.out);
    if (written <= 0) return; // wait for drain
    state.out = state.out.subarray(written);
  }
  socket.end();
}

export function echoHandlers(requests: EchoRequest[]) {
  return {
    open(socket: Socket<State>) {
      socket.data = { buf: Buffer.alloc(0), done: false, out: Buffer.alloc(0) };
    },
    drain(socket: Socket<State>) {
      if (socket.data.done) flush(socket);
    },
    data(socket: Socket<State>, chunk: Buffer) {
      const state = socket.data;
      if (state.done) return; // WebSocket frames from the client: ignored
      state.buf = Buffer.concat([state.buf, chunk]);
      const end = state.buf.indexOf("\r\n\r\n");
      if (end < 0) return;
      state.done = true;
      const req = parseHead(state.buf.subarray(0, end).toString("latin1"));
      requests.push(req);
      state.out = respond(req);
      flush(socket);
    },
  };
}

export async function startEchoUpstream(hostnames = ["api.example.test"]): Promise<EchoUpstream> {
  const dir = mkdtempSync(join(tmpdir(), "kz-echo-upstream-"));
  await makeCertificates(dir, hostnames);
  const requests: EchoRequest[] = [];
  const tls: TCPSocketListener<State> = Bun.listen<State>({
    hostname: "127.0.0.1",
    port: 0,
    tls: { cert: Bun.file(join(dir, "server.pem")), key: Bun.file(join(dir, "server.key")) },
    socket: echoHandlers(requests),
  });
  const plain: TCPSocketListener<State> = Bun.listen<State>({ hostname: "127.0.0.1", port: 0, socket: echoHandlers(requests) });
  return {
    port: tls.port,
    httpPort: plain.port,
    caFile: join(dir, "ca.pem"),
    requests,
    stop() {
      tls.stop(true);
      plain.stop(true);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
