// Blind-mode tokens: minting the stand-in each blinded secret is given for one run, and the TokenTable
// that maps a token back to its secret and says which secrets a destination may receive.
//
// Token formats:
//   opaque    "KZ_TOK_" + base64url of 18 random bytes (144 bits), 31 characters.
//   preserve  looks like the real value, for clients that check a key's shape: the value's recognisable
//             prefix kept (the leading "letters-or-_" groups such as "sk-proj-", "ghp_", "xoxb-",
//             "github_pat_", at most 12 characters; else the first 4 characters when the value is at
//             least 24 long), the same length, the rest random from the value's own alphabet class
//             (digits, lower-case hex, upper-case hex, else alphanumerics — always URL-safe). When that
//             leaves fewer than 120 random bits (a short value, or no recognisable prefix) the secret
//             falls back to an opaque token: a 20-character AWS key id is one such case.
// Every token is unique in the run, no token is a substring of another or of any real value, so a
// token found in a request names exactly one secret. A draw that breaks this is simply re-drawn.

import { ConfigError } from "../errors.ts";
import type { Placement } from "../config/placement.ts";
import type { TokenFormat } from "../config/types.ts";
import type { SecretValue } from "../secret.ts";
import { type HostPattern, bindingProblem, matchesHost, parseHostPattern } from "./hosts.ts";
import { Needles } from "../resolve/needles.ts";
import type { BlindSecret, Destination } from "./types.ts";

export const TOKEN_PREFIX = "KZ_TOK_";
export const OPAQUE_RANDOM_BYTES = 18;
export const MIN_RANDOM_BITS = 120;
const MAX_DRAWS = 64;

export interface TokenSpec {
  name: string;
  value: SecretValue;
  hosts: string[];
  tokenFormat: TokenFormat;
  swap?: readonly Placement[];
}

/** Fills n random bytes; crypto.getRandomValues unless a test supplies its own source. */
export type RandomBytes = (n: number) => Uint8Array;
const cryptoRandom: RandomBytes = (n) => crypto.getRandomValues(new Uint8Array(n));

/** Mints one token per spec. Throws ConfigError for a secret without hosts or with a bad host pattern. */
export function mintTokens(specs: TokenSpec[], random: RandomBytes = cryptoRandom): BlindSecret[] {
  for (const spec of specs) compileHosts(spec.name, spec.hosts);
  const values = specs.map((s) => s.value.reveal()).filter((v) => v.length > 0);
  const minted: string[] = [];
  const acceptable = (token: string) =>
    !minted.some((t) => t.includes(token) || token.includes(t)) && !values.some((v) => v.includes(token));
  return specs.map((spec) => {
    const token = drawToken(spec, random, acceptable);
    minted.push(token);
    return { name: spec.name, token, value: spec.value, hosts: [...spec.hosts], ...(spec.swap ? { swap: [...spec.swap] } : {}) };
  });
}

function drawToken(spec: TokenSpec, random: RandomBytes, acceptable: (t: string) => boolean): string {
  if (spec.tokenFormat === "preserve") {
    for (let i = 0; i < MAX_DRAWS; i++) {
      const token = preserveToken(spec.value.reveal(), random);
      if (token === undefined) break;
      if (acceptable(token)) return token;
    }
  }
  for (let i = 0; i < MAX_DRAWS; i++) {
    const token = opaqueToken(random);
    if (acceptable(token)) return token;
  }
  throw new Error(`could not mint a unique token for ${spec.name} (the random source repeats itself)`);
}

export function opaqueToken(random: RandomBytes = cryptoRandom): string {
  return TOKEN_PREFIX + Buffer.from(random(OPAQUE_RANDOM_BYTES)).toString("base64url");
}

