// What keeps responses maskable: requests ask for identity and no WebSocket extension (unless a SigV4
// signature covers Accept-Encoding), and a response's coding is classified — decodable, or refused.

import { describe, expect, test } from "bun:test";
import { decodedResponseHead, echoSafeRequestHead, responseCoding } from "../../src/blind/echo-safe.ts";
import type { RequestHead, ResponseHead } from "../../src/blind/types.ts";

const request = (headers: [string, string][], target = "/"): RequestHead => ({ method: "GET", target, version: "HTTP/1.1", headers });
const response = (headers: [string, string][]): ResponseHead => ({ version: "HTTP/1.1", status: 200, reason: "OK", headers });

describe("echoSafeRequestHead", () => {
  test("Accept-Encoding becomes identity; WebSocket extensions, TE codings and non-WebSocket upgrades are dropped; order kept", () => {
    const out = echoSafeRequestHead(
      request([
        ["Host", "api.example.test"],
        ["accept-encoding", "gzip, deflate, br"],
        ["Sec-WebSocket-Extensions", "permessage-deflate"],
        ["TE", "gzip"],
        ["Upgrade", "h2c"],
        ["Authorization", "Bearer x"],
      ]),
    );
    expect(out.headers).toEqual([
      ["Host", "api.example.test"],
      ["accept-encoding", "identity"],
      ["Authorization", "Bearer x"],
    ]);
  });

  test("a head that needs nothing changed is the same object (forwarded as received)", () => {
    const head = request([["Host", "h"], ["Accept-Encoding", "identity"], ["TE", "trailers"], ["Upgrade", "websocket"]]);
    expect(echoSafeRequestHead(head)).toBe(head);
  });

  test("a SigV4 signature covering Accept-Encoding keeps it (header or presigned query)", () => {
    const signed = request([
      ["Authorization", "AWS4-HMAC-SHA256 Credential=AKIA/20260101/us-east-1/s3/aws4_request, SignedHeaders=accept-encoding;host;x-amz-date, Signature=00"],
      ["Accept-Encoding", "gzip"],
    ]);
    expect(echoSafeRequestHead(signed)).toBe(signed);
    const presigned = request([["Accept-Encoding", "gzip"]], "/o?X-Amz-SignedHeaders=accept-encoding%3Bhost&X-Amz-Signature=00");
    expect(echoSafeRequestHead(presigned)).toBe(presigned);
    const unrelated = request([
      ["Authorization", "AWS4-HMAC-SHA256 Credential=AKIA/20260101/us-east-1/s3/aws4_request, SignedHeaders=host;x-amz-date, Signature=00"],
      ["Accept-Encoding", "gzip"],
    ]);
    expect(echoSafeRequestHead(unrelated).headers[1]).toEqual(["Accept-Encoding", "identity"]);
  });
});

describe("responseCoding", () => {
  test.each([
    [[], { kind: "identity" }],
    [[["Content-Encoding", "identity"]], { kind: "identity" }],
    [[["Content-Encoding", "GZIP"]], { kind: "decode", coding: "gzip" }],
    [[["Content-Encoding", "br"]], { kind: "decode", coding: "br" }],
    [[["Content-Encoding", "deflate"], ["Transfer-Encoding", "chunked"]], { kind: "decode", coding: "deflate" }],
    [[["Content-Encoding", "zstd"]], { kind: "unsupported", coding: "zstd" }],
    [[["Content-Encoding", "gzip, br"]], { kind: "unsupported", coding: "gzip, br" }],
    [[["Transfer-Encoding", "gzip, chunked"]], { kind: "unsupported", coding: "transfer coding gzip" }],
  ] as [[string, string][], unknown][])("%p → %p", (headers, expected) => {
    expect(responseCoding(response(headers))).toEqual(expected as ReturnType<typeof responseCoding>);
  });

  test("a decoded head loses its coding and length, and is chunked (or closes)", () => {
    const head = response([["Content-Type", "application/json"], ["Content-Encoding", "gzip"], ["Content-Length", "42"]]);
    expect(decodedResponseHead(head, true).headers).toEqual([["Content-Type", "application/json"], ["Transfer-Encoding", "chunked"]]);
    expect(decodedResponseHead(head, false).headers).toEqual([["Content-Type", "application/json"], ["Connection", "close"]]);
  });
});
