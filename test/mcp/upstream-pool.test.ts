// fetch's keep-alive connections, against a raw HTTP/1.1 server on 127.0.0.1 (plain http to loopback, a
// secret bound to "*", allow_private: true) that numbers its connections and can drop one when a second
// request arrives on it: a connection is reused for the next call; a GET sent on a reused connection the
// server drops is retried once on a new one; a POST is not (it may have been acted on); "Connection: close"
// responses are never pooled; a redirect is returned, not followed; a silent upstream times out.

import { afterAll, beforeAll, expect, test } from "bun:test";
import type { Socket, TCPSocketListener } from "bun";
import { handleRequest } from "../../src/mcp/dispatch.ts";
import { limitsOf, stateOf } from "../../src/mcp/state.ts";
import { VALUES, startFixture, type Fixture } from "./fixture.ts";

interface ConnState {
  id: number;
  nth: number;
  buffer: string;
}

interface Seen {
  connection: number;
  /** 1 for the first request on its connection. */
  nth: number;
  method: string;
}

let fx: Fixture;
let mode: "keep-alive" | "drop-second" | "close" | "silent" | "redirect" = "keep-alive";
const seen: Seen[] = [];
let connections = 0;
let server: TCPSocketListener<ConnState>;

beforeAll(async () => {
  fx = await startFixture();
  server = Bun.listen<ConnState>({
    hostname: "127.0.0.1",
    port: 0,
    socket: {
      open(socket) {
        socket.data = { id: ++connections, nth: 0, buffer: "" };
      },
      data(socket: Socket<ConnState>, chunk) {
        const state = socket.data;
        state.buffer += chunk.toString("latin1");
        for (;;) {
          const end = state.buffer.indexOf("\r\n\r\n");
          if (end < 0) return;
          const head = state.buffer.slice(0, end);
          const length = Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1] ?? "0");
          if (state.buffer.length < end + 4 + length) return;
          state.buffer = state.buffer.slice(end + 4 + length);
          state.nth++;
          seen.push({ connection: state.id, nth: state.nth, method: head.slice(0, head.indexOf(" ")) });
          if (mode === "silent") return;
          if (mode === "redirect") {
            socket.write(`HTTP/1.1 302 Found\r\nLocation: http://127.0.0.1:${server.port}/next?k=${VALUES.KZ_MCP_TEST_ANY_KEY}\r\nSet-Cookie: session=abc\r\nContent-Length: 0\r\n\r\n`);
            continue;
          }
          if (mode === "drop-second" && state.nth >= 2) {
            socket.end();
            return;
          }
          const close = mode === "close" ? "Connection: close\r\n" : "";
          socket.write(`HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n${close}\r\nok`);
          if (close) socket.end();
        }
      },
    },
  });
});

afterAll(() => {
  stateOf(fx.open.host).upstreams.closeIdle();
  server.stop(true);
  fx.stop();
});

async function fetchOnce(method = "GET", fetchTimeoutMs?: number): Promise<{ isError?: boolean; text: string }> {
  const identity = { issuer: "test", subject: "pool", claims: { service: "agent", sub: "pool" } };
  const ctx = { host: fx.open.host, identity, client: "test", state: stateOf(fx.open.host), limits: limitsOf({ fetchTimeoutMs }) };
  const args = { url: `http://127.0.0.1:${server.port}/thing`, method, secret: "ANY_KEY", ...(method === "POST" ? { body: "x" } : {}) };
  const response = (await handleRequest({ jsonrpc: "2.0", id: 1, method: "tools/call", params: { name: "fetch", arguments: args } }, ctx, {})) as {
    result: { isError?: boolean; content: { text: string }[] };
  };
  return { isError: response.result.isError, text: response.result.content[0]!.text };
}

test("a keep-alive connection carries the next call", async () => {
  mode = "keep-alive";
  seen.length = 0;
  expect((await fetchOnce()).isError).toBeUndefined();
  expect((await fetchOnce()).isError).toBeUndefined();
  expect(seen.map((s) => s.nth)).toEqual([1, 2]);
  expect(seen[0]!.connection).toBe(seen[1]!.connection);
});

test("a GET on a reused connection the server drops is sent again on a new one", async () => {
  mode = "keep-alive";
  expect((await fetchOnce()).isError).toBeUndefined(); // leaves a connection in the pool
  mode = "drop-second";
  seen.length = 0;
  const result = await fetchOnce(); // rides the pooled connection, which the server drops
  expect(result.isError).toBeUndefined();
  expect(seen).toHaveLength(2);
  expect(seen[0]!.nth).toBeGreaterThan(1); // dropped
  expect(seen[1]!.nth).toBe(1); // answered, on a fresh connection
  expect(seen[1]!.connection).not.toBe(seen[0]!.connection);
});

test("a POST on a reused connection the server drops is not sent twice", async () => {
  mode = "keep-alive";
  expect((await fetchOnce()).isError).toBeUndefined(); // leaves a connection in the pool
  mode = "drop-second";
  seen.length = 0;
  const result = await fetchOnce("POST");
  expect(result.isError).toBe(true);
  expect(result.text).toBe("fetch: the server closed the connection without responding");
  expect(seen.map((s) => s.method)).toEqual(["POST"]);
});

test("a response with Connection: close is not pooled", async () => {
  mode = "close";
  seen.length = 0;
  await fetchOnce();
  await fetchOnce();
  expect(seen.map((s) => s.nth)).toEqual([1, 1]);
  expect(seen[0]!.connection).not.toBe(seen[1]!.connection);
});

test("an upstream that never answers is given up on after the fetch timeout", async () => {
  mode = "silent";
  seen.length = 0;
  const result = await fetchOnce("GET", 300);
  expect(result).toEqual({ isError: true, text: "fetch: 127.0.0.1 did not answer within 300 ms" });
  expect(seen).toHaveLength(1);
});

test("a redirect comes back as it is — not followed, its Location masked, no Set-Cookie", async () => {
  mode = "redirect";
  seen.length = 0;
  const result = await fetchOnce();
  expect(result.isError).toBeUndefined();
  const answer = JSON.parse(result.text);
  const { token } = (await handleRequest(
    { jsonrpc: "2.0", id: 2, method: "tools/call", params: { name: "resolve", arguments: { name: "ANY_KEY" } } },
    { host: fx.open.host, identity: { issuer: "test", subject: "pool", claims: { service: "agent" } }, client: "test", state: stateOf(fx.open.host), limits: limitsOf() },
    {},
  ) as { result: { structuredContent: { token: string } } }).result.structuredContent;
  expect(answer).toEqual({
    status: 302,
    headers: { location: `http://127.0.0.1:${server.port}/next?k=${token.slice(0, VALUES.KZ_MCP_TEST_ANY_KEY.length)}`, "content-length": "0" },
    body: "",
    body_encoding: "text",
    truncated: false,
    note: "the response contained the value of ANY_KEY; it was replaced by the token; redirect not followed: see headers.location",
  });
  expect(seen).toHaveLength(1);
});
