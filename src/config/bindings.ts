// Bindings: what a blind run would do with the user's secrets — for each secret where its value comes from
// (provider, ref, field), where it may go (hosts, swap) and whether it is blinded at all, plus the settings
// that decide how safely it gets there ([blind] resolve, upstream_ca, sandbox, network…, [audit] path, the
// providers' own settings). kz keeps the set the user approved (src/commands/approval.ts) and compares it
// with the effective set — after .keyzero.local.toml and the --env overlay — before each blind run.
//
// Pure data and functions: config in, bindings, a fingerprint and a per-key difference out. Never a value:
// only what the config says (refs, hosts, paths), and the CA file by its digest.

import { createHash } from "node:crypto";
import { LOCAL_CONFIG_NAME } from "./load.ts";
import { type Placement, swapOf } from "./placement.ts";
import type { KzConfig, SecretSpec } from "./types.ts";

/** One secret's binding. Everything here is config, never a value. */
export interface SecretBinding {
  provider: string;
  ref: string;
  field: string | null;
  version_stage: string | null;
  blind: boolean;
  hosts: string[];
  /** Where its token may be swapped; null when not blinded (passed raw). */
  swap: Placement[] | null;
}

export interface Bindings {
  secrets: Record<string, SecretBinding>;
  /** Flat setting → its value as text: "blind.sandbox" → "true", "blind.resolve.api.example.test:443" → "127.0.0.1:9443". */
  settings: Record<string, string>;
}

/** Where each key of the effective bindings was written ("file:line"), for the user reading a change. */
export type Origins = Record<string, string>;

export interface BindingExtras {
  /** The effective upstream CA ([blind] upstream_ca or KZ_UPSTREAM_CA) and its file's SHA-256 ("unreadable" if none). */
  upstreamCa?: { path: string; sha256: string };
  /** Where a setting (e.g. ["blind", "sandbox"]) is written, when kz can tell. */
  settingOrigin?: (path: string[]) => string | undefined;
}

export function secretBinding(spec: SecretSpec): SecretBinding {
  const blind = spec.blind !== false;
  return {
    provider: spec.provider,
    ref: spec.ref,
    field: spec.field ?? null,
    version_stage: spec.versionStage ?? null,
    blind,
    hosts: [...(spec.hosts ?? [])],
    swap: blind ? [...swapOf(spec)] : null,
  };
}

/** The effective bindings of a loaded config (all its secrets, whatever --only selects), and their origins. */
export function bindingsOf(config: KzConfig, extras: BindingExtras = {}): { bindings: Bindings; origins: Origins } {
  const secrets: Record<string, SecretBinding> = {};
  const origins: Origins = {};
  for (const spec of config.secrets) {
    secrets[spec.name] = secretBinding(spec);
    origins[`secrets.${spec.name}`] = spec.origin;
  }
  const settings: Record<string, string> = {};
  const set = (path: string[], value: string | undefined) => {
    if (value === undefined) return;
    const key = path.join(".");
    settings[key] = value;
    const origin = extras.settingOrigin?.(path);
    if (origin) origins[key] = origin;
  };
  const b = config.blind;
  if (extras.upstreamCa) set(["blind", "upstream_ca"], `${extras.upstreamCa.path} (sha256 ${extras.upstreamCa.sha256})`);
  for (const [host, addr] of Object.entries(b.resolve)) set(["blind", "resolve", host], addr);
  set(["blind", "inspect"], b.inspect);
  set(["blind", "sandbox"], String(b.sandbox));
  set(["blind", "network"], b.network);
  if (b.allowTcp.length) set(["blind", "allow_tcp"], JSON.stringify(b.allowTcp));
  set(["audit", "path"], config.audit.path);
  for (const [provider, table] of Object.entries(config.providers)) flatten(["providers", provider], table, set);
  return { bindings: { secrets, settings }, origins };
}

function flatten(path: string[], value: unknown, set: (path: string[], value: string) => void): void {
  if (typeof value === "object" && value !== null && !Array.isArray(value)) {
    for (const [k, v] of Object.entries(value)) flatten([...path, k], v, set);
  } else if (value !== undefined) {
    set(path, typeof value === "string" ? value : JSON.stringify(value));
  }
}

