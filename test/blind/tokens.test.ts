import { describe, expect, test } from "bun:test";
import { ConfigError } from "../../src/errors.ts";
import { SecretValue } from "../../src/secret.ts";
import {
  MIN_RANDOM_BITS,
  type RandomBytes,
  TOKEN_PREFIX,
  TokenTable,
  mintTokens,
  preserveToken,
  recognisablePrefix,
} from "../../src/blind/tokens.ts";
import { enc, fixture, github, openai } from "./fixtures.ts";

const spec = (name: string, value: string, tokenFormat: "opaque" | "preserve" = "opaque", hosts = ["api.example.com"]) => ({
  name,
  value: new SecretValue(value),
  hosts,
  tokenFormat,
});

const OPAQUE = /^KZ_TOK_[A-Za-z0-9_-]{24}$/;

describe("opaque tokens", () => {
  test("are KZ_TOK_ + base64url of 18 random bytes (144 bits)", () => {
    const [s] = mintTokens([spec("A", "fake-value-0001")]);
    expect(s!.token).toMatch(OPAQUE);
    expect(Buffer.from(s!.token.slice(TOKEN_PREFIX.length), "base64url").length * 8).toBeGreaterThanOrEqual(MIN_RANDOM_BITS);
  });

  test("are unique in a run and none is a substring of another", () => {
    const minted = mintTokens(Array.from({ length: 300 }, (_, i) => spec(`S${i}`, `fake-value-${i}`)));
    const tokens = minted.map((s) => s.token);
    expect(new Set(tokens).size).toBe(tokens.length);
    for (const a of tokens) for (const b of tokens) if (a !== b) expect(b.includes(a)).toBe(false);
  });

  test("a repeated draw is re-drawn (the random source is the only thing replaced)", () => {
    let calls = 0;
    const zerosTwice: RandomBytes = (n) => (calls++ < 2 ? new Uint8Array(n) : crypto.getRandomValues(new Uint8Array(n)));
    const [a, b] = mintTokens([spec("A", "fake-a-0001"), spec("B", "fake-b-0001")], zerosTwice);
    expect(a!.token).toBe(`${TOKEN_PREFIX}${"A".repeat(24)}`);
    expect(b!.token).not.toBe(a!.token);
    expect(b!.token).toMatch(OPAQUE);
  });

  test("a draw that occurs inside a real value is re-drawn", () => {
    const zeroToken = `${TOKEN_PREFIX}${"A".repeat(24)}`;
    let calls = 0;
    const zerosOnce: RandomBytes = (n) => (calls++ < 1 ? new Uint8Array(n) : crypto.getRandomValues(new Uint8Array(n)));
    const [s] = mintTokens([spec("A", `fake-prefix-${zeroToken}-suffix`)], zerosOnce);
    expect(s!.token).not.toBe(zeroToken);
    expect(s!.token).toMatch(OPAQUE);
  });

  test("a random source that never changes is an error that names the secret, not its value", () => {
    const value = "fake-stuck-value-0001";
    const stuck: RandomBytes = (n) => new Uint8Array(n);
    let error: Error | undefined;
    try {
      mintTokens([spec("A", value), spec("B", value)], stuck);
    } catch (e) {
      error = e as Error;
    }
    expect(error?.message).toContain("B");
    expect(error?.message.includes(value)).toBe(false);
  });
});

describe("preserve tokens", () => {
  const cases: [label: string, value: string, prefix: string | undefined, alphabet: RegExp][] = [
    ["OpenAI project key", `sk-proj-${"Fake0001".repeat(6)}`, "sk-proj-", /^[A-Za-z0-9]+$/],
    ["GitHub token", `ghp_${"fAkE0001".repeat(5)}`, "ghp_", /^[A-Za-z0-9]+$/],
    ["Slack bot token", "xoxb-1234567890-0987654321-FakeSlackTokenValue0001", "xoxb-", /^[A-Za-z0-9]+$/],
    ["fine-grained GitHub PAT", `github_pat_${"11FAKE0001abcdefghij".repeat(4)}`, "github_pat_", /^[A-Za-z0-9]+$/],
    ["hex API key, no separator", "deadbeef".repeat(8), "dead", /^[0-9a-f]+$/],
    ["upper-case hex", "DEADBEEF".repeat(8), "DEAD", /^[0-9A-F]+$/],
  ];
  test.each(cases)("%s keeps its prefix and length; the rest is random from its alphabet", (_label, value, prefix, alphabet) => {
    const [s] = mintTokens([spec("K", value, "preserve")]);
    expect(s!.token.startsWith(prefix!)).toBe(true);
    expect(s!.token.length).toBe(value.length);
    expect(s!.token === value).toBe(false);
    expect(s!.token.slice(prefix!.length)).toMatch(alphabet);
    expect(s!.token).toMatch(/^[A-Za-z0-9_-]+$/); // URL-safe
  });

  test("two preserve tokens of one value differ", () => {
    const value = `sk-proj-${"Fake0001".repeat(6)}`;
    expect(preserveToken(value)).not.toBe(preserveToken(value));
  });

  const fallbacks: [label: string, value: string][] = [
    ["AWS key id (20 chars: too few random bits)", "AKIAFAKEFAKEFAKE0001"],
    ["short value", "ghp_fake0001"],
    ["no recognisable prefix, under 24 chars", "1234-fake-value"],
    ["value starting with non-URL-safe characters", `/+=!${"x".repeat(40)}`],
    ["hex value too short for 120 bits after its prefix", "deadbeef".repeat(4)],
  ];
  test.each(fallbacks)("%s falls back to an opaque token", (_label, value) => {
    const [s] = mintTokens([spec("K", value, "preserve")]);
    expect(s!.token).toMatch(OPAQUE);
  });

  test("recognisablePrefix takes letter groups up to 12 characters", () => {
    expect(recognisablePrefix("sk-proj-abc")).toBe("sk-proj-");
    expect(recognisablePrefix("sk-ant-api03-abc")).toBe("sk-ant-"); // "api03-" has digits
    expect(recognisablePrefix("abcdefghijkl-mnop-rest")).toBeUndefined(); // first group alone is 13 chars, value < 24
    expect(recognisablePrefix(`abcdefghijkl-mnop-rest${"x".repeat(10)}`)).toBe("abcd");
  });
});