const ALPHABETS: { test: RegExp; chars: string }[] = [
  { test: /^[0-9]*$/, chars: "0123456789" },
  { test: /^[0-9a-f]*$/, chars: "0123456789abcdef" },
  { test: /^[0-9A-F]*$/, chars: "0123456789ABCDEF" },
  { test: /./s, chars: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789" },
];

/** A same-shape token for `value`, or undefined when it could not carry MIN_RANDOM_BITS (use opaque). */
export function preserveToken(value: string, random: RandomBytes = cryptoRandom): string | undefined {
  const prefix = recognisablePrefix(value);
  if (prefix === undefined) return undefined;
  const rest = value.slice(prefix.length);
  const alphabet = ALPHABETS.find((a) => a.test.test(rest))!.chars;
  if (rest.length * Math.log2(alphabet.length) < MIN_RANDOM_BITS) return undefined;
  return prefix + randomString(rest.length, alphabet, random);
}

/** "sk-proj-", "ghp_", "xoxb-": leading letter groups each ending in - or _, at most 12 characters in all;
 * else the first 4 characters of a value at least 24 long (when they are URL-safe). */
export function recognisablePrefix(value: string): string | undefined {
  let prefix = "";
  for (const group of value.match(/^(?:[A-Za-z]+[-_])+/)?.[0].match(/[A-Za-z]+[-_]/g) ?? []) {
    if (prefix.length + group.length > 12) break;
    prefix += group;
  }
  if (prefix) return prefix;
  if (value.length >= 24 && /^[A-Za-z0-9_-]{4}/.test(value)) return value.slice(0, 4);
  return undefined;
}

/** Uniform characters from `alphabet` (rejection sampling, so no modulo bias). */
function randomString(length: number, alphabet: string, random: RandomBytes): string {
  const usable = 256 - (256 % alphabet.length);
  let out = "";
  while (out.length < length) {
    for (const b of random(length - out.length + 8)) {
      if (b < usable && out.length < length) out += alphabet[b % alphabet.length];
    }
  }
  return out;
}

/** A blinded secret's host patterns, parsed; ConfigError (exit 3) when they are missing or malformed. */
export function compileHosts(name: string, hosts: string[]): HostPattern[] {
  if (hosts.length === 0) {
    throw new ConfigError(
      `${name}: blind mode needs hosts = ["api.example.com"] saying where the secret may be sent (hosts = ["*"] allows any host; blind = false passes it raw)`,
    );
  }
  return hosts.map((text) => {
    try {
      return parseHostPattern(text);
    } catch (error) {
      throw new ConfigError(`${name}: ${(error as Error).message}`);
    }
  });
}

/** The run's tokens: token → secret, which tokens occur in some text, which secrets a destination may get. */
export class TokenTable {
  readonly secrets: readonly BlindSecret[];
  /** One needle per secret, in the same order: needle i is secrets[i].token. */
  readonly needles: Needles;
  private readonly patterns: HostPattern[][];
  private readonly byTokenMap = new Map<string, BlindSecret>();
  private readonly byNameMap = new Map<string, BlindSecret>();

  constructor(secrets: BlindSecret[]) {
    for (const a of secrets) {
      for (const b of secrets) {
        if (a !== b && b.token.includes(a.token)) throw new Error(`tokens of ${a.name} and ${b.name} overlap`);
      }
    }
    this.secrets = secrets;
    this.needles = new Needles(secrets.map((s) => s.token));
    this.patterns = secrets.map((s) => compileHosts(s.name, s.hosts));
    for (const s of secrets) {
      this.byTokenMap.set(s.token, s);
      this.byNameMap.set(s.name, s);
    }
  }

  byToken(token: string): BlindSecret | undefined {
    return this.byTokenMap.get(token);
  }

  byName(name: string): BlindSecret | undefined {
    return this.byNameMap.get(name);
  }

  /** The secrets whose tokens occur in `input`, each once, in order of first appearance. */
  findTokens(input: string | Uint8Array): BlindSecret[] {
    const matches = typeof input === "string" ? this.needles.findInText(input) : this.needles.findInBytes(input);
    return [...new Set(matches.map((m) => this.secrets[m.needle]!))];
  }

  /** The secrets that may be sent to `dest` (host, port and transport all allow it). */
  forHost(dest: Destination): BlindSecret[] {
    return this.secrets.filter((s, i) => bindingProblem(dest, s, this.patterns[i]) === undefined);
  }

  /** Why `secret` may not go to `dest`; undefined when it may. */
  problemWith(secret: BlindSecret, dest: Destination): string | undefined {
    const i = this.secrets.indexOf(secret);
    return bindingProblem(dest, secret, i >= 0 ? this.patterns[i] : undefined);
  }

  /** Whether some secret's hosts name dest's host and port (the proxy intercepts such hosts). */
  intercepts(dest: Destination): boolean {
    return this.patterns.some((list) => list.some((p) => matchesHost(dest, p)));
  }
}
