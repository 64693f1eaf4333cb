// The server's bundle.yaml loader: parses it with Bun.YAML and validates every key into a plain, typed
// Bundle — issuers, providers and secrets (through the same DocValidator as .keyzero.toml), fetch
// settings, policies (CEL kept as text: the policy layer compiles it), audit, mcp and policy test cases.
// Errors are one ConfigError naming file:line and the key; they echo names, never a string value (a
// credential may have been pasted where a ref belongs).

import { existsSync, readFileSync } from "node:fs";
import { dirname, isAbsolute, join, resolve } from "node:path";
import { ConfigError } from "../errors.ts";
import { displayPath } from "./load.ts";
import { duplicateYamlKeys, locateYamlKey } from "./locate-yaml.ts";
import { DocValidator } from "./schema.ts";
import { didYouMean } from "./suggest.ts";
import type { ProviderSettings, SecretSpec } from "./types.ts";
import { isLoopbackName } from "./loopback.ts";

export type RuleEffect = "allow" | "deny";
export const ruleEffects: RuleEffect[] = ["allow", "deny"];

export type RequestAction = "resolve" | "fetch" | "decide" | "mint" | "share" | "query";
export const requestActions: RequestAction[] = ["resolve", "fetch", "decide", "mint", "share", "query"];

/** Asymmetric JWS algorithms an issuer may pin. Shared-secret (HS*) and `none` are refused. */
export const jwtAlgorithms = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA", "Ed25519"];

export const MAX_CLOCK_TOLERANCE_S = 300;

/**
 * One entry of `issuers:`, in the shape src/identity/verify.ts takes. A `preset` may leave `issuer`,
 * `algorithms` and the key source to the identity layer's preset table (src/identity/presets.ts), which
 * fills them in; without a preset they are required here.
 */
export interface IssuerConfig {
  name: string;
  issuer?: string;
  /** Accepted `aud` values (at least one). */
  audience: string[];
  algorithms?: string[];
  /** At most one key source is set (exactly one without a preset); file paths are absolute. */
  jwksFile?: string;
  jwksUrl?: string;
  publicKeyFile?: string;
  /** Seconds; absent means the identity layer's default. */
  clockToleranceSeconds?: number;
  preset?: string;
  origin: string;
}

export interface FetchSettings {
  /** Absolute path of extra upstream roots. */
  upstreamCa?: string;
  resolve: Record<string, string>;
  allowPrivate: boolean;
  /** MCP `fetch` cuts response bodies at this many bytes (absent: the MCP layer's default). */
  maxResponseBytes?: number;
  /** MCP `fetch` gives up after this long (absent: the MCP layer's default). */
  timeoutMs?: number;
}

/** `query:` — the MCP `query` tool's limits (absent: the tool's defaults). */
export interface QuerySettings {
  timeoutMs?: number;
  /** The most rows a call may ask for (max_rows' ceiling). */
  maxRows?: number;
  maxBytes?: number;
}

export interface PolicyRuleConfig {
  cel: string;
  effect: RuleEffect;
  /** "file:line" of the rule's `cel` key. */
  origin: string;
}

export interface PolicyConfig {
  match: string;
  rules: PolicyRuleConfig[];
  origin: string;
}

export interface PolicyTestCase {
  name: string;
  /** The verified claims the case pretends to present. */
  identity: Record<string, unknown>;
  secret: string;
  action: RequestAction;
  request: { host?: string; method?: string; path?: string; write?: boolean };
  /** Fixed evaluation time (RFC 3339), for rules that use `now`. */
  now?: string;
  expect: RuleEffect;
  origin: string;
}

