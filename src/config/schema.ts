// Validation of a parsed configuration document (.keyzero.toml, its .local override, or a server
// bundle): turns untyped tables into SecretSpecs and provider settings, or throws one ConfigError that
// names the file, the line, the key, and a fix. Never echoes a string value: a user may have pasted a
// credential where a ref belongs.

import { ConfigError } from "../errors.ts";
import { locateKey } from "./locate.ts";
import { inferFromShorthand, providerNames, providerSchemas, vaultAuthMethods, type SettingKind } from "./provider-schema.ts";
import { didYouMean } from "./suggest.ts";
import { PLACEMENTS, type Placement, isPlacement } from "./placement.ts";
import type { BlindSettings, ProviderSettings, SecretSpec, TokenFormat } from "./types.ts";
import { templateProblem } from "./template.ts";

/** Where a document came from, so errors can point into it. */
export interface DocSource {
  file: string; // as displayed to the user
  text: string;
  /** Locates a key path in the text; defaults to the TOML scanner. */
  locate?: (text: string, path: string[]) => number | undefined;
}

export interface ValidatedDoc {
  providers: Record<string, ProviderSettings>;
  secrets: Map<string, SecretSpec>;
  blind: Partial<BlindSettings>;
  audit: { path?: string };
  envs: Map<string, { providers: Record<string, ProviderSettings>; secrets: Map<string, SecretSpec> }>;
}

const secretKeys = ["provider", "ref", "field", "hosts", "optional", "blind", "token_format", "inject", "swap", "template"];
const topKeys = ["providers", "secrets", "env", "blind", "audit"];
const blindKeys = ["upstream_ca", "resolve", "inspect", "sandbox", "network", "allow_tcp"];
const envNamePattern = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** `inject`: a header name, a colon, and a value template holding exactly one `{}` (no line breaks). */
const injectionPattern = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+:[ \t]*(?:(?!\{\})[^\r\n])*\{\}(?:(?!\{\})[^\r\n])*$/;

/** Every provider's shorthand schemes, for messages: "op://, vault://, …". */
function shorthandSchemes(): string {
  return Object.values(providerSchemas)
    .flatMap((p) => p.schemes.filter((scheme) => scheme.endsWith("://")))
    .join(", ");
}

export class DocValidator {
  constructor(readonly source: DocSource) {}

  where(path: string[]): string {
    const line = (this.source.locate ?? locateKey)(this.source.text, path);
    return `${this.source.file}${line ? `:${line}` : ""}`;
  }

  fail(path: string[], message: string): never {
    throw new ConfigError(`${this.where(path)}: ${path.join(".")}: ${message}`);
  }

  table(value: unknown, path: string[]): Record<string, unknown> {
    if (value === undefined) return {};
    if (typeof value !== "object" || value === null || Array.isArray(value)) this.fail(path, "must be a table");
    return value as Record<string, unknown>;
  }

  onlyKeys(table: Record<string, unknown>, allowed: string[], path: string[]): void {
    for (const key of Object.keys(table)) {
      if (!allowed.includes(key)) this.fail([...path, key], `unknown key "${key}"${didYouMean(key, allowed)}`);
    }
  }

  string(value: unknown, path: string[]): string | undefined {
    if (value === undefined) return undefined;
    if (typeof value !== "string") this.fail(path, `must be a string, not ${describe(value)}`);
    return value;
  }

  boolean(value: unknown, path: string[]): boolean | undefined {
    if (value === undefined) return undefined;
    if (typeof value !== "boolean") this.fail(path, `must be true or false, not ${describe(value)}`);
    return value;
  }

  stringList(value: unknown, path: string[]): string[] | undefined {
    if (value === undefined) return undefined;
    if (!Array.isArray(value) || value.some((v) => typeof v !== "string" || v === "")) {
      this.fail(path, `must be a list of non-empty strings, e.g. ["api.example.com"]`);
    }
    return value as string[];
  }

  setting(kind: SettingKind, value: unknown, path: string[]): unknown {
    switch (kind) {
      case "string":
        return this.string(value, path);
      case "boolean":
        return this.boolean(value, path);
      case "integer":
        if (typeof value !== "number" && typeof value !== "bigint") this.fail(path, `must be an integer, not ${describe(value)}`);
        if (Number(value) < 0 || !Number.isInteger(Number(value))) this.fail(path, "must be a non-negative integer");
        return Number(value);
      case "table":
        return this.table(value, path);
      case "strings":
        return this.stringList(value, path);
    }
  }

