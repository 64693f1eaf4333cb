// Loopback bindings dial what they name: "localhost" is 127.0.0.1 (never raced with ::1), so a process
// squatting on [::1]:PORT while the real service listens on 127.0.0.1:PORT gets nothing. Real sockets.

import { afterAll, describe, expect, test } from "bun:test";
import { UpstreamConnector, dialAddress } from "../../src/blind/upstream.ts";
import { isLoopbackName, pickAddress, pickLoopbackAddress } from "../../src/blind/loopback.ts";
import { checkedAddress } from "../../src/mcp/ssrf.ts";

describe("which address a loopback binding dials", () => {
  test.each([
    ["localhost", "127.0.0.1"],
    ["LOCALHOST", "127.0.0.1"],
    ["api.localhost", "127.0.0.1"],
    ["localhost.localdomain", "127.0.0.1"],
    ["::1", "::1"],
    ["127.0.0.2", "127.0.0.2"],
    ["api.example.test", "api.example.test"],
    ["notlocalhost", "notlocalhost"],
  ])("%p dials %p", (host, expected) => {
    expect(dialAddress({ host, port: 9447, tls: false }, undefined)).toEqual({ host: expected, port: 9447 });
  });

  test("a resolve pin to localhost dials 127.0.0.1 too; a pin to [::1] dials ::1", () => {
    const dest = { host: "api.example.test", port: 443, tls: true };
    expect(dialAddress(dest, { "api.example.test:443": "localhost:9443" })).toEqual({ host: "127.0.0.1", port: 9443 });
    expect(dialAddress(dest, { "api.example.test:443": "[::1]:9443" })).toEqual({ host: "::1", port: 9443 });
  });

  test("a name resolving to both loopback families dials its IPv4 one; other names their first address", () => {
    expect(pickLoopbackAddress(["::1", "127.0.0.1"])).toBe("127.0.0.1");
    expect(pickLoopbackAddress(["::1"])).toBe("::1");
    expect(pickLoopbackAddress(["93.184.216.34"])).toBeUndefined();
    expect(pickAddress(["2606:2800::1", "93.184.216.34"])).toBe("2606:2800::1");
    expect(isLoopbackName("localhost.")).toBe(true);
    expect(isLoopbackName("localhost.evil.com")).toBe(false);
  });

  test("MCP fetch's checked address for such a name is the IPv4 loopback one", async () => {
    const checked = await checkedAddress("dual.test", true, async () => ["::1", "127.0.0.1"]);
    expect(checked).toEqual({ ok: true, address: "127.0.0.1" });
  });
});

describe("a squatter on [::1] gets nothing", () => {
  const seen = { real: [] as string[], squatter: 0 };
  const port = 20000 + Math.floor(Math.random() * 20000);
  const real = Bun.listen({
    hostname: "127.0.0.1",
    port,
    socket: { data: (_s, chunk) => void seen.real.push(chunk.toString()), open() {} },
  });
  const squatter = Bun.listen({ hostname: "::1", port, socket: { open: () => void seen.squatter++, data() {} } });
  afterAll(() => {
    real.stop(true);
    squatter.stop(true);
  });

  test("the connector dials localhost:PORT at 127.0.0.1 only", async () => {
    const conn = await new UpstreamConnector().connect({ host: "localhost", port, tls: false }, false);
    conn.write(Buffer.from("hello real"));
    while (!seen.real.join("").includes("hello real")) await Bun.sleep(5);
    conn.end();
    // A marker connection to the squatter: accepted after any connection kz opened to it before.
    const marker = Promise.withResolvers<void>();
    const before = seen.squatter;
    await Bun.connect({ hostname: "::1", port, socket: { open: (s) => void s.end(), data() {}, close: () => marker.resolve() } });
    await marker.promise;
    while (seen.squatter === before) await Bun.sleep(5);
    expect(seen.squatter).toBe(1); // the marker alone
  });
});
