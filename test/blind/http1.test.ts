// HTTP/1.1 framing for the blind proxy: head parsing and serializing, body framing decisions, and the
// incremental decoders fed every possible split of their input.

import { describe, expect, test } from "bun:test";
import {
  HeadReader,
  HttpError,
  LAST_CHUNK,
  MAX_HEAD_BYTES,
  bodyDecoder,
  encodeChunk,
  keepsAlive,
  parseAuthority,
  parseRequestHead,
  parseResponseHead,
  requestFraming,
  responseFraming,
  scanHeaders,
  serializeRequestHead,
  serializeResponseHead,
} from "../../src/blind/http1.ts";

const bytes = (text: string) => Buffer.from(text, "latin1");

function httpStatusOf(fn: () => unknown): number | undefined {
  try {
    fn();
  } catch (error) {
    if (error instanceof HttpError) return error.status;
    throw error;
  }
  return undefined;
}

describe("request heads", () => {
  test("a tab inside a value is kept; spaces and tabs around it are not", () => {
    const { head } = parseRequestHead(bytes("GET / HTTP/1.1\r\nHost: a.test\r\nX-A: \t a\tb \t\r\nX-Empty:\r\n\r\n"));
    expect(head.headers).toEqual([["Host", "a.test"], ["X-A", "a\tb"], ["X-Empty", ""]]);
  });

  test("parses method, target, version and headers, keeping order and case", () => {
    const { head, encoding } = parseRequestHead(bytes("POST /v1/x?y=1 HTTP/1.1\r\nHost: api.example.test\r\nX-Token:  abc \r\nx-token: def\r\n\r\n"));
    expect(head).toEqual({
      method: "POST",
      target: "/v1/x?y=1",
      version: "HTTP/1.1",
      headers: [["Host", "api.example.test"], ["X-Token", "abc"], ["x-token", "def"]],
    });
    expect(encoding).toBe("utf8");
  });

  test("serializing gives the same bytes back", () => {
    const text = "GET / HTTP/1.1\r\nHost: a.test\r\nAccept: */*\r\n\r\n";
    const { head, encoding } = parseRequestHead(bytes(text));
    expect(Buffer.from(serializeRequestHead(head, encoding)).toString("latin1")).toBe(text);
  });

  test("UTF-8 header values are decoded as UTF-8, and a string put in one goes out as UTF-8", () => {
    const raw = Buffer.from("GET / HTTP/1.1\r\nHost: a.test\r\nX-Name: Zoë\r\n\r\n", "utf8");
    const { head, encoding } = parseRequestHead(raw);
    expect(head.headers[1]).toEqual(["X-Name", "Zoë"]);
    const swapped = { ...head, headers: [...head.headers, ["X-Secret", "pässwörd"] as [string, string]] };
    expect(Buffer.from(serializeRequestHead(swapped, encoding)).includes(Buffer.from("pässwörd", "utf8"))).toBe(true);
  });

  test("invalid UTF-8 bytes round-trip unchanged", () => {
    const raw = Buffer.concat([bytes("GET / HTTP/1.1\r\nHost: a.test\r\nX-Bin: "), Buffer.from([0xff, 0xfe, 0x80]), bytes("\r\n\r\n")]);
    const { head, encoding } = parseRequestHead(raw);
    expect(encoding).toBe("latin1");
    expect(Buffer.from(serializeRequestHead(head, encoding)).equals(raw)).toBe(true);
  });

  test.each([
    ["obs-fold continuation line", "GET / HTTP/1.1\r\nHost: a.test\r\nX-A: 1\r\n  folded\r\n\r\n", 400],
    ["space before the colon", "GET / HTTP/1.1\r\nHost : a.test\r\n\r\n", 400],
    ["bare LF inside a value", "GET / HTTP/1.1\r\nHost: a.test\nX-B: 2\r\n\r\n", 400],
    ["NUL in a value", "GET / HTTP/1.1\r\nHost: a\0.test\r\n\r\n", 400],
    ["a control character in a value", "GET / HTTP/1.1\r\nHost: a.test\r\nX-A: 1\x1b2\r\n\r\n", 400],
    ["a bare CR at the end of a value", "GET / HTTP/1.1\r\nHost: a.test\r\nX-A: 1\r\r\n\r\n", 400],
    ["a bare CR in the request line", "GET /\r HTTP/1.1\r\nHost: a.test\r\n\r\n", 400],
    ["no colon", "GET / HTTP/1.1\r\nHost a.test\r\n\r\n", 400],
    ["too many parts in the request line", "GET / x HTTP/1.1\r\nHost: a.test\r\n\r\n", 400],
    ["a control character in the target", "GET /a\tb HTTP/1.1\r\nHost: a.test\r\n\r\n", 400],
    ["a bad method", "G(T / HTTP/1.1\r\nHost: a.test\r\n\r\n", 400],
    ["HTTP/2 prior knowledge", "PRI * HTTP/2.0\r\n\r\n", 505],
  ])("refuses %s", (_, text, status) => {
    expect(httpStatusOf(() => parseRequestHead(bytes(text)))).toBe(status);
  });
});