  providers(value: unknown, path: string[]): Record<string, ProviderSettings> {
    const out: Record<string, ProviderSettings> = {};
    for (const [name, raw] of Object.entries(this.table(value, path))) {
      const schema = providerSchemas[name];
      if (!schema) {
        // The table's name is not shown: it points at its line, and says what is wrong with it.
        throw new ConfigError(`${this.where([...path, name])}: ${path.join(".")}: invalid value for a provider's name: not a known provider${knownProvider(name)}`);
      }
      const settings = this.table(raw, [...path, name]);
      this.onlyKeys(settings, Object.keys(schema.settings), [...path, name]);
      const checked: ProviderSettings = {};
      for (const [key, v] of Object.entries(settings)) {
        checked[key] = this.setting(schema.settings[key]!, v, [...path, name, key]);
        const nested = schema.tables?.[key];
        if (nested) this.subTable(name, key, checked[key] as Record<string, unknown>, nested, [...path, name, key]);
      }
      const problem = schema.check?.(checked);
      if (problem) this.fail([...path, name, problem.key], problem.message);
      out[name] = checked;
    }
    return out;
  }

  subTable(provider: string, key: string, table: Record<string, unknown>, schema: Record<string, SettingKind>, path: string[]): void {
    this.onlyKeys(table, Object.keys(schema), path);
    for (const [k, v] of Object.entries(table)) this.setting(schema[k]!, v, [...path, k]);
    if (provider === "vault" && key === "auth") {
      const method = table.method ?? "token";
      if (!vaultAuthMethods.includes(method as string)) {
        this.fail([...path, "method"], `invalid value: not a known auth method — use one of ${vaultAuthMethods.join(", ")}`);
      }
    }
  }

  secrets(value: unknown, path: string[]): Map<string, SecretSpec> {
    const out = new Map<string, SecretSpec>();
    for (const [name, raw] of Object.entries(this.table(value, path))) {
      out.set(name, this.secret(name, raw, [...path, name]));
    }
    return out;
  }

  secret(name: string, raw: unknown, path: string[]): SecretSpec {
    if (!envNamePattern.test(name)) {
      this.fail(path, "a secret's name becomes an environment variable: use letters, digits and _ and do not start with a digit");
    }
    const origin = this.where(path);
    if (typeof raw === "string") {
      const inferred = inferFromShorthand(raw);
      if (!inferred || !inferred.ref) {
        this.fail(
          path,
          `a string must be a ref with a scheme (${shorthandSchemes()}) or use a table ` +
            `{ provider = "…", ref = "…" }; if this is the secret itself, delete it here and run \`kz put ${name}\``,
        );
      }
      return { name, ...inferred, optional: false, tokenFormat: "opaque", origin };
    }
    const table = this.table(raw, path);
    const provider = this.string(table.provider, [...path, "provider"]);
    if (provider === undefined) {
      // A misspelt key (`provder = "env"`) is the likelier mistake: name it, on its own line, first.
      this.onlyKeys(table, [...new Set([...secretKeys, ...Object.values(providerSchemas).flatMap((p) => p.secretKeys ?? [])])], path);
      this.fail(path, `missing "provider" — e.g. { provider = "local" }, or one of ${providerNames.join(", ")}`);
    }
    const schema = providerSchemas[provider];
    if (!schema) this.fail([...path, "provider"], `invalid value: not a known provider${knownProvider(provider)}`);
    this.onlyKeys(table, [...secretKeys, ...(schema.secretKeys ?? [])], path);
    let ref = this.string(table.ref, [...path, "ref"]);
    if (ref === undefined && schema.refDefaultsToName) ref = name;
    if (!ref) this.fail(path, `missing "ref" — say where the ${provider} provider finds this secret`);
    const tokenFormat = this.string(table.token_format, [...path, "token_format"]) ?? "opaque";
    if (tokenFormat !== "opaque" && tokenFormat !== "preserve") {
      this.fail([...path, "token_format"], `must be "opaque" or "preserve"`);
    }
    const hosts = this.stringList(table.hosts, [...path, "hosts"]);
    const inject = this.string(table.inject, [...path, "inject"]);
    if (inject !== undefined && !injectionPattern.test(inject)) {
      this.fail([...path, "inject"], 'must be "Header-Name: text with {} where the value goes", e.g. "X-API-Key: {}" or "Authorization: Token {}"');
    }
    const swap = this.placements(table.swap, [...path, "swap"]);
    const template = this.string(table.template, [...path, "template"]);
    const templateWhy = template !== undefined ? templateProblem(template) : undefined;
    if (templateWhy) this.fail([...path, "template"], templateWhy);
    if (template !== undefined && table.field !== undefined) this.fail([...path, "template"], 'give either "field" or a "template" naming {{fields}}, not both');
    return {
      name,
      provider,
      ref,
      field: this.string(table.field, [...path, "field"]),
      versionStage: this.string(table.version_stage, [...path, "version_stage"]),
      hosts,
      optional: this.boolean(table.optional, [...path, "optional"]) ?? false,
      blind: this.boolean(table.blind, [...path, "blind"]),
      tokenFormat: tokenFormat as TokenFormat,
      ...(inject !== undefined ? { inject } : {}),
      ...(swap !== undefined ? { swap } : {}),
      ...(template !== undefined ? { template } : {}),
      origin,
    };
  }