/** A stable digest of the bindings: keys sorted at every level, so the same set always gives the same text. */
export function fingerprint(bindings: Bindings): string {
  return createHash("sha256").update(canonical(bindings)).digest("hex");
}

function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(",")}]`;
  if (typeof value === "object" && value !== null) {
    const entries = Object.entries(value).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonical(v)}`).join(",")}}`;
  }
  return JSON.stringify(value ?? null);
}

export interface FieldChange {
  field: string;
  before: unknown;
  after: unknown;
}

export interface BindingChange {
  kind: "added" | "removed" | "changed";
  /** "secrets.NAME" or a setting's key ("blind.sandbox"). */
  key: string;
  /** For added secrets: every field (before null); for changed ones: the fields that differ. */
  fields: FieldChange[];
  /** Where the current definition is written, when known. */
  origin?: string;
  /** What this change loosens, each one line ("passed raw…", "may now be sent to evil.test"). */
  warnings: string[];
}

/** The settings every config has unless it says otherwise: the baseline when nothing was approved yet. */
export const DEFAULT_SETTINGS: Readonly<Record<string, string>> = { "blind.inspect": "bound", "blind.sandbox": "true", "blind.network": "open" };

/** The difference from the approved bindings (none approved: every secret and non-default setting is added). */
export function diffBindings(approved: Bindings | undefined, current: Bindings, origins: Origins = {}, base?: Record<string, SecretBinding>): BindingChange[] {
  const changes: BindingChange[] = [];
  const before = approved ?? { secrets: {}, settings: { ...DEFAULT_SETTINGS } };
  for (const name of union(before.secrets, current.secrets)) {
    const change = secretChange(name, before.secrets[name], current.secrets[name]);
    if (!change) continue;
    const after = current.secrets[name];
    const origin = origins[change.key];
    // A secret the local override defines is also weighed against what the main file says, so what the
    // override loosens is called out even when the approved set never saw the main file's version.
    if (after && base && origin && isLocalOverride(origin)) {
      const extra = base[name] ? secretWarnings(name, base[name], after) : [`${name}: defined only in the local override`, ...secretWarnings(name, undefined, after)];
      change.warnings = [...new Set([...change.warnings, ...extra])];
    }
    changes.push(withOrigin(change, origins));
  }
  for (const key of union(before.settings, current.settings)) {
    const change = settingChange(key, before.settings[key], current.settings[key]);
    if (change) changes.push(withOrigin(change, origins));
  }
  return changes;
}

function union(a: object, b: object): string[] {
  return [...new Set([...Object.keys(a), ...Object.keys(b)])].sort();
}

function withOrigin(change: BindingChange, origins: Origins): BindingChange {
  const origin = origins[change.key];
  if (!origin) return change;
  const local = isLocalOverride(origin);
  return {
    ...change,
    origin,
    warnings: local ? change.warnings.map((w) => `${w} — from ${origin} (a local override kept out of git: nobody reviewed it)`) : change.warnings,
  };
}

/** Whether an origin ("path:line") is the local override file. */
export function isLocalOverride(origin: string): boolean {
  return origin.replace(/:\d+$/, "").split(/[\\/]/).pop() === LOCAL_CONFIG_NAME;
}

const SECRET_FIELDS: (keyof SecretBinding)[] = ["provider", "ref", "field", "version_stage", "blind", "hosts", "swap"];

function secretChange(name: string, before: SecretBinding | undefined, after: SecretBinding | undefined): BindingChange | undefined {
  const key = `secrets.${name}`;
  if (!after) return { kind: "removed", key, fields: [], warnings: [] };
  const fields = SECRET_FIELDS.filter((f) => (before ? canonical(before[f]) !== canonical(after[f]) : worthShowing(after, f))).map((field) => ({
    field,
    before: before ? before[field] : null,
    after: after[field],
  }));
  if (fields.length === 0) return undefined;
  return { kind: before ? "changed" : "added", key, fields, warnings: secretWarnings(name, before, after) };
}

/** For a new secret: the fields that say something (no empty field, no blind = true, no hosts when raw). */
function worthShowing(binding: SecretBinding, field: keyof SecretBinding): boolean {
  const value = binding[field];
  if (value === null) return false;
  if (field === "blind") return value === false;
  if (field === "hosts") return binding.blind;
  return true;
}

/** What a new or changed secret loosens: passed raw, more hosts, more places in a request. */
export function secretWarnings(name: string, before: SecretBinding | undefined, after: SecretBinding): string[] {
  const warnings: string[] = [];
  if (!after.blind && (before === undefined || before.blind)) warnings.push(`${name}: blind = false — its real value is handed to the command`);
  if (after.blind) {
    const newHosts = after.hosts.filter((h) => !(before?.hosts ?? []).includes(h));
    if (before && newHosts.length) warnings.push(`${name}: may now be sent to ${newHosts.join(", ")}`);
    if (after.hosts.includes("*") && !(before?.hosts ?? []).includes("*")) warnings.push(`${name}: hosts = ["*"] — may be sent to any host`);
    const oldSwap = before?.swap ?? [];
    const newPlaces = (after.swap ?? []).filter((p) => !oldSwap.includes(p) && p !== "header");
    if (newPlaces.length) warnings.push(`${name}: may be swapped into ${newPlaces.join(", ")}, where an API can store it and give it back`);
  }
  return warnings;
}

function settingChange(key: string, before: string | undefined, after: string | undefined): BindingChange | undefined {
  if (before === after) return undefined;
  const kind = before === undefined ? "added" : after === undefined ? "removed" : "changed";
  return { kind, key, fields: [{ field: key, before: before ?? null, after: after ?? null }], warnings: settingWarnings(key, after) };
}

/** A setting that, changed this way, weakens blind mode or sends a credential somewhere new. */
function settingWarnings(key: string, after: string | undefined): string[] {
  if (key === "blind.sandbox" && after === "false") return ["[blind] sandbox = false — the command runs outside the sandbox"];
  if (key === "blind.network" && after === "open") return ['[blind] network = "open" — the command may connect anywhere directly'];
  if (key === "blind.inspect" && after === "bound") return ['[blind] inspect = "bound" — tokens sent to unbound hosts are no longer refused and audited'];
  if (key.startsWith("blind.resolve.") && after !== undefined) return [`[blind] resolve sends ${key.slice("blind.resolve.".length)} to ${after}`];
  if (key === "blind.upstream_ca" && after !== undefined) return ["[blind] upstream_ca — kz trusts another certificate authority for upstream hosts"];
  if (key === "blind.allow_tcp" && after !== undefined) return [`[blind] allow_tcp relays ${after}`];
  if (key === "audit.path") return ["[audit] path — blind-mode events are logged somewhere else"];
  if (key.startsWith("providers.") && after !== undefined) return [`${key} — where kz fetches secrets (with your backend credentials) changed`];
  return [];
}

/** One change as text lines (no colour): "~ NAME: hosts [a] → [a, b]" and its warnings. */
export function formatChange(change: BindingChange): string[] {
  const mark = { added: "+", removed: "-", changed: "~" }[change.kind];
  const name = change.key.startsWith("secrets.") ? change.key.slice("secrets.".length) : change.key;
  let text: string;
  if (change.kind === "removed") text = `${name}: removed`;
  else if (change.key.startsWith("secrets.") && change.kind === "added") text = `${name}: ${change.fields.map((f) => `${f.field} ${show(f.after)}`).join(", ")}`;
  else if (change.key.startsWith("secrets.")) text = `${name}: ${change.fields.map((f) => `${f.field} ${show(f.before)} → ${show(f.after)}`).join(", ")}`;
  else text = `${name}: ${show(change.fields[0]!.before)} → ${show(change.fields[0]!.after)}`;
  const lines = [`${mark} ${text}${change.origin ? `   (${change.origin})` : ""}`];
  for (const w of change.warnings) lines.push(`    ! ${w}`);
  return lines;
}

function show(value: unknown): string {
  if (value === null || value === undefined) return "(none)";
  return JSON.stringify(value);
}