describe("response heads", () => {
  test("parses status and reason, including an empty reason", () => {
    expect(parseResponseHead(bytes("HTTP/1.1 404 Not Found\r\nA: b\r\n\r\n")).head).toEqual({
      version: "HTTP/1.1",
      status: 404,
      reason: "Not Found",
      headers: [["A", "b"]],
    });
    expect(parseResponseHead(bytes("HTTP/1.1 204 \r\n\r\n")).head.reason).toBe("");
    expect(parseResponseHead(bytes("HTTP/1.1 204\r\n\r\n")).head.status).toBe(204);
    const text = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n";
    const { head, encoding } = parseResponseHead(bytes(text));
    expect(Buffer.from(serializeResponseHead(head, encoding)).toString("latin1")).toBe(text);
  });

  test.each(["HTTP/1.1 20 OK\r\n\r\n", "HTTP/1.1 2000 OK\r\n\r\n", "HTTP/3 200 OK\r\n\r\n", "ICY 200 OK\r\n\r\n", "HTTP/1.1 200OK\r\n\r\n"])(
    "an upstream sending %j is a 502",
    (text) => {
      expect(httpStatusOf(() => parseResponseHead(bytes(text)))).toBe(502);
    },
  );
});

describe("HeadReader", () => {
  const message = "GET /x HTTP/1.1\r\nHost: a.test\r\nContent-Length: 3\r\n\r\nabcGET /next";

  test("finds a head split at every possible point, and hands back what followed", () => {
    const all = bytes(message);
    for (let split = 1; split < all.length; split++) {
      const reader = new HeadReader();
      const first = reader.push(all.subarray(0, split));
      const found = first ?? reader.push(all.subarray(split));
      expect(found).not.toBeNull();
      expect(found!.head.toString("latin1")).toBe("GET /x HTTP/1.1\r\nHost: a.test\r\nContent-Length: 3\r\n\r\n");
      const rest = first ? Buffer.concat([first.rest, all.subarray(split)]) : found!.rest;
      expect(rest.toString("latin1")).toBe("abcGET /next");
    }
  });

  test("finds a head fed one byte at a time", () => {
    const reader = new HeadReader();
    const all = bytes(message);
    let found = null;
    for (let i = 0; i < all.length && !found; i++) found = reader.push(all.subarray(i, i + 1));
    expect(found!.head.toString("latin1")).toEndWith("\r\n\r\n");
    expect(reader.pending).toBe(false);
  });

  test("refuses a head larger than the limit with 431", () => {
    const reader = new HeadReader();
    const line = bytes(`X-Filler: ${"f".repeat(1000)}\r\n`);
    expect(
      httpStatusOf(() => {
        for (let i = 0; i <= MAX_HEAD_BYTES / line.length + 1; i++) reader.push(line);
      }),
    ).toBe(431);
  });
});

