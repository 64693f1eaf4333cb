import { describe, expect, test } from "bun:test";
import { GlobError, matchGlob, parseGlob } from "../../src/policy/glob.ts";

// [pattern, ref, matches]
const table: [string, string, boolean][] = [
  // literal, anchored at both ends
  ["secret/data/prod/db", "secret/data/prod/db", true],
  ["secret/data/prod/db", "secret/data/prod/db2", false],
  ["secret/data/prod", "secret/data/prod/db", false],
  ["data/prod/db", "secret/data/prod/db", false],
  // `*` is exactly one segment
  ["secret/data/*/db", "secret/data/prod/db", true],
  ["secret/data/*/db", "secret/data/db", false],
  ["secret/data/*/db", "secret/data/a/b/db", false],
  ["secret/data/prod/*", "secret/data/prod/db", true],
  ["secret/data/prod/*", "secret/data/prod", false],
  ["secret/data/prod/*", "secret/data/prod/db/extra", false],
  ["secret/data/*/db", "secret/data//db", false],
  ["*", "DB_PROD", true],
  ["*", "a/b", false],
  // `**` is any number of segments, none included
  ["secret/data/prod/**", "secret/data/prod/db", true],
  ["secret/data/prod/**", "secret/data/prod/a/b/c", true],
  ["secret/data/prod/**", "secret/data/prod", true],
  ["secret/data/prod/**", "secret/data/production/db", false],
  ["secret/data/prod/**", "secret/data/staging/db", false],
  ["**", "anything/at/all", true],
  ["**", "x", true],
  ["**/db", "secret/data/prod/db", true],
  ["**/db", "db", true],
  ["**/db", "secret/data/prod/db/password", false],
  ["secret/**/db", "secret/db", true],
  ["secret/**/db", "secret/a/b/db", true],
  ["secret/**/db", "secret/a/b/dbx", false],
  ["secret/**/prod/**", "secret/data/prod/db", true],
  ["secret/**/prod/**", "secret/data/staging/db", false],
  ["**/*/db", "db", false],
  ["**/*/db", "a/db", true],
  ["a/**/b/**/c", "a/x/b/y/b/z/c", true],
  ["a/**/b/*/c", "a/b/x/b/y/c", true],
  ["a/**/b/*/c", "a/b/x/y/c", false],
  // other refs: 1Password URIs, ARNs
  ["op://Dev/**", "op://Dev/OpenAI/api-key", true],
  ["op://Dev/*/api-key", "op://Dev/OpenAI/api-key", true],
  ["op://Dev/*/api-key", "op://Prod/OpenAI/api-key", false],
  ["arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/**", "arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/slack-AbCdEf", true],
  // regex metacharacters are literal
  ["secret/data/a.b", "secret/data/axb", false],
  ["secret/data/a.b", "secret/data/a.b", true],
  ["secret/(x)/+", "secret/(x)/+", true],
];

describe("match glob over a secret's ref", () => {
  test.each(table)("%p against %p → %p", (pattern, ref, expected) => {
    expect(matchGlob(pattern, ref)).toBe(expected);
  });

  test("a segment mixing * with text is refused, not read as a literal", () => {
    for (const pattern of ["secret/data/prod-*", "secret/***/db", "secret/*x*/db"]) {
      expect(() => parseGlob(pattern)).toThrow(GlobError);
    }
    expect(() => parseGlob("secret/data/prod-*")).toThrow(/prod-\*.*must stand alone/);
  });

  test("an empty pattern is refused with a hint", () => {
    expect(() => parseGlob("")).toThrow(/"\*\*" to match every ref/);
  });
});
