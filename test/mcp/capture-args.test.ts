// The pure parts of `fetch … capture`: RFC 6901 JSON Pointers (escaping, arrays, own members only), the
// capture argument's checks, and the rule that a captured secret's hosts reach no further than the
// capturing request's.

import { describe, expect, test } from "bun:test";
import { parseHostPattern } from "../../src/blind/hosts.ts";
import { parseCapture, parseDuration } from "../../src/mcp/capture-args.ts";
import { capturedToken, coveredBy, destinationPattern, ownerOf } from "../../src/mcp/captured.ts";
import { mayUseCaptured } from "../../src/mcp/fetch.ts";
import { escapeToken, lookup, parsePointer } from "../../src/mcp/json-pointer.ts";

describe("JSON Pointer (RFC 6901)", () => {
  // The examples of RFC 6901 section 5.
  const doc = JSON.parse(`{"foo": ["bar", "baz"], "": 0, "a/b": 1, "c%d": 2, "e^f": 3, "g|h": 4, "i\\\\j": 5, "k\\"l": 6, " ": 7, "m~n": 8}`);
  const at = (pointer: string) => {
    const tokens = parsePointer(pointer);
    if (typeof tokens === "string") throw new Error(tokens);
    return lookup(doc, tokens);
  };

  test("the RFC's examples", () => {
    expect(at("")).toEqual({ found: true, value: doc });
    expect(at("/foo")).toEqual({ found: true, value: ["bar", "baz"] });
    expect(at("/foo/0")).toEqual({ found: true, value: "bar" });
    for (const [pointer, value] of [["/", 0], ["/a~1b", 1], ["/c%d", 2], ["/e^f", 3], ["/g|h", 4], ["/i\\j", 5], ['/k"l', 6], ["/ ", 7], ["/m~0n", 8]] as const) {
      expect(at(pointer)).toEqual({ found: true, value });
    }
  });

  test("~01 is ~1 (decoded ~1 first, then ~0), and escaping round-trips", () => {
    expect(parsePointer("/~01")).toEqual(["~1"]);
    expect(escapeToken("a/b~c")).toBe("a~1b~0c");
  });

  test("malformed pointers and misses say why, naming members but no value", () => {
    expect(parsePointer("password")).toContain('starts with "/"');
    expect(parsePointer("/a~2")).toContain('"~" must be followed by 0');
    const missing = at("/foo/2");
    expect(missing.found).toBe(false);
    expect(missing.found === false && missing.reason).toContain("/foo is an array of 2");
    for (const pointer of ["/foo/01", "/foo/-", "/foo/-1"]) expect(at(pointer).found).toBe(false);
    const nope = lookup({ user: { name: "n", password: "s3cret-value" } }, ["user", "passwd"]);
    expect(nope.found === false && nope.reason).toContain('"name", "password"');
    expect(nope.found === false && nope.reason).not.toContain("s3cret-value");
    expect(lookup({ a: "x" }, ["a", "b"]).found).toBe(false);
  });

  test("only own members: the prototype is not a path", () => {
    expect(lookup({}, ["constructor"]).found).toBe(false);
    expect(lookup({}, ["__proto__"]).found).toBe(false);
    expect(lookup(JSON.parse('{"__proto__": {"x": "y"}}'), ["__proto__", "x"])).toEqual({ found: true, value: "y" });
  });
});

describe("capture arguments", () => {
  test("defaults: no hosts, one hour", () => {
    expect(parseCapture([{ pointer: "/password", as: "NEW_DB_PASSWORD" }])).toEqual([
      { pointer: "/password", tokens: ["password"], as: "NEW_DB_PASSWORD", hosts: [], ttlMs: 3600_000 },
    ]);
  });

  test("durations", () => {
    expect(parseDuration("90s")).toBe(90_000);
    expect(parseDuration("1h30m")).toBe(5400_000);
    for (const bad of ["", "1d", "h", "-1h", "1.5h"]) expect(parseDuration(bad)).toBeUndefined();
  });

  test("refusals name the entry and the fix", () => {
    const cases: [unknown, string][] = [
      [{}, "must be a list"],
      [[], "is empty"],
      [Array.from({ length: 17 }, (_, i) => ({ pointer: "/p", as: `N${i}` })), "at most 16"],
      [[{ pointer: "p", as: "A_NAME" }], 'starts with "/"'],
      [[{ pointer: "/p", as: "lower" }], "capital letters"],
      [[{ pointer: "/p", as: "9LIVES" }], "capital letters"],
      [[{ pointer: "/p", as: "KZ_TOK_ABC" }], "reserved"],
      [[{ pointer: "/p", as: "A/B" }], "capital letters"],
      [[{ pointer: "/p", as: "SAME" }, { pointer: "/q", as: "SAME" }], "captured twice"],
      [[{ pointer: "/p", as: "X_NAME", hosts: "api.example.com" }], "must be a list"],
      [[{ pointer: "/p", as: "X_NAME", hosts: ["a*b.example.com"] }], "not valid"],
      [[{ pointer: "/p", as: "X_NAME", ttl: "30s" }], "between 1m and 24h"],
      [[{ pointer: "/p", as: "X_NAME", ttl: "25h" }], "between 1m and 24h"],
      [[{ pointer: "/p", as: "X_NAME", ttl: 3600 }], "a duration"],
      [[{ pointer: "/p", as: "X_NAME", value: "x" }], 'unknown key "value"'],
    ];
    for (const [value, message] of cases) {
      const parsed = parseCapture(value);
      expect(typeof parsed === "string" && parsed).toContain(message);
    }
  });
});