export interface Bundle {
  /** The bundle file, absolute; `dir` is what relative paths resolve against. */
  path: string;
  dir: string;
  /** The path as shown in messages. */
  file: string;
  issuers: IssuerConfig[];
  providers: Record<string, ProviderSettings>;
  secrets: SecretSpec[];
  fetch: FetchSettings;
  query: QuerySettings;
  policies: PolicyConfig[];
  /** Absolute path of the audit log, or "-" for stdout; the chain's key file (created on first use). */
  audit: { path: string; keyFile: string };
  mcp: { allowedOrigins: string[] };
  tests: PolicyTestCase[];
  /** `state:` — where the server keeps shares, captured secrets, revocations and leases (src/state/types.ts StateConfig). */
  state: { kind: "sqlite"; path: string; keyFile: string } | { kind: "redis"; url: string; keyFile: string };
  /** `tokens:` — the minting key (PKCS#8 P-256, absolute); absent: a fresh key per process. */
  tokens: { signingKeyFile?: string };
}

const topKeys = ["issuers", "providers", "secrets", "fetch", "query", "policies", "audit", "mcp", "tests", "state", "tokens"];
const issuerKeys = ["name", "issuer", "audience", "algorithms", "jwks_file", "jwks_url", "public_key_file", "clock_tolerance", "preset"];
const fetchKeys = ["upstream_ca", "resolve", "allow_private", "max_response_bytes", "timeout_ms"];
const policyKeys = ["match", "rules"];
const ruleKeys = ["cel", "effect"];
const testKeys = ["name", "identity", "secret", "action", "request", "now", "expect"];
const testRequestKeys = ["host", "method", "path", "write"];

/** Reads and parses a YAML file. Syntax errors name the first line at which the document stops parsing. */
export function readYamlFile(path: string, display: string): { doc: unknown; text: string } {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new ConfigError(code === "ENOENT" ? `${display}: no such file` : `${display}: cannot read (${code ?? "error"})`);
  }
  let doc: unknown;
  try {
    doc = Bun.YAML.parse(text);
  } catch (e) {
    const reason = e instanceof Error ? e.message.replace(/^YAML Parse error:\s*/, "") : "syntax error";
    const line = firstBadLine(text);
    throw new ConfigError(`${display}${line ? `:${line}` : ""}: invalid YAML: ${reason}`);
  }
  const dup = duplicateYamlKeys(text)[0];
  if (dup) {
    throw new ConfigError(`${display}:${dup.line}: ${dup.path.join(".")}: duplicate key — YAML would silently keep only the last one`);
  }
  return { doc, text };
}

/** The line after the longest prefix of `text` that still parses (Bun.YAML reports no position). */
function firstBadLine(text: string): number | undefined {
  const lines = text.split("\n");
  for (let n = lines.length - 1; n >= 0; n--) {
    try {
      Bun.YAML.parse(lines.slice(0, n).join("\n"));
      return n + 1;
    } catch {
      // keep shortening
    }
  }
  return undefined;
}

/** A DocValidator whose error locations come from YAML text. */
export function yamlValidator(file: string, text: string): DocValidator {
  return new DocValidator({ file, text, locate: locateYamlKey });
}

/** Loads and validates a bundle file. Throws ConfigError. */
export function loadBundle(path: string, cwd = process.cwd()): Bundle {
  const absolute = resolve(cwd, path);
  const file = displayPath(absolute, cwd);
  const { doc, text } = readYamlFile(absolute, file);
  return validateBundle(doc, { path: absolute, file, text });
}