describe("framing", () => {
  const facts = (...headers: [string, string][]) => scanHeaders(headers);

  test("requests: Content-Length, chunked, none", () => {
    expect(requestFraming(facts(["Content-Length", "12"]))).toEqual({ kind: "length", length: 12 });
    expect(requestFraming(facts(["content-length", "7, 7"]))).toEqual({ kind: "length", length: 7 });
    expect(requestFraming(facts(["Transfer-Encoding", "gzip, chunked"]))).toEqual({ kind: "chunked" });
    expect(requestFraming(facts(["Content-Length", "0"]))).toEqual({ kind: "none" });
    expect(requestFraming(facts())).toEqual({ kind: "none" });
  });

  test.each([
    ["both Transfer-Encoding and Content-Length", [["Transfer-Encoding", "chunked"], ["Content-Length", "5"]]],
    ["a coding other than chunked last", [["Transfer-Encoding", "chunked, gzip"]]],
    ["chunked twice", [["Transfer-Encoding", "chunked"], ["Transfer-Encoding", "chunked"]]],
    ["differing Content-Lengths", [["Content-Length", "5"], ["Content-Length", "6"]]],
    ["a signed Content-Length", [["Content-Length", "+5"]]],
    ["a huge Content-Length", [["Content-Length", "1".repeat(16)]]],
  ] as [string, [string, string][]][])("requests with %s are refused with 400", (_, headers) => {
    expect(httpStatusOf(() => requestFraming(scanHeaders(headers)))).toBe(400);
  });

  test("responses: no body for HEAD, 1xx, 204, 304; until close without a length", () => {
    const withLength = facts(["Content-Length", "10"]);
    expect(responseFraming(withLength, 200, "HEAD")).toEqual({ kind: "none" });
    expect(responseFraming(withLength, 204, "GET")).toEqual({ kind: "none" });
    expect(responseFraming(withLength, 304, "GET")).toEqual({ kind: "none" });
    expect(responseFraming(withLength, 200, "GET")).toEqual({ kind: "length", length: 10 });
    expect(responseFraming(facts(), 200, "GET")).toEqual({ kind: "until-close" });
    expect(responseFraming(facts(["Transfer-Encoding", "chunked"]), 200, "GET")).toEqual({ kind: "chunked" });
    expect(responseFraming(facts(["Transfer-Encoding", "gzip"]), 200, "GET")).toEqual({ kind: "until-close" });
    expect(httpStatusOf(() => responseFraming(facts(["Content-Length", "x"]), 200, "GET"))).toBe(502);
  });

  test("keep-alive follows the version and Connection", () => {
    expect(keepsAlive("HTTP/1.1", facts())).toBe(true);
    expect(keepsAlive("HTTP/1.1", facts(["Connection", "Close"]))).toBe(false);
    expect(keepsAlive("HTTP/1.0", facts())).toBe(false);
    expect(keepsAlive("HTTP/1.0", facts(["Connection", "Keep-Alive"]))).toBe(true);
  });

  test("scanHeaders notes proxy-only fields, Expect and Host in one pass", () => {
    const scanned = facts(["HOST", "a.test"], ["Proxy-Authorization", "Basic x"], ["Expect", "100-Continue"]);
    expect(scanned.hosts).toEqual(["a.test"]);
    expect(scanned.proxyFields).toBe(true);
    expect(scanned.expectContinue).toBe(true);
  });
});

