// Which sandbox tools kz trusts: root's alone, in folders only root can change (a sticky /tmp is fine).

import { describe, expect, test } from "bun:test";
import { realpathSync } from "node:fs";
import { distrust } from "../../../src/runner/sandbox/trusted-tool.ts";

const bin = realpathSync("/bin/sh");

describe("distrust", () => {
  test("the system's own tools are trusted", () => {
    expect(distrust(bin)).toBeUndefined();
  });

  test("a file or folder owned by a user, or writable by group or others, is not", () => {
    const owner = (bad: string, s: { uid: number; mode: number }) => (p: string) => (p === bad ? s : { uid: 0, mode: 0o755 });
    expect(distrust(bin, owner(bin, { uid: 1000, mode: 0o755 }))).toContain("is not owned by root");
    expect(distrust(bin, owner(bin, { uid: 0, mode: 0o775 }))).toContain("is writable by others than root");
    const parent = bin.slice(0, bin.lastIndexOf("/"));
    expect(distrust(bin, owner(parent, { uid: 0, mode: 0o777 }))).toContain(`${parent} is writable`);
    expect(distrust(bin, owner(parent, { uid: 0, mode: 0o1777 }))).toBeUndefined(); // sticky, like /tmp
  });

  test("a path that does not resolve is not", () => {
    expect(distrust("/nonexistent/kz-tool")).toBe("cannot be resolved");
  });
});
