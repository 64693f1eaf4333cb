// Building fetch's result from a raw response with blind mode's real echo rewriter: only allow-listed
// headers survive (never Set-Cookie), values are masked in headers and body — also a value straddling the
// size cut, of which no prefix may survive — compressed bodies are decoded, binary ones base64-encoded.

import { describe, expect, test } from "bun:test";
import { gzipSync } from "node:zlib";
import { echoRewriter } from "../../src/blind/rewrite/echo.ts";
import type { BlindSecret, ResponseHead } from "../../src/blind/types.ts";
import { buildFetchResult, decodeContent, safeHeaders } from "../../src/mcp/fetch-result.ts";
import { SecretValue } from "../../src/secret.ts";

const VALUE = "fake-response-secret-42";
const secret: BlindSecret = { name: "K", token: "KZ_TOK_abcdefghijklmnopqrstuvwx", value: new SecretValue(VALUE), hosts: ["api.test"] };

function head(status: number, headers: [string, string][]): ResponseHead {
  return { version: "HTTP/1.1", status, reason: "", headers };
}

describe("safeHeaders", () => {
  test("keeps the allow-list (lower-cased, repeats joined), drops cookies and credentials, masks values", () => {
    const echo = echoRewriter([secret]);
    const out = safeHeaders(
      head(302, [
        ["Content-Type", "text/plain"],
        ["Set-Cookie", "session=abc"],
        ["Authorization", "Bearer x"],
        ["WWW-Authenticate", 'Bearer realm="x"'],
        ["X-Api-Key", VALUE],
        ["Location", `https://api.test/cb?key=${VALUE}`],
        ["Link", "<a>; rel=next"],
        ["link", "<b>; rel=prev"],
      ]),
      echo.header,
    );
    expect(out).toEqual({
      "content-type": "text/plain",
      location: `https://api.test/cb?key=${secret.token.slice(0, VALUE.length)}`,
      link: "<a>; rel=next, <b>; rel=prev",
    });
  });
});

describe("buildFetchResult", () => {
  test("a value in the body is masked and the note names the secret", () => {
    const raw = { head: head(200, [["Content-Type", "application/json"]]), body: Buffer.from(`{"echo":"${VALUE}"}`), cut: false };
    const result = buildFetchResult(raw, echoRewriter([secret]), 1000, VALUE.length);
    expect(result).toEqual({
      status: 200,
      headers: { "content-type": "application/json" },
      body: `{"echo":"${secret.token.slice(0, VALUE.length)}"}`,
      body_encoding: "text",
      truncated: false,
      note: "the response contained the value of K; it was replaced by the token",
    });
  });

  test("a value straddling the size cut leaves no prefix behind", () => {
    for (let offset = 1; offset < VALUE.length; offset++) {
      const limit = 100;
      const text = "a".repeat(limit - offset) + VALUE + "b".repeat(50);
      // The raw body was collected up to limit + margin, as roundTrip does.
      const raw = { head: head(200, [["Content-Type", "text/plain"]]), body: Buffer.from(text).subarray(0, limit + VALUE.length), cut: true };
      const result = buildFetchResult(raw, echoRewriter([secret]), limit, VALUE.length);
      expect(result.truncated).toBe(true);
      expect(result.body.length).toBe(limit);
      expect(result.body).toBe("a".repeat(limit - offset) + secret.token.slice(0, offset));
    }
  });

  test("binary bodies are base64; a 3xx notes the redirect was not followed", () => {
    const raw = { head: head(301, [["Location", "https://elsewhere.test/"], ["Content-Type", "application/octet-stream"]]), body: Buffer.from([0xff, 0x00, 0xfe]), cut: false };
    const result = buildFetchResult(raw, echoRewriter([secret]), 1000, 0);
    expect(result).toMatchObject({ status: 301, body: "/wD+", body_encoding: "base64", note: "redirect not followed: see headers.location" });
  });

  test("a gzip body is decoded, then masked", () => {
    const raw = { head: head(200, [["Content-Encoding", "gzip"], ["Content-Type", "text/plain"]]), body: gzipSync(`token ${VALUE} here`), cut: false };
    expect(buildFetchResult(raw, echoRewriter([secret]), 1000, VALUE.length).body).toBe(`token ${secret.token.slice(0, VALUE.length)} here`);
  });

  test("an undecodable body is omitted with the reason", () => {
    const raw = { head: head(200, [["Content-Encoding", "zstd"]]), body: Buffer.from("??"), cut: false };
    expect(buildFetchResult(raw, echoRewriter([secret]), 1000, 0)).toMatchObject({ body: "", note: "body omitted: it is compressed with zstd, which kz does not decode" });
    const corrupt = { head: head(200, [["Content-Encoding", "gzip"]]), body: Buffer.from("not gzip"), cut: false };
    expect(buildFetchResult(corrupt, echoRewriter([secret]), 1000, 0).note).toBe("body omitted: its gzip encoding is corrupt");
  });
});

test("decodeContent stops a compression bomb at the limit", () => {
  const bomb = gzipSync(Buffer.alloc(10 * 1024 * 1024));
  expect(decodeContent(bomb, "gzip", 4096)).toBe("it decompresses to more than 4096 bytes");
});