describe("body decoders", () => {
  /** Feeds `input` split at `splits`, collecting payload and where the body ended. */
  function decode(framingKind: "chunked" | "length", input: Buffer, splits: number[], length = 0) {
    const decoder = bodyDecoder(framingKind === "chunked" ? { kind: "chunked" } : { kind: "length", length }, 400);
    const payload: Buffer[] = [];
    let consumed = 0;
    let previous = 0;
    for (const at of [...splits, input.length]) {
      const piece = input.subarray(previous, at);
      previous = at;
      if (decoder.done) break;
      const used = decoder.feed(piece, (p) => payload.push(Buffer.from(p)));
      consumed += used;
      if (used < piece.length) break;
    }
    return { payload: Buffer.concat(payload).toString("latin1"), consumed, done: decoder.done };
  }

  const chunked = bytes("5;ext=1\r\nhello\r\n1A\r\n, this is twenty-six bytes\r\n0\r\nTrailer-A: 1\r\nTrailer-B: 2\r\n\r\nNEXT");
  const expected = "hello, this is twenty-six bytes";
  const bodyEnd = chunked.length - 4;

  test("chunked: every two-way split decodes the same payload and stops at the end of the body", () => {
    for (let split = 0; split <= chunked.length; split++) {
      const result = decode("chunked", chunked, [split]);
      expect(result.payload).toBe(expected);
      expect(result.done).toBe(true);
      expect(result.consumed).toBe(bodyEnd);
    }
  });

  test("chunked: byte by byte", () => {
    const splits = Array.from({ length: chunked.length }, (_, i) => i);
    expect(decode("chunked", chunked, splits)).toEqual({ payload: expected, consumed: bodyEnd, done: true });
  });

  test("chunked: encodeChunk output decodes back", () => {
    const parts = ["a", "", "bcd", "x".repeat(70000)];
    const encoded = Buffer.concat([...parts.filter((p) => p).map((p) => encodeChunk(bytes(p))), LAST_CHUNK]);
    expect(decode("chunked", encoded, [3, 9, 40000]).payload).toBe(parts.join(""));
  });

  test.each([
    ["a bare LF after the size", "5\nhello\r\n0\r\n\r\n"],
    ["a non-hex size", "zz\r\nhello\r\n0\r\n\r\n"],
    ["data longer than its size", "3\r\nhello\r\n0\r\n\r\n"],
    ["a missing size", "\r\nhello\r\n0\r\n\r\n"],
    ["an oversized size", "ffffffffffffffff\r\n"],
    ["a bare LF in the trailers", "0\r\nA: 1\n\r\n"],
  ])("chunked: %s is refused", (_, text) => {
    expect(httpStatusOf(() => decode("chunked", bytes(text), []))).toBe(400);
  });

  test("Content-Length: stops at the length, whatever the splits", () => {
    const input = bytes("0123456789REST");
    for (let split = 0; split <= input.length; split++) {
      expect(decode("length", input, [split], 10)).toEqual({ payload: "0123456789", consumed: 10, done: true });
    }
  });

  test("until close: the body ends only at end of input", () => {
    const decoder = bodyDecoder({ kind: "until-close" }, 502);
    const seen: string[] = [];
    expect(decoder.feed(bytes("abc"), (p) => seen.push(p.toString()))).toBe(3);
    expect(decoder.done).toBe(false);
    expect(decoder.endOfInput()).toBe(true);
    expect(decoder.done).toBe(true);
    expect(seen).toEqual(["abc"]);
    const cut = bodyDecoder({ kind: "length", length: 5 }, 502);
    cut.feed(bytes("ab"), () => {});
    expect(cut.endOfInput()).toBe(false);
  });
});

describe("parseAuthority", () => {
  test.each([
    ["api.example.test:443", null, { host: "api.example.test", port: 443 }],
    ["API.Example.Test.:8443", null, { host: "api.example.test", port: 8443 }],
    ["[::1]:8443", null, { host: "::1", port: 8443 }],
    ["[::1]", 443, { host: "::1", port: 443 }],
    ["localhost", 80, { host: "localhost", port: 80 }],
    ["127.0.0.1:8080", 80, { host: "127.0.0.1", port: 8080 }],
  ] as const)("%s → host and port", (text, defaultPort, expected) => {
    expect(parseAuthority(text, defaultPort)).toEqual(expected);
  });

  test.each(["api.example.test", "user@host:443", "host:0", "host:65536", "host:44a", "::1:443", "[::1", "[fe80::1%eth0]:443", "bad host:443", "ünïcode.test:443", ":443"])(
    "%s is refused (port required)",
    (text) => {
      expect(parseAuthority(text, null)).toBeNull();
    },
  );
});