/** Validates a parsed bundle document; `text` is its source, for line numbers. */
export function validateBundle(doc: unknown, source: { path: string; file: string; text: string }): Bundle {
  const v = yamlValidator(source.file, source.text);
  const dir = dirname(source.path);
  if (doc === null || doc === undefined) throw new ConfigError(`${source.file}: the bundle is empty — it needs at least issuers and policies`);
  const top = v.table(doc, []);
  v.onlyKeys(top, topKeys, []);

  const secrets = [...v.secrets(top.secrets, ["secrets"]).values()];
  const audit = v.table(top.audit, ["audit"]);
  v.onlyKeys(audit, ["path", "key_file"], ["audit"]);
  const auditPath = v.string(audit.path, ["audit", "path"]) ?? "audit.jsonl";
  const auditLog = auditPath === "-" ? "-" : resolve(dir, auditPath);
  // The chain's key: audit.key beside the log (beside the bundle when the log is stdout) unless named.
  const auditKeyFile = v.string(audit.key_file, ["audit", "key_file"]);
  const mcp = v.table(top.mcp, ["mcp"]);
  v.onlyKeys(mcp, ["allowed_origins"], ["mcp"]);

  return {
    path: source.path,
    dir,
    file: source.file,
    issuers: issuers(v, top.issuers, dir),
    providers: v.providers(top.providers, ["providers"]),
    secrets,
    fetch: fetchSettings(v, top.fetch, dir),
    query: querySettings(v, top.query),
    policies: policies(v, top.policies),
    audit: {
      path: auditLog,
      keyFile: auditKeyFile ? resolve(dir, auditKeyFile) : join(auditLog === "-" ? dir : dirname(auditLog), "audit.key"),
    },
    mcp: { allowedOrigins: origins(v, mcp.allowed_origins, ["mcp", "allowed_origins"]) },
    tests: testCases(v, top.tests, ["tests"], secrets.map((s) => s.name)),
    state: stateConfig(v, top.state, dir),
    tokens: tokensConfig(v, top.tokens, dir),
  };
}

/** `state: { path: ./state.db }` (the default) or `state: { redis: "redis://…" }`, plus `key_file`. */
function stateConfig(v: DocValidator, value: unknown, dir: string): Bundle["state"] {
  const t = v.table(value, ["state"]);
  v.onlyKeys(t, ["path", "redis", "key_file"], ["state"]);
  const path = v.string(t.path, ["state", "path"]);
  const redis = v.string(t.redis, ["state", "redis"]);
  const keyFile = resolve(dir, v.string(t.key_file, ["state", "key_file"]) || "state.key");
  if (path !== undefined && redis !== undefined) v.fail(["state"], "give either path (SQLite) or redis, not both");
  if (path === "") v.fail(["state", "path"], "must name a file, e.g. path: ./state.db");
  if (redis === undefined) return { kind: "sqlite", path: resolve(dir, path ?? "state.db"), keyFile };
  // Never echoed: the URL may hold a password.
  let protocol: string | undefined;
  try {
    protocol = new URL(redis).protocol;
  } catch {
    // reported below
  }
  if (!protocol || !["redis:", "rediss:", "valkey:", "valkeys:"].includes(protocol)) {
    v.fail(["state", "redis"], "must be a redis:// or rediss:// URL, e.g. redis: redis://127.0.0.1:6379");
  }
  return { kind: "redis", url: redis, keyFile };
}

/** `tokens: { signing_key_file: ./mint-key.pem }`: replicas that share it verify each other's minted tokens. */
function tokensConfig(v: DocValidator, value: unknown, dir: string): Bundle["tokens"] {
  const t = v.table(value, ["tokens"]);
  v.onlyKeys(t, ["signing_key_file"], ["tokens"]);
  const signingKeyFile = existingFile(v, v.string(t.signing_key_file, ["tokens", "signing_key_file"]), ["tokens", "signing_key_file"], dir);
  return signingKeyFile === undefined ? {} : { signingKeyFile };
}

function list(v: DocValidator, value: unknown, path: string[], example: string): unknown[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) v.fail(path, `must be a list, e.g. ${example}`);
  return value;
}

function required<T>(v: DocValidator, value: T | undefined, path: string[], hint: string): T {
  if (value === undefined || value === "") v.fail(path, `missing "${path[path.length - 1]}" — ${hint}`);
  return value;
}

function existingFile(v: DocValidator, value: string | undefined, path: string[], dir: string): string | undefined {
  if (value === undefined) return undefined;
  const absolute = isAbsolute(value) ? value : resolve(dir, value);
  if (!existsSync(absolute)) v.fail(path, "no such file (relative paths are relative to the bundle)");
  return absolute;
}

