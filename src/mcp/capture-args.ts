// `fetch`'s `capture` argument, checked before any request is made: each entry's JSON Pointer, the name
// it is stored as, the hosts it may later be sent to and its lifetime. Pure; what needs the bundle or the
// state (a name shadowing a bundle secret, hosts wider than the capturing request's) is captured.ts.

import { parseHostPattern } from "../blind/hosts.ts";
import { parsePointer } from "./json-pointer.ts";

export interface CaptureSpec {
  pointer: string;
  /** The reference tokens of `pointer`. */
  tokens: string[];
  as: string;
  hosts: string[];
  ttlMs: number;
}

export const MAX_CAPTURES = 16;
export const MAX_CAPTURE_HOSTS = 16;
export const DEFAULT_CAPTURE_TTL_MS = 3600_000;
export const MIN_CAPTURE_TTL_MS = 60_000;
export const MAX_CAPTURE_TTL_MS = 24 * 3600_000;
/** A captured secret's name: like an environment variable, and not one of kz's own (KZ_…). */
export const CAPTURE_NAME = /^[A-Z_][A-Z0-9_]{0,63}$/;

/** "90s", "15m", "1h", "1h30m" → milliseconds; undefined when it is none of those. */
export function parseDuration(text: string): number | undefined {
  const match = /^(?:(\d{1,3})h)?(?:(\d{1,4})m)?(?:(\d{1,6})s)?$/.exec(text.trim());
  if (!match || text.trim() === "") return undefined;
  const [, h, m, s] = match;
  return ((Number(h ?? 0) * 60 + Number(m ?? 0)) * 60 + Number(s ?? 0)) * 1000;
}

function captureEntry(value: unknown, at: string): CaptureSpec | string {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return `${at} must be an object { pointer, as, hosts?, ttl? }`;
  const entry = value as Record<string, unknown>;
  const extra = Object.keys(entry).filter((k) => !["pointer", "as", "hosts", "ttl"].includes(k));
  if (extra.length > 0) return `${at} has unknown key ${JSON.stringify(extra[0]!.slice(0, 40))} (it takes pointer, as, hosts, ttl)`;

  if (typeof entry.pointer !== "string") return `${at}.pointer must be a JSON Pointer such as "/password"`;
  const tokens = parsePointer(entry.pointer);
  if (typeof tokens === "string") return `${at}.pointer ${JSON.stringify(entry.pointer.slice(0, 100))}: ${tokens}`;

  if (typeof entry.as !== "string" || !CAPTURE_NAME.test(entry.as)) {
    return `${at}.as must be a name of capital letters, digits and "_" (not starting with a digit, at most 64), e.g. "NEW_DB_PASSWORD"`;
  }
  if (entry.as.startsWith("KZ_")) return `${at}.as: names starting with KZ_ are reserved for kz`;

  const hosts: string[] = [];
  if (entry.hosts !== undefined) {
    if (!Array.isArray(entry.hosts) || entry.hosts.some((h) => typeof h !== "string")) return `${at}.hosts must be a list of host names, e.g. ["api.example.com"]`;
    if (entry.hosts.length > MAX_CAPTURE_HOSTS) return `${at}.hosts lists more than ${MAX_CAPTURE_HOSTS} hosts`;
    for (const host of entry.hosts as string[]) {
      try {
        parseHostPattern(host);
      } catch (error) {
        return `${at}.hosts: ${(error as Error).message}`;
      }
      hosts.push(host.trim());
    }
  }

  let ttlMs = DEFAULT_CAPTURE_TTL_MS;
  if (entry.ttl !== undefined) {
    const parsed = typeof entry.ttl === "string" ? parseDuration(entry.ttl) : undefined;
    if (parsed === undefined) return `${at}.ttl must be a duration such as "15m", "1h" or "1h30m"`;
    if (parsed < MIN_CAPTURE_TTL_MS || parsed > MAX_CAPTURE_TTL_MS) return `${at}.ttl must be between 1m and 24h`;
    ttlMs = parsed;
  }
  return { pointer: entry.pointer, tokens, as: entry.as, hosts, ttlMs };
}

/** `capture` as given to `fetch`, or why it cannot be used. */
export function parseCapture(value: unknown): CaptureSpec[] | string {
  if (!Array.isArray(value)) return '"capture" must be a list of { pointer, as, hosts?, ttl? }';
  if (value.length === 0) return '"capture" is empty; leave it out to capture nothing';
  if (value.length > MAX_CAPTURES) return `"capture" lists ${value.length} entries; at most ${MAX_CAPTURES} per request`;
  const specs: CaptureSpec[] = [];
  for (const [i, item] of value.entries()) {
    const spec = captureEntry(item, `capture[${i}]`);
    if (typeof spec === "string") return spec;
    if (specs.some((s) => s.as === spec.as)) return `capture[${i}].as: ${spec.as} is captured twice in this request`;
    specs.push(spec);
  }
  return specs;
}

/** `capture` in fetch's input schema. */
export const CAPTURE_INPUT_SCHEMA = {
  type: "array",
  maxItems: MAX_CAPTURES,
  description:
    "Capture credentials the response creates (e.g. a new user's password) without seeing them: each entry names a value in " +
    'the JSON response by JSON Pointer ("/password", "/data/0/key") and the name to keep it under. kz stores the value for you ' +
    "alone, replaces it in the result by a token (KZ_TOK_…) and returns the token under `captured`. Use the name with `share` to " +
    "hand the value to a person, or (when you gave `hosts`) with `fetch` as `secret` or its token. A pointer that finds nothing, " +
    "or a response that is not JSON, is an error and nothing is kept — the body is then withheld.",
  items: {
    type: "object",
    properties: {
      pointer: { type: "string", description: 'JSON Pointer (RFC 6901) into the response body, e.g. "/password".' },
      as: { type: "string", description: "Name for the captured secret: capitals, digits and _ (e.g. NEW_DB_PASSWORD); not a name list_secrets already shows." },
      hosts: {
        type: "array",
        items: { type: "string" },
        description:
          "Hosts `fetch` may later send it to — each must be the host of this request or one the secrets used in this request may reach. " +
          "Default none: it can then only be shared.",
      },
      ttl: { type: "string", description: 'How long it is kept: "15m", "1h" (default), at most "24h".' },
    },
    required: ["pointer", "as"],
    additionalProperties: false,
  },
};

/** `captured` in fetch's output schema. */
export const CAPTURED_OUTPUT_SCHEMA = {
  type: "array",
  items: {
    type: "object",
    properties: {
      name: { type: "string" },
      pointer: { type: "string" },
      token: { type: "string" },
      hosts: { type: "array", items: { type: "string" } },
      expires_at: { type: "string" },
    },
    required: ["name", "pointer", "token", "hosts", "expires_at"],
  },
};
