// Tool definitions (names, schemas an LLM can rely on) and argument validation: every bad argument is a
// one-line message naming what to fix.

import { describe, expect, test } from "bun:test";
import { RESERVED_REQUEST_HEADERS, parseFetchArgs, parseListArgs, parseResolveArgs, toolDefinitions } from "../../src/mcp/tools.ts";

describe("definitions", () => {
  const tools = toolDefinitions(1000);

  test("three tools, each with a description, an object input schema and an output schema", () => {
    expect(tools.map((t) => t.name)).toEqual(["list_secrets", "resolve", "fetch"]);
    for (const tool of tools) {
      expect(tool.description.length).toBeGreaterThan(80);
      expect(tool.inputSchema).toMatchObject({ type: "object", additionalProperties: false });
      expect(tool.outputSchema).toMatchObject({ type: "object" });
      expect(JSON.parse(JSON.stringify(tool))).toEqual(tool); // plain JSON, nothing lost on the wire
    }
  });

  test("fetch's schema names its arguments, requires only url, and states the size limit", () => {
    const fetch = tools.find((t) => t.name === "fetch")!;
    expect(Object.keys((fetch.inputSchema as { properties: object }).properties)).toEqual(["url", "method", "headers", "body", "secret", "capture"]);
    expect(fetch.inputSchema.required).toEqual(["url"]);
    expect(fetch.description).toContain("1000 bytes");
    expect(fetch.description).toContain("Authorization: Bearer");
  });

  test("resolve requires name and says it never returns the value", () => {
    const resolve = tools.find((t) => t.name === "resolve")!;
    expect(resolve.inputSchema.required).toEqual(["name"]);
    expect(resolve.description).toContain("never the secret's value");
  });
});

describe("arguments", () => {
  test("list_secrets takes none", () => {
    expect(parseListArgs(undefined)).toEqual({ ok: true, args: {} });
    expect(parseListArgs({})).toEqual({ ok: true, args: {} });
    expect(parseListArgs({ all: true })).toEqual({ ok: false, message: 'list_secrets: unknown argument "all" (it takes none)' });
  });

  test("resolve needs a name", () => {
    expect(parseResolveArgs({ name: "API_KEY" })).toEqual({ ok: true, args: { name: "API_KEY" } });
    expect(parseResolveArgs({})).toEqual({ ok: false, message: 'resolve: "name" must be a secret name (see list_secrets)' });
    expect(parseResolveArgs({ name: 3 })).toMatchObject({ ok: false });
    expect(parseResolveArgs("API_KEY")).toEqual({ ok: false, message: "resolve: arguments must be an object" });
    expect(parseResolveArgs({ name: "A", value: "x" })).toMatchObject({ ok: false, message: expect.stringContaining('unknown argument "value"') });
  });

  test("fetch: defaults, header order kept, method upper-cased", () => {
    expect(parseFetchArgs({ url: "https://a.test/" })).toEqual({ ok: true, args: { url: "https://a.test/", method: "GET", headers: [] } });
    expect(parseFetchArgs({ url: "https://a.test/", method: "post", headers: { "X-B": "2", "X-A": "1" }, body: "{}", secret: "K" })).toEqual({
      ok: true,
      args: { url: "https://a.test/", method: "POST", headers: [["X-B", "2"], ["X-A", "1"]], body: "{}", secret: "K" },
    });
  });

  const bad: [string, unknown, string][] = [
    ["no url", {}, '"url" must be'],
    ["bad method", { url: "u", method: "GE T" }, '"method" must be'],
    ["CONNECT", { url: "u", method: "connect" }, "CONNECT is not supported"],
    ["headers as a list", { url: "u", headers: [["a", "b"]] }, '"headers" must be an object'],
    ["bad header name", { url: "u", headers: { "a b": "c" } }, "not a valid HTTP header name"],
    ["non-string header", { url: "u", headers: { a: 1 } }, "must have a string value"],
    ["header injection", { url: "u", headers: { a: "b\r\nX-Evil: 1" } }, "line break"],
    ["body object", { url: "u", method: "POST", body: { a: 1 } }, '"body" must be a string'],
    ["GET with body", { url: "u", body: "x" }, "cannot have a body"],
    ["secret plus Authorization", { url: "u", secret: "K", headers: { authorization: "Bearer x" } }, "not both"],
    ["unknown argument", { url: "u", timeout: 3 }, 'unknown argument "timeout"'],
  ];
  for (const [name, args, message] of bad) {
    test(`fetch refuses ${name}`, () => {
      const parsed = parseFetchArgs(args);
      expect(parsed.ok).toBe(false);
      if (!parsed.ok) {
        expect(parsed.message).toContain(message);
        expect(parsed.message).not.toContain("\n");
      }
    });
  }

  test("fetch refuses every header kz sets itself", () => {
    for (const name of RESERVED_REQUEST_HEADERS) {
      const parsed = parseFetchArgs({ url: "u", headers: { [name.toUpperCase()]: "x" } });
      expect(parsed).toMatchObject({ ok: false, message: expect.stringContaining("set by kz") });
    }
  });
});