function issuers(v: DocValidator, value: unknown, dir: string): IssuerConfig[] {
  const items = list(v, value, ["issuers"], "[{ name: local, issuer: https://idp.example, audience: keyzero, jwks_file: jwks.json }]");
  if (items.length === 0) v.fail(["issuers"], "a bundle needs at least one issuer, or no identity token can be verified");
  const out: IssuerConfig[] = [];
  items.forEach((raw, i) => {
    const path = ["issuers", String(i)];
    const t = v.table(raw, path);
    v.onlyKeys(t, issuerKeys, path);
    const name = required(v, v.string(t.name, [...path, "name"]), [...path, "name"], "give each issuer a short name, used in audit records");
    if (out.some((o) => o.name === name)) v.fail([...path, "name"], `issuer name "${name}" is used twice`);
    const preset = v.string(t.preset, [...path, "preset"]);
    const withoutPreset = preset === undefined;

    const issuer = v.string(t.issuer, [...path, "issuer"]);
    if (withoutPreset) required(v, issuer, [...path, "issuer"], "the exact `iss` value of the tokens");
    if (issuer !== undefined && out.some((o) => o.issuer === issuer)) {
      v.fail([...path, "issuer"], "another issuer has the same `issuer` value; list several audiences on one entry instead");
    }

    let audience: string[];
    if (typeof t.audience === "string" && t.audience !== "") audience = [t.audience];
    else if (t.audience === undefined) v.fail(path, `missing "audience" — every token's \`aud\` is pinned, e.g. audience: keyzero`);
    else audience = v.stringList(t.audience, [...path, "audience"])!;
    if (audience.length === 0) v.fail([...path, "audience"], "list at least one audience");

    const algorithms = v.stringList(t.algorithms, [...path, "algorithms"]);
    if (withoutPreset && (!algorithms || algorithms.length === 0)) v.fail(path, `missing "algorithms" — pin the signing algorithms, e.g. algorithms: [ES256]`);
    for (const alg of algorithms ?? []) {
      if (/^HS\d+$/i.test(alg) || alg.toLowerCase() === "none") {
        v.fail([...path, "algorithms"], `${alg} is not accepted: use an asymmetric algorithm (${jwtAlgorithms.join(", ")})`);
      }
      if (!jwtAlgorithms.includes(alg)) v.fail([...path, "algorithms"], `unknown algorithm${didYouMean(alg, jwtAlgorithms).replace("valid keys", "known algorithms")}`);
    }

    const keys = {
      jwksFile: existingFile(v, v.string(t.jwks_file, [...path, "jwks_file"]), [...path, "jwks_file"], dir),
      jwksUrl: v.string(t.jwks_url, [...path, "jwks_url"]),
      publicKeyFile: existingFile(v, v.string(t.public_key_file, [...path, "public_key_file"]), [...path, "public_key_file"], dir),
    };
    const given = Object.values(keys).filter((x) => x !== undefined).length;
    if (given > 1) v.fail(path, "give exactly one of jwks_file, jwks_url, public_key_file");
    if (given === 0 && withoutPreset) v.fail(path, "missing a key source — give one of jwks_file, jwks_url, public_key_file");
    if (keys.jwksUrl !== undefined) {
      let url: URL | undefined;
      try {
        url = new URL(keys.jwksUrl);
      } catch {
        // reported below
      }
      if (!url || !(url.protocol === "https:" || (url.protocol === "http:" && isLoopbackName(url.hostname)))) {
        v.fail([...path, "jwks_url"], "must be an https:// URL (plain http only to a loopback address)");
      }
    }

    const entry: IssuerConfig = { name, audience, origin: v.where(path) };
    if (issuer !== undefined) entry.issuer = issuer;
    if (algorithms !== undefined) entry.algorithms = algorithms;
    if (keys.jwksFile !== undefined) entry.jwksFile = keys.jwksFile;
    if (keys.jwksUrl !== undefined) entry.jwksUrl = keys.jwksUrl;
    if (keys.publicKeyFile !== undefined) entry.publicKeyFile = keys.publicKeyFile;
    const tolerance = clockTolerance(v, t.clock_tolerance, [...path, "clock_tolerance"]);
    if (tolerance !== undefined) entry.clockToleranceSeconds = tolerance;
    if (preset !== undefined) entry.preset = preset;
    out.push(entry);
  });
  return out;
}