describe("minting errors", () => {
  test("a secret without hosts is a ConfigError naming it, never its value", () => {
    const value = "fake-value-no-hosts-0001";
    expect(() => mintTokens([spec("NO_HOSTS", value, "opaque", [])])).toThrow(ConfigError);
    try {
      mintTokens([spec("NO_HOSTS", value, "opaque", [])]);
    } catch (e) {
      expect((e as Error).message).toContain("NO_HOSTS");
      expect((e as Error).message.includes(value)).toBe(false);
    }
  });

  test("an invalid host pattern is a ConfigError naming the secret and the pattern", () => {
    const value = "fake-value-bad-pattern-0001";
    try {
      mintTokens([spec("BAD", value, "opaque", ["api.*.example"])]);
      throw new Error("expected a ConfigError");
    } catch (e) {
      expect(e).toBeInstanceOf(ConfigError);
      expect((e as Error).message).toContain("BAD");
      expect((e as Error).message).toContain("api.*.example");
      expect((e as Error).message.includes(value)).toBe(false);
    }
  });
});

describe("TokenTable", () => {
  const f = fixture();

  test("looks secrets up by token and by name", () => {
    expect(f.table.byToken(f.token("GITHUB_TOKEN"))?.name).toBe("GITHUB_TOKEN");
    expect(f.table.byName("OPENAI_API_KEY")?.token).toBe(f.token("OPENAI_API_KEY"));
    expect(f.table.byToken("KZ_TOK_unknown")).toBeUndefined();
  });

  test("findTokens reports each secret once, in order of first appearance, in text and bytes", () => {
    const text = `a ${f.token("GITHUB_TOKEN")} b ${f.token("OPENAI_API_KEY")} c ${f.token("GITHUB_TOKEN")}`;
    expect(f.table.findTokens(text).map((s) => s.name)).toEqual(["GITHUB_TOKEN", "OPENAI_API_KEY"]);
    expect(f.table.findTokens(enc(text)).map((s) => s.name)).toEqual(["GITHUB_TOKEN", "OPENAI_API_KEY"]);
    expect(f.table.findTokens("nothing here")).toEqual([]);
    expect(f.table.findTokens(f.token("GITHUB_TOKEN").slice(0, -1))).toEqual([]);
  });

  test("forHost returns the secrets bound to a destination", () => {
    expect(f.table.forHost(openai).map((s) => s.name)).toEqual(["OPENAI_API_KEY"]);
    expect(f.table.forHost(github).map((s) => s.name)).toEqual(["GITHUB_TOKEN"]);
    expect(f.table.forHost({ host: "files.slack.com", port: 443, tls: true }).map((s) => s.name)).toEqual(["SLACK_BOT_TOKEN"]);
    expect(f.table.forHost({ host: "evil.test", port: 443, tls: true })).toEqual([]);
    expect(f.table.forHost({ host: "api.openai.com", port: 80, tls: false })).toEqual([]); // plain http
  });

  test("intercepts names the hosts some secret is bound to", () => {
    expect(f.table.intercepts(openai)).toBe(true);
    expect(f.table.intercepts({ host: "evil.test", port: 443, tls: true })).toBe(false);
  });

  test("rejects overlapping tokens", () => {
    const value = new SecretValue("fake-0001");
    expect(
      () =>
        new TokenTable([
          { name: "A", token: "KZ_TOK_abc", value, hosts: ["a.example"] },
          { name: "B", token: "KZ_TOK_abcdef", value, hosts: ["b.example"] },
        ]),
    ).toThrow(/overlap/);
  });
});
