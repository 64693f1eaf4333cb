// Decision ids come from a pool of random bytes refilled every 512 ids: across several refills they
// stay well-formed (dec_ + 16 base64url characters, 96 random bits) and never repeat.

import { expect, test } from "bun:test";
import { newDecisionId } from "../../src/server/access.ts";

test("decision ids are well-formed and unique across pool refills", () => {
  const ids = Array.from({ length: 5000 }, () => newDecisionId());
  expect(ids.every((id) => /^dec_[A-Za-z0-9_-]{16}$/.test(id))).toBe(true);
  expect(new Set(ids).size).toBe(ids.length);
});
