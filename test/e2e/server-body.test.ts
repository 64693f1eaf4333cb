// A client that hangs up mid-body is the client's failure: the real `kz server start` answers nobody,
// logs it as a client event and counts it as `incomplete_body` (a 400), never as `internal_error`.

import { afterAll, beforeAll, expect, test } from "bun:test";
import { connect } from "node:net";
import { Sandbox } from "../helpers/kz.ts";
import { identityKey, identityToken, ServerProcess, writeIssuer } from "../helpers/server.ts";

let box: Sandbox;
let server: ServerProcess;
let token: string;

beforeAll(async () => {
  box = new Sandbox();
  const key = await identityKey();
  const bundle = box.write("bundle.yaml", `${writeIssuer(box.dir, key)}secrets:\n  A: { provider: env, ref: A }\npolicies: []\n`);
  server = await ServerProcess.start(["--bundle", bundle, "--mcp"], { cwd: box.dir });
  token = await identityToken(key, { jti: "body-1" });
});
afterAll(async () => {
  await server?.stop();
  box?.cleanup();
});

/** Sends a request head promising 100 bytes, 10 of them, and closes the connection once they are written. */
function hangUpMidBody(path: string): Promise<void> {
  const url = new URL(server.url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(url.port), url.hostname, () => {
      const accept = path === "/mcp" ? "Accept: application/json, text/event-stream\r\n" : "";
      const head = `POST ${path} HTTP/1.1\r\nHost: ${url.host}\r\nAuthorization: Bearer ${token}\r\nContent-Type: application/json\r\n${accept}Content-Length: 100\r\n\r\n`;
      socket.end(`${head}{"secret":`, () => resolve());
    });
    socket.on("error", reject);
  });
}

test("a client hanging up mid-body is logged and counted as a 400-class incomplete_body, not internal_error", async () => {
  for (const path of ["/v1/decide", "/v1/tokens", "/mcp"]) {
    const from = server.lines.length;
    await hangUpMidBody(path);
    const line = await server.waitForLine(/hung up mid-|internal error/, from);
    expect(line).toMatch(new RegExp(`^kz server: client 127\\.0\\.0\\.1 hung up mid-(body|request) on POST ${path} \\(400 incomplete_body\\)$`));
  }
  const metrics = await (await fetch(`${server.url}/metrics`)).text();
  expect(metrics).toContain('kz_errors_total{code="incomplete_body"} 3');
  expect(metrics).not.toContain("internal_error");
  expect(server.lines.join("\n")).not.toContain("internal error");
  // A whole request on a fresh connection is answered as usual.
  const ok = await server.post("/v1/decide", { secret: "A" }, token);
  expect(ok.status).toBe(200);
});
