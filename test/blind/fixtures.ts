// Shared fixtures for the blind-mode unit tests: a token table over obviously fake credentials, and
// request heads to plan. No value here is a real credential.

import { PLACEMENTS } from "../../src/config/placement.ts";
import { SecretValue } from "../../src/secret.ts";
import { TokenTable, mintTokens } from "../../src/blind/tokens.ts";
import type { BlindSecret, Destination, RequestHead } from "../../src/blind/types.ts";

export const FAKE = {
  OPENAI_API_KEY: "sk-proj-fake-openai-key-0001-abcdefghijklmnopqrstuvwxyz",
  GITHUB_TOKEN: "ghp_fakeGithubToken0001abcdefghijklmnopq",
  SLACK_BOT_TOKEN: "xoxb-fake-slack-0001",
  LOCAL_KEY: 'fake/local+key "quoted" 0001', // needs escaping in URLs, JSON and XML
  SHORT_KEY: "f4k3",
} as const;

export const HOSTS: Record<keyof typeof FAKE, string[]> = {
  OPENAI_API_KEY: ["api.openai.com"],
  GITHUB_TOKEN: ["api.github.com"],
  SLACK_BOT_TOKEN: ["slack.com", "*.slack.com"],
  LOCAL_KEY: ["localhost:8443"],
  SHORT_KEY: ["short.example"],
};

export interface Fixture {
  table: TokenTable;
  secrets: BlindSecret[];
  token: (name: keyof typeof FAKE) => string;
  value: (name: keyof typeof FAKE) => string;
}

export function fixture(): Fixture {
  const secrets = mintTokens(
    (Object.keys(FAKE) as (keyof typeof FAKE)[]).map((name) => ({
      name,
      value: new SecretValue(FAKE[name]),
      hosts: HOSTS[name],
      tokenFormat: "opaque" as const,
      swap: PLACEMENTS, // every place, so the processors' swapping is tested; placement.test.ts tests the limits
    })),
  );
  const table = new TokenTable(secrets);
  return {
    table,
    secrets,
    token: (name) => table.byName(name)!.token,
    value: (name) => FAKE[name],
  };
}

export const openai: Destination = { host: "api.openai.com", port: 443, tls: true };
export const github: Destination = { host: "api.github.com", port: 443, tls: true };
export const local: Destination = { host: "localhost", port: 8443, tls: false };

export function head(target: string, headers: [string, string][] = [], method = "GET"): RequestHead {
  return { method, target, version: "HTTP/1.1", headers };
}

export const enc = (s: string) => new TextEncoder().encode(s);
export const dec = (b: Uint8Array) => new TextDecoder().decode(b);

/** Every real value of the fixture, for "does not leak" checks. */
export const ALL_VALUES: string[] = Object.values(FAKE);

export function leaksNoValue(text: string): boolean {
  return ALL_VALUES.every((v) => !text.includes(v));
}
