// Share limits: durations, views and expiry bounds, and the shape of ids.
import { expect, test } from "bun:test";
import { checkExpiresIn, checkViews, isShareId, newShareId, parseDuration } from "../../src/share/limits.ts";

test("durations", () => {
  expect(parseDuration("90s")).toBe(90);
  expect(parseDuration("15m")).toBe(900);
  expect(parseDuration("1h30m")).toBe(5400);
  expect(parseDuration("7d")).toBe(604800);
  for (const bad of ["", "1", "h", "1x", "-1h", "1.5h", "1 h"]) expect(parseDuration(bad)).toBeUndefined();
});

test("views 1–10, default 1; expiry 1 s – 7 days, default 1 h", () => {
  expect(checkViews(undefined)).toEqual({ ok: true, value: 1 });
  expect(checkViews(10)).toEqual({ ok: true, value: 10 });
  for (const bad of [0, 11, 2.5, "3", null]) expect(checkViews(bad).ok).toBe(false);
  expect(checkExpiresIn(undefined)).toEqual({ ok: true, value: 3600 });
  expect(checkExpiresIn("7d")).toEqual({ ok: true, value: 604800 });
  expect(checkExpiresIn(1)).toEqual({ ok: true, value: 1 });
  for (const bad of [0, 604801, "8d", "7d1s", 1.5, "soon", null]) expect(checkExpiresIn(bad).ok).toBe(false);
});

test("ids: 128 random bits, base64url, 22 characters; nothing else has their shape", () => {
  const ids = Array.from({ length: 1000 }, newShareId);
  expect(ids.every(isShareId)).toBe(true);
  expect(new Set(ids).size).toBe(1000);
  for (const bad of ["", "A".repeat(21), "A".repeat(23), "A".repeat(21) + "=", "../../../../etc/passwd", "malformed-id"]) expect(isShareId(bad)).toBe(false);
});
