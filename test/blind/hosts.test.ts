import { describe, expect, test } from "bun:test";
import { bindingProblem, canonicalHost, describeDestination, isBound, isLoopback, matchesHost, parseHostPattern } from "../../src/blind/hosts.ts";
import type { Destination } from "../../src/blind/types.ts";

const tls = (host: string, port = 443): Destination => ({ host, port, tls: true });
const plain = (host: string, port = 80): Destination => ({ host, port, tls: false });

describe("host patterns", () => {
  const cases: [pattern: string, dest: Destination, matches: boolean][] = [
    ["api.openai.com", tls("api.openai.com"), true],
    ["api.openai.com", tls("API.OpenAI.com."), true],
    ["API.OPENAI.COM.", tls("api.openai.com"), true],
    ["api.openai.com", tls("api.openai.com", 80), true],
    ["api.openai.com", tls("api.openai.com", 8443), false], // no port in pattern = 443 and 80 only
    ["api.openai.com", tls("openai.com"), false],
    ["api.openai.com", tls("xapi.openai.com"), false],
    ["api.openai.com", tls("api.openai.com.evil.test"), false],
    ["api.openai.com:8443", tls("api.openai.com", 8443), true],
    ["api.openai.com:8443", tls("api.openai.com"), false],
    ["api.openai.com:*", tls("api.openai.com", 9999), true],
    ["*.slack.com", tls("hooks.slack.com"), true],
    ["*.slack.com", tls("a.b.slack.com"), true], // one or more labels
    ["*.slack.com", tls("slack.com"), false], // not the apex
    ["*.slack.com", tls("evilslack.com"), false],
    ["*.slack.com", tls("slack.com.evil.test"), false],
    ["*.slack.com", tls("hooks.slack.com", 8443), false],
    ["*", tls("anything.example", 12345), true], // explicit opt-in: any host, any port
    ["*:8443", tls("anything.example", 8443), true],
    ["*:8443", tls("anything.example"), false],
    ["localhost:8443", plain("localhost", 8443), true],
    ["localhost", plain("localhost", 8443), false],
    ["127.0.0.1", tls("127.1"), true], // IPv4 in canonical form
    ["[::1]:8443", tls("::1", 8443), true],
    ["[::1]:8443", tls("0:0:0:0:0:0:0:1", 8443), true], // IPv6 in canonical form
    ["[::1]:8443", tls("[::1]", 8443), true],
    ["::1", tls("::1"), true], // bare IPv6: default ports
    ["::1", tls("::2"), false],
    ["[2001:DB8::1]", tls("2001:db8:0:0:0:0:0:1"), true],
    ["bücher.example", tls("xn--bcher-kva.example"), true], // IDN compared in punycode
  ];
  test.each(cases)("%p against %p → %p", (pattern, dest, matches) => {
    expect(matchesHost(dest, parseHostPattern(pattern))).toBe(matches);
  });

  const invalid = ["api.*.com", "foo*.example", "*.*.example", "[::1", "[::1]x", "host:0", "host:65536", "host:abc", "a/b", "user@host", "", "exa mple.com"];
  test.each(invalid)("rejects the invalid pattern %p with a message naming it", (pattern) => {
    expect(() => parseHostPattern(pattern)).toThrow(pattern === "" ? /not a valid host/ : pattern);
  });
});

describe("binding", () => {
  const secret = { name: "OPENAI_API_KEY", hosts: ["api.openai.com"] };

  test("a matching host over TLS is bound", () => {
    expect(isBound(tls("api.openai.com"), secret)).toBe(true);
    expect(bindingProblem(tls("api.openai.com"), secret)).toBeUndefined();
  });

  test("another host: the reason names the secret, where it may go and where the request goes", () => {
    expect(bindingProblem(tls("evil.test"), secret)).toBe("OPENAI_API_KEY may only be sent to api.openai.com; this request goes to evil.test");
    expect(bindingProblem(tls("evil.test", 8443), secret)).toContain("this request goes to evil.test:8443");
  });

  test("plain http is refused except to loopback", () => {
    expect(isBound(plain("api.openai.com"), secret)).toBe(false);
    expect(bindingProblem(plain("api.openai.com"), secret)).toContain("only sent over TLS");
    expect(isBound(plain("localhost", 8443), { name: "L", hosts: ["localhost:8443"] })).toBe(true);
    expect(isBound(plain("127.0.0.1", 8443), { name: "L", hosts: ["127.0.0.1:8443"] })).toBe(true);
    expect(isBound(plain("::1", 8443), { name: "L", hosts: ["[::1]:8443"] })).toBe(true);
  });

  test("an invalid pattern binds nothing (fail closed)", () => {
    expect(isBound(tls("api.openai.com"), { name: "X", hosts: ["api.*.com"] })).toBe(false);
  });

  test.each([
    ["localhost", true],
    ["LOCALHOST.", true],
    ["app.localhost", true],
    ["127.0.0.1", true],
    ["127.9.8.7", true],
    ["::1", true],
    ["::ffff:127.0.0.1", true],
    ["localhost.evil.test", false],
    ["128.0.0.1", false],
    ["::2", false],
    ["example.com", false],
  ] as const)("isLoopback(%p) = %p", (host, loopback) => {
    expect(isLoopback(host)).toBe(loopback);
  });

  test("canonicalHost and describeDestination", () => {
    expect(canonicalHost("[0:0::1]")).toBe("::1");
    expect(canonicalHost("Example.COM.")).toBe("example.com");
    expect(canonicalHost("a b")).toBeUndefined();
    expect(describeDestination(tls("::1", 8443))).toBe("[::1]:8443");
    expect(describeDestination(plain("example.com"))).toBe("example.com");
    expect(describeDestination(tls("example.com", 80))).toBe("example.com:80");
  });
});