/** Seconds from `30`, `"30s"`, `"2m"`. */
function clockTolerance(v: DocValidator, value: unknown, path: string[]): number | undefined {
  if (value === undefined) return undefined;
  let seconds: number | undefined;
  if (typeof value === "number" && Number.isInteger(value)) seconds = value;
  else if (typeof value === "string") {
    const m = /^(\d+)\s*(s|m)?$/.exec(value.trim());
    if (m) seconds = Number(m[1]) * (m[2] === "m" ? 60 : 1);
  }
  if (seconds === undefined || seconds < 0) v.fail(path, `must be whole seconds, e.g. 5 or "30s"`);
  if (seconds > MAX_CLOCK_TOLERANCE_S) v.fail(path, `at most ${MAX_CLOCK_TOLERANCE_S} seconds: a large tolerance keeps expired tokens alive`);
  return seconds;
}

function fetchSettings(v: DocValidator, value: unknown, dir: string): FetchSettings {
  const t = v.table(value, ["fetch"]);
  v.onlyKeys(t, fetchKeys, ["fetch"]);
  const resolveTable = v.table(t.resolve, ["fetch", "resolve"]);
  const pins: Record<string, string> = {};
  for (const [host, addr] of Object.entries(resolveTable)) {
    const target = v.string(addr, ["fetch", "resolve", host]);
    if (!target || !/:\d+$/.test(host) || !/:\d+$/.test(target)) {
      v.fail(["fetch", "resolve", host], `pins "host:port" to "address:port", e.g. "api.example.test:443": "127.0.0.1:9443"`);
    }
    pins[host] = target;
  }
  return {
    upstreamCa: existingFile(v, v.string(t.upstream_ca, ["fetch", "upstream_ca"]), ["fetch", "upstream_ca"], dir),
    resolve: pins,
    allowPrivate: v.boolean(t.allow_private, ["fetch", "allow_private"]) ?? false,
    maxResponseBytes: boundedInteger(v, t.max_response_bytes, ["fetch", "max_response_bytes"], 1024, 16 * 1024 * 1024),
    timeoutMs: boundedInteger(v, t.timeout_ms, ["fetch", "timeout_ms"], 100, 300_000),
  };
}

function querySettings(v: DocValidator, value: unknown): QuerySettings {
  const t = v.table(value, ["query"]);
  v.onlyKeys(t, ["timeout_ms", "max_rows", "max_bytes"], ["query"]);
  return {
    timeoutMs: boundedInteger(v, t.timeout_ms, ["query", "timeout_ms"], 100, 300_000),
    maxRows: boundedInteger(v, t.max_rows, ["query", "max_rows"], 1, 10_000),
    maxBytes: boundedInteger(v, t.max_bytes, ["query", "max_bytes"], 1024, 16 * 1024 * 1024),
  };
}

function boundedInteger(v: DocValidator, value: unknown, path: string[], min: number, max: number): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== "number" || !Number.isInteger(value) || value < min || value > max) {
    v.fail(path, `must be a whole number from ${min} to ${max}`);
  }
  return value;
}

function origins(v: DocValidator, value: unknown, path: string[]): string[] {
  const out = v.stringList(value, path) ?? [];
  for (const origin of out) {
    let parsed: string | undefined;
    try {
      parsed = new URL(origin).origin;
    } catch {
      // reported below
    }
    if (parsed !== origin) v.fail(path, `each entry is an origin — scheme://host[:port], no path or trailing slash, e.g. https://app.example.com`);
  }
  return out;
}

