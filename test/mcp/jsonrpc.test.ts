// JSON-RPC message classification as MCP narrows it (ids are strings or integers, params an object),
// version negotiation, and which versions take batches.

import { describe, expect, test } from "bun:test";
import { ErrorCode, classify, failure, parseJson, success } from "../../src/mcp/jsonrpc.ts";
import { LATEST_VERSION, SUPPORTED_VERSIONS, allowsBatches, negotiateVersion } from "../../src/mcp/versions.ts";

describe("classify", () => {
  test("requests, notifications and responses", () => {
    expect(classify({ jsonrpc: "2.0", id: 1, method: "ping" })).toEqual({ kind: "request", message: { jsonrpc: "2.0", id: 1, method: "ping" } });
    expect(classify({ jsonrpc: "2.0", id: "a", method: "tools/call", params: { name: "x" } })).toEqual({
      kind: "request",
      message: { jsonrpc: "2.0", id: "a", method: "tools/call", params: { name: "x" } },
    });
    expect(classify({ jsonrpc: "2.0", method: "notifications/initialized" })).toEqual({
      kind: "notification",
      message: { jsonrpc: "2.0", method: "notifications/initialized" },
    });
    expect(classify({ jsonrpc: "2.0", id: 3, result: {} })).toEqual({ kind: "response" });
    expect(classify({ jsonrpc: "2.0", id: 3, error: { code: 1, message: "x" } })).toEqual({ kind: "response" });
  });

  test("invalid messages keep a usable id for the error answer", () => {
    expect(classify(null)).toMatchObject({ kind: "invalid", id: null });
    expect(classify([1])).toMatchObject({ kind: "invalid", id: null });
    expect(classify({ id: 4, method: "ping" })).toMatchObject({ kind: "invalid", id: 4, reason: expect.stringContaining("jsonrpc") });
    expect(classify({ jsonrpc: "2.0", id: 5, method: "" })).toMatchObject({ kind: "invalid", id: 5 });
    expect(classify({ jsonrpc: "2.0", id: 6, method: "x", params: [1, 2] })).toMatchObject({ kind: "invalid", id: 6, reason: expect.stringContaining("params") });
    expect(classify({ jsonrpc: "2.0", id: 7 })).toMatchObject({ kind: "invalid", id: 7 });
  });

  test("MCP ids are strings or integers: null, fractions and objects are invalid", () => {
    for (const id of [null, 1.5, { a: 1 }, true]) {
      expect(classify({ jsonrpc: "2.0", id, method: "ping" })).toMatchObject({ kind: "invalid", id: null });
    }
  });
});

test("responses and errors are shaped per JSON-RPC 2.0", () => {
  expect(success(1, { a: 1 })).toEqual({ jsonrpc: "2.0", id: 1, result: { a: 1 } });
  expect(failure(null, ErrorCode.parseError, "bad")).toEqual({ jsonrpc: "2.0", id: null, error: { code: -32700, message: "bad" } });
  expect(failure("x", ErrorCode.invalidParams, "bad", { field: "a" })).toEqual({ jsonrpc: "2.0", id: "x", error: { code: -32602, message: "bad", data: { field: "a" } } });
});

test("parseJson says why text is not JSON", () => {
  expect(parseJson('{"a":1}')).toEqual({ ok: true, value: { a: 1 } });
  const bad = parseJson("{nope");
  expect(bad.ok).toBe(false);
  if (!bad.ok) expect(bad.reason.length).toBeGreaterThan(0);
});

describe("versions", () => {
  test("a supported version is kept; anything else gets the latest", () => {
    for (const v of SUPPORTED_VERSIONS) expect(negotiateVersion(v)).toBe(v);
    expect(negotiateVersion("2099-01-01")).toBe(LATEST_VERSION);
    expect(negotiateVersion(undefined)).toBe(LATEST_VERSION);
    expect(LATEST_VERSION).toBe("2025-11-25");
  });
  test("only 2025-03-26 has batches", () => {
    expect(SUPPORTED_VERSIONS.filter(allowsBatches)).toEqual(["2025-03-26"]);
  });
});