describe("captured secrets' hosts reach no further than the capturing request", () => {
  const parents = [destinationPattern({ host: "api.example.com", port: 443, tls: true }), parseHostPattern("*.slack.com"), parseHostPattern("db.internal:8443")];
  const covered = (host: string) => coveredBy(parseHostPattern(host), parents);

  test("the request's own host, a parent's host or something under a parent's wildcard", () => {
    for (const host of ["api.example.com", "API.example.com.", "files.slack.com", "a.b.slack.com", "*.eu.slack.com", "*.slack.com", "db.internal:8443", "api.example.com:443"]) {
      expect({ host, ok: covered(host) }).toEqual({ host, ok: true });
    }
  });

  test("anything wider is refused", () => {
    for (const host of ["*", "*:*", "evil.example.com", "example.com", "*.example.com", "slack.com", "api.example.com:8443", "api.example.com:*", "db.internal", "db.internal:*"]) {
      expect({ host, ok: covered(host) }).toEqual({ host, ok: false });
    }
  });

  test("a destination on another port is that port alone", () => {
    expect(coveredBy(parseHostPattern("localhost:9443"), [destinationPattern({ host: "localhost", port: 9443, tls: true })])).toBe(true);
    expect(coveredBy(parseHostPattern("localhost"), [destinationPattern({ host: "localhost", port: 9443, tls: true })])).toBe(false);
  });
});

describe("owners and tokens", () => {
  test("the owner is the token's issuer and subject; no subject, no owner", () => {
    expect(ownerOf({ issuer: "local", subject: "alice", claims: { iss: "https://idp.example.test" } })).toBe('["https://idp.example.test","alice"]');
    expect(ownerOf({ issuer: "local", subject: "", claims: { iss: "https://idp.example.test" } })).toBeUndefined();
    // A minted (scoped) token owns by its jti: siblings from one parent share iss and sub, not captures.
    const minted = { iss: "https://kz.example.test", kz_scope: { secrets: ["A"] } };
    expect(ownerOf({ issuer: "keyzero", subject: "alice", claims: { ...minted, jti: "j1" } })).toBe('["https://kz.example.test","alice","j1"]');
    expect(ownerOf({ issuer: "keyzero", subject: "alice", claims: { ...minted, jti: "j2" } })).not.toBe(ownerOf({ issuer: "keyzero", subject: "alice", claims: { ...minted, jti: "j1" } }));
    expect(ownerOf({ issuer: "keyzero", subject: "alice", claims: minted })).toBeUndefined();
  });

  test("a capture's token depends on owner, name and sealed text, and looks like any opaque token", () => {
    const base = { owner: "o", name: "N", sealed: "kzs1.abc" };
    const token = capturedToken(base);
    expect(token).toMatch(/^KZ_TOK_[A-Za-z0-9_-]{24}$/);
    expect(capturedToken({ ...base })).toBe(token);
    for (const other of [{ ...base, owner: "p" }, { ...base, name: "M" }, { ...base, sealed: "kzs1.abd" }]) expect(capturedToken(other)).not.toBe(token);
  });
});

describe("the state is read only when a request may use a captured secret", () => {
  const specs = [{ name: "API_KEY", provider: "env", ref: "X" }] as never;
  const bundle = "KZ_TOK_bbbbbbbbbbbbbbbbbbbbbbbb";
  const other = "KZ_TOK_cccccccccccccccccccccccc";
  const knows = (token: string) => token === bundle;
  const args = (more: Record<string, unknown>) => ({ url: "https://api.example.test/", method: "GET", headers: [] as [string, string][], ...more });

  test("not for bundle secrets by name or token", () => {
    expect(mayUseCaptured(args({ secret: "API_KEY" }), specs, knows)).toBe(false);
    expect(mayUseCaptured(args({ url: `https://api.example.test/?k=${bundle}` }), specs, knows)).toBe(false);
  });

  test("for a capture, an unknown name, or an unknown token in the URL, a header, Basic credentials or the body", () => {
    expect(mayUseCaptured(args({ secret: "API_KEY", capture: [] }), specs, knows)).toBe(true);
    expect(mayUseCaptured(args({ secret: "MINE" }), specs, knows)).toBe(true);
    expect(mayUseCaptured(args({ url: `https://api.example.test/?k=${other}` }), specs, knows)).toBe(true);
    expect(mayUseCaptured(args({ headers: [["X-Key", other]] }), specs, knows)).toBe(true);
    expect(mayUseCaptured(args({ headers: [["Authorization", `Basic ${Buffer.from(`u:${other}`).toString("base64")}`]] }), specs, knows)).toBe(true);
    expect(mayUseCaptured(args({ method: "POST", body: `{"k":"${other}"}` }), specs, knows)).toBe(true);
  });
});
