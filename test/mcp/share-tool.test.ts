// The MCP share tool's definition and argument checks: one view only, expiry within the share limits,
// nothing but a secret's name — never a value, a passphrase or a recipient from the agent.

import { describe, expect, test } from "bun:test";
import { SHARE_TOOL, parseShareArgs } from "../../src/mcp/share-tool-definition.ts";

describe("share tool", () => {
  test("its schema takes a name, an expiry and views (1 only); the description warns against opening the link", () => {
    expect(Object.keys(SHARE_TOOL.inputSchema.properties)).toEqual(["secret", "expires_in", "views"]);
    expect(SHARE_TOOL.inputSchema.required).toEqual(["secret"]);
    expect(SHARE_TOOL.description).toContain("do NOT open it yourself");
  });

  test("defaults: one hour", () => {
    expect(parseShareArgs({ secret: "NEW_DB_PASSWORD" })).toEqual({ ok: true, args: { secret: "NEW_DB_PASSWORD", expiresIn: 3600 } });
    expect(parseShareArgs({ secret: "X", expires_in: "7d", views: 1 })).toEqual({ ok: true, args: { secret: "X", expiresIn: 7 * 86400 } });
  });

  test("refusals name the argument", () => {
    for (const [args, message] of [
      [undefined, "must be an object"],
      [{}, '"secret" must be'],
      [{ secret: "" }, '"secret" must be'],
      [{ secret: "X", views: 2 }, "can only be 1"],
      [{ secret: "X", views: 0 }, "can only be 1"],
      [{ secret: "X", expires_in: "8d" }, "expires_in"],
      [{ secret: "X", expires_in: "0s" }, "expires_in"],
      [{ secret: "X", passphrase: "hunter2" }, 'unknown argument "passphrase"'],
      [{ secret: "X", value: "plain" }, 'unknown argument "value"'],
    ] as const) {
      const parsed = parseShareArgs(args);
      expect(parsed.ok).toBe(false);
      expect(!parsed.ok && parsed.message).toContain(message);
    }
  });
});