  /** `swap = ["header", "body"]`: where a token may be swapped; each entry one of PLACEMENTS. */
  placements(value: unknown, path: string[]): Placement[] | undefined {
    if (value === undefined) return undefined;
    if (!Array.isArray(value) || value.some((v) => typeof v !== "string")) {
      this.fail(path, `must be a list drawn from ${PLACEMENTS.map((p) => `"${p}"`).join(", ")}, e.g. ["header"]`);
    }
    (value as string[]).forEach((entry, i) => {
      // The entry itself is not echoed (the rule for every config string); its position and the fix are.
      if (!isPlacement(entry)) this.fail(path, `entry ${i + 1} is not a place a token can go${didYouMean(entry, PLACEMENTS).replace("valid keys", "places")}`);
    });
    return [...new Set(value as Placement[])];
  }

  blind(value: unknown, path: string[]): Partial<BlindSettings> {
    const table = this.table(value, path);
    this.onlyKeys(table, blindKeys, path);
    const out: Partial<BlindSettings> = {};
    const ca = this.string(table.upstream_ca, [...path, "upstream_ca"]);
    if (ca !== undefined) out.upstreamCa = ca;
    if (table.resolve !== undefined) {
      const resolve = this.table(table.resolve, [...path, "resolve"]);
      out.resolve = {};
      for (const [host, addr] of Object.entries(resolve)) {
        out.resolve[host] = this.string(addr, [...path, "resolve", host])!;
      }
    }
    const inspect = this.string(table.inspect, [...path, "inspect"]);
    if (inspect !== undefined) {
      if (inspect !== "bound" && inspect !== "all") this.fail([...path, "inspect"], `must be "bound" (default) or "all"`);
      out.inspect = inspect;
    }
    const sandbox = this.boolean(table.sandbox, [...path, "sandbox"]);
    if (sandbox !== undefined) out.sandbox = sandbox;
    const network = this.string(table.network, [...path, "network"]);
    if (network !== undefined) {
      if (network !== "open" && network !== "proxy") this.fail([...path, "network"], `must be "open" (default) or "proxy"`);
      out.network = network;
    }
    const allowTcp = this.stringList(table.allow_tcp, [...path, "allow_tcp"]);
    if (allowTcp !== undefined) {
      for (const entry of allowTcp) {
        if (!parseLoopbackAddress(entry)) {
          this.fail([...path, "allow_tcp"], `entries must be a loopback address and port, e.g. "127.0.0.1:5432", "[::1]:6379" or "localhost:5432" (other hosts: through the proxy)`);
        }
      }
      out.allowTcp = allowTcp;
    }
    return out;
  }

  /** A whole .keyzero.toml-shaped document. */
  document(doc: Record<string, unknown>): ValidatedDoc {
    this.onlyKeys(doc, topKeys, []);
    const audit = this.table(doc.audit, ["audit"]);
    this.onlyKeys(audit, ["path"], ["audit"]);
    const envs = new Map<string, { providers: Record<string, ProviderSettings>; secrets: Map<string, SecretSpec> }>();
    for (const [envName, raw] of Object.entries(this.table(doc.env, ["env"]))) {
      const overlay = this.table(raw, ["env", envName]);
      this.onlyKeys(overlay, ["providers", "secrets"], ["env", envName]);
      envs.set(envName, {
        providers: this.providers(overlay.providers, ["env", envName, "providers"]),
        secrets: this.secrets(overlay.secrets, ["env", envName, "secrets"]),
      });
    }
    return {
      providers: this.providers(doc.providers, ["providers"]),
      secrets: this.secrets(doc.secrets, ["secrets"]),
      blind: this.blind(doc.blind, ["blind"]),
      audit: { path: this.string(audit.path, ["audit", "path"]) },
      envs,
    };
  }
}

/** "127.0.0.1:5432", "[::1]:6379", "localhost:5432" → host and port; anything else → undefined. */
export function parseLoopbackAddress(entry: string): { host: string; port: number } | undefined {
  const match = /^(127(?:\.\d{1,3}){3}|\[::1\]|localhost):(\d{1,5})$/.exec(entry);
  if (!match) return undefined;
  const port = Number(match[2]);
  if (port < 1 || port > 65535) return undefined;
  if (match[1]!.startsWith("127.") && match[1]!.split(".").some((octet) => Number(octet) > 255)) return undefined;
  return { host: match[1]!, port };
}

/** " — did you mean "vault"?" for a near miss, else the list; never the value itself (it may be a pasted credential). */
function knownProvider(value: string): string {
  return didYouMean(value, providerNames).replace("valid keys", "known providers");
}

function describe(value: unknown): string {
  if (Array.isArray(value)) return "a list";
  if (value === null) return "null";
  if (value instanceof Date) return "a date";
  return typeof value === "object" ? "a table" : `a ${typeof value}`;
}