function policies(v: DocValidator, value: unknown): PolicyConfig[] {
  const items = list(v, value, ["policies"], `[{ match: "secret/data/prod/**", rules: [{ cel: "…", effect: allow }] }]`);
  return items.map((raw, i) => {
    const path = ["policies", String(i)];
    const t = v.table(raw, path);
    v.onlyKeys(t, policyKeys, path);
    const match = required(v, v.string(t.match, [...path, "match"]), [...path, "match"], `a glob over secret refs, e.g. "secret/data/prod/**" ("**" for all)`);
    const rules = list(v, t.rules, [...path, "rules"], `[{ cel: "identity.team == 'data'", effect: allow }]`);
    if (rules.length === 0) v.fail([...path, "rules"], "a policy needs at least one rule");
    return {
      match,
      origin: v.where(path),
      rules: rules.map((rawRule, j) => {
        const rpath = [...path, "rules", String(j)];
        const r = v.table(rawRule, rpath);
        v.onlyKeys(r, ruleKeys, rpath);
        const cel = required(v, v.string(r.cel, [...rpath, "cel"]), [...rpath, "cel"], "a CEL condition over identity, secret, request and now");
        const effect = required(v, v.string(r.effect, [...rpath, "effect"]), [...rpath, "effect"], "allow or deny");
        if (!ruleEffects.includes(effect as RuleEffect)) v.fail([...rpath, "effect"], "must be allow or deny");
        return { cel, effect: effect as RuleEffect, origin: v.where([...rpath, "cel"]) };
      }),
    };
  });
}

/** Policy test cases under `path` (a bundle's `tests`, or a *_test.yaml file's). Each names a defined secret. */
export function testCases(v: DocValidator, value: unknown, path: string[], secretNames: string[]): PolicyTestCase[] {
  const items = list(v, value, path, `[{ name: "…", identity: { sub: "…" }, secret: NAME, action: resolve, expect: allow }]`);
  return items.map((raw, i) => {
    const cpath = [...path, String(i)];
    const t = v.table(raw, cpath);
    v.onlyKeys(t, testKeys, cpath);
    const name = required(v, v.string(t.name, [...cpath, "name"]), [...cpath, "name"], "say what the case checks");
    const secret = required(v, v.string(t.secret, [...cpath, "secret"]), [...cpath, "secret"], "the name of a secret in the bundle");
    if (!secretNames.includes(secret)) {
      const hint = secretNames.length ? didYouMean(secret, secretNames).replace("valid keys", "defined secrets") : " — it defines none";
      v.fail([...cpath, "secret"], `no secret "${secret}" in the bundle${hint}`);
    }
    const action = v.string(t.action, [...cpath, "action"]) ?? "resolve";
    if (!requestActions.includes(action as RequestAction)) v.fail([...cpath, "action"], `must be one of ${requestActions.join(", ")}`);
    const expect = required(v, v.string(t.expect, [...cpath, "expect"]), [...cpath, "expect"], "allow or deny");
    if (!ruleEffects.includes(expect as RuleEffect)) v.fail([...cpath, "expect"], "must be allow or deny");
    const request = v.table(t.request, [...cpath, "request"]);
    v.onlyKeys(request, testRequestKeys, [...cpath, "request"]);
    const now = v.string(t.now, [...cpath, "now"]);
    if (now !== undefined && Number.isNaN(Date.parse(now))) v.fail([...cpath, "now"], `must be an RFC 3339 time, e.g. "2025-01-31T12:00:00Z"`);
    return {
      name,
      identity: v.table(t.identity, [...cpath, "identity"]),
      secret,
      action: action as RequestAction,
      request: {
        host: v.string(request.host, [...cpath, "request", "host"]),
        method: v.string(request.method, [...cpath, "request", "method"]),
        path: v.string(request.path, [...cpath, "request", "path"]),
        ...(request.write !== undefined ? { write: v.boolean(request.write, [...cpath, "request", "write"]) } : {}),
      },
      now,
      expect: expect as RuleEffect,
      origin: v.where(cpath),
    };
  });
}
