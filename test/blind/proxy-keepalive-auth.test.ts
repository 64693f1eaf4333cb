// The proxy credential is checked on every plain-http request, not only the first on a connection: an
// agent that learns one authorised connection is open (or shares one) must not ride it without the
// credential. A first absolute-form request with Proxy-Authorization is forwarded; a second on the same
// kept-alive connection without it gets 407 and never reaches the upstream.

import { afterAll, beforeAll, expect, test } from "bun:test";
import { connect as netConnect, type Socket } from "node:net";
import { createCertificateAuthority } from "../../src/blind/ca.ts";
import { startProxy, type BlindProxy } from "../../src/blind/proxy.ts";
import { startHttpsUpstream, type HttpsUpstream } from "../servers/https-upstream.ts";
import { fixturePolicy } from "./policy-fixture.ts";

const PLAIN = "plain.example.test";
let upstream: HttpsUpstream;
let proxy: BlindProxy;

beforeAll(async () => {
  upstream = await startHttpsUpstream({ hostnames: [PLAIN] });
  proxy = startProxy({
    policy: fixturePolicy({ bound: [], intercepted: [] }),
    ca: createCertificateAuthority(),
    upstream: { extraCaPem: upstream.caPem, resolve: { [`${PLAIN}:80`]: `127.0.0.1:${upstream.httpPort}` } },
  });
});
afterAll(() => {
  proxy?.stop();
  upstream?.stop();
});

function proxyAuthorization(): string {
  const url = new URL(proxy.url);
  return `Basic ${Buffer.from(`${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`).toString("base64")}`;
}

/** Reads one response off the socket: its head and a Content-Length body (or up to the close). */
function readResponse(socket: Socket): Promise<string> {
  return new Promise((resolve) => {
    let text = "";
    const done = () => {
      socket.off("data", onData);
      socket.off("close", done);
      resolve(text);
    };
    const onData = (chunk: Buffer) => {
      text += chunk.toString("latin1");
      const end = text.indexOf("\r\n\r\n");
      const length = /\r\ncontent-length:\s*(\d+)/i.exec(text.slice(0, end));
      if (end >= 0 && length && text.length >= end + 4 + Number(length[1])) done();
    };
    socket.on("data", onData);
    socket.on("close", done);
  });
}

test("a second plain-http request on a kept-alive connection without Proxy-Authorization gets 407", async () => {
  const socket = netConnect(proxy.port, "127.0.0.1");
  await new Promise((resolve) => socket.on("connect", resolve));
  try {
    socket.write(`GET http://${PLAIN}/echo?case=first HTTP/1.1\r\nHost: ${PLAIN}\r\nProxy-Authorization: ${proxyAuthorization()}\r\n\r\n`);
    const first = await readResponse(socket);
    expect(first).toStartWith("HTTP/1.1 200");
    expect(upstream.requests.filter((r) => r.path === "/echo?case=first")).toHaveLength(1);

    socket.write(`GET http://${PLAIN}/echo?case=second HTTP/1.1\r\nHost: ${PLAIN}\r\n\r\n`);
    const second = await readResponse(socket);
    expect(second).toStartWith("HTTP/1.1 407 ");
    expect(second).toContain('Proxy-Authenticate: Basic realm="kz"');
    expect(upstream.requests.filter((r) => r.path === "/echo?case=second")).toHaveLength(0);
  } finally {
    socket.destroy();
  }
});

test("so is a second request with a wrong credential", async () => {
  const socket = netConnect(proxy.port, "127.0.0.1");
  await new Promise((resolve) => socket.on("connect", resolve));
  try {
    socket.write(`GET http://${PLAIN}/echo?case=third HTTP/1.1\r\nHost: ${PLAIN}\r\nProxy-Authorization: ${proxyAuthorization()}\r\n\r\n`);
    expect(await readResponse(socket)).toStartWith("HTTP/1.1 200");
    const wrong = `Basic ${Buffer.from("kz:not-the-credential").toString("base64")}`;
    socket.write(`GET http://${PLAIN}/echo?case=fourth HTTP/1.1\r\nHost: ${PLAIN}\r\nProxy-Authorization: ${wrong}\r\n\r\n`);
    expect(await readResponse(socket)).toStartWith("HTTP/1.1 407 ");
    expect(upstream.requests.filter((r) => r.path === "/echo?case=fourth")).toHaveLength(0);
  } finally {
    socket.destroy();
  }
});
