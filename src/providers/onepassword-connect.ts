// The 1Password Connect backend of the 1password provider: vault name → id, item title → id, then the
// full item, over Connect's REST API with a bearer token. Vault and item lookups are cached per
// instance, so two fields of one item cost one item GET. Reasons name vaults, items and field labels,
// never values or the token.

import type { OnePasswordBackend, OpRef } from "./onepassword.ts";
import { ProviderError } from "./types.ts";
import { serviceUrl } from "./service-url.ts";

export interface ConnectOptions {
  host: string;
  token: string | undefined;
  /** Name of the variable the token came from, for messages. */
  tokenEnv: string;
}

/** The parts of Connect's JSON that matter here (GET /v1/vaults, …/items, …/items/{id}). */
interface ConnectVault {
  id: string;
  name: string;
}
interface ConnectItemSummary {
  id: string;
  title: string;
  state?: string;
}
export interface ConnectField {
  id: string;
  label?: string;
  value?: string;
  type?: string;
  purpose?: string;
  section?: { id: string };
}
export interface ConnectItem {
  id: string;
  title: string;
  sections?: { id: string; label?: string }[];
  fields?: ConnectField[];
}

/** Connect ids are 26 lowercase letters and digits; a ref may use one instead of a name. */
const CONNECT_ID = /^[\da-z]{26}$/;

export function createConnectBackend({ host, token, tokenEnv }: ConnectOptions): OnePasswordBackend {
  const base = baseUrlOf(host);
  if (token === undefined || token === "") {
    throw new ProviderError(`1Password Connect (${base}) needs a token: set ${tokenEnv} (or [providers.1password] connect_token_env)`);
  }
  const api = connectClient(base, token, tokenEnv);
  const vaultIds = new Map<string, Promise<string>>();
  const items = new Map<string, Promise<ConnectItem>>();

  const vaultIdOf = (vault: string, signal: AbortSignal) =>
    cached(vaultIds, vault, () => findVaultId(api, vault, signal));
  const itemOf = (vaultId: string, ref: OpRef, signal: AbortSignal) =>
    cached(items, `${vaultId}/${ref.item}`, () => findItem(api, vaultId, ref, signal));

  return {
    async read(ref, signal) {
      if (ref.query !== undefined) {
        throw new ProviderError(`${ref.text}: query parameters (?${ref.query}) need the op CLI — drop them or unset connect_host`);
      }
      const vaultId = await vaultIdOf(ref.vault, signal);
      return pickField(await itemOf(vaultId, ref, signal), ref);
    },
  };
}

/** A lookup shared by every caller until it fails (a failure is not cached, so it can be retried). */
function cached<T>(cache: Map<string, Promise<T>>, key: string, load: () => Promise<T>): Promise<T> {
  let pending = cache.get(key);
  if (!pending) {
    pending = load();
    cache.set(key, pending);
    pending.catch(() => cache.delete(key));
  }
  return pending;
}

function baseUrlOf(host: string): string {
  return serviceUrl(host, "[providers.1password] connect_host", "http://localhost:8080");
}

/** SCIM `eq` filter with the value quoted, as Connect's `filter` parameter expects. */
export function eqFilter(attribute: "name" | "title", value: string): string {
  return `${attribute} eq "${value.replace(/\\/g, "\\\\").replace(/"/g, '\\"')}"`;
}

type Get = <T>(path: string, what: string, signal: AbortSignal) => Promise<T>;

function connectClient(base: string, token: string, tokenEnv: string): Get {
  return async <T>(path: string, what: string, signal: AbortSignal): Promise<T> => {
    let response: Response;
    try {
      response = await fetch(base + path, {
        headers: { Authorization: `Bearer ${token}`, Accept: "application/json" },
        signal,
      });
    } catch (e) {
      if (signal.aborted) throw e;
      const code = (e as { code?: string }).code;
      throw new ProviderError(`cannot reach 1Password Connect at ${base}${code ? ` (${code})` : ""}`);
    }
    const body = await response.text();
    if (!response.ok) throw new ProviderError(describeConnectError(response.status, messageOf(body), what, tokenEnv));
    try {
      return JSON.parse(body) as T;
    } catch {
      throw new ProviderError(`1Password Connect at ${base} answered ${what} with something that is not JSON`);
    }
  };
}

function messageOf(body: string): string | undefined {
  try {
    const message = (JSON.parse(body) as { message?: unknown }).message;
    return typeof message === "string" && message !== "" ? message.slice(0, 200) : undefined;
  } catch {
    return undefined;
  }
}

export function describeConnectError(status: number, message: string | undefined, what: string, tokenEnv: string): string {
  const said = message ? ` (${message})` : "";
  switch (status) {
    case 401:
      return `1Password Connect rejected the token in ${tokenEnv}${said} — check that it is a valid Connect token`;
    case 403:
      return `1Password Connect denied access to ${what}${said} — give the Connect token access to that vault`;
    case 404:
      return `${what} was not found in 1Password Connect${said}`;
    default:
      return `1Password Connect answered ${status} for ${what}${said}`;
  }
}

/** Names compare as op compares them: ignoring case. */
const sameName = (a: string | undefined, b: string) => a !== undefined && a.toLowerCase() === b.toLowerCase();

/**
 * The entries of a Connect collection named `wanted`: the server's `eq` filter first and, when that
 * finds nothing, the whole collection matched in any case — the op CLI treats names that way too.
 */
async function listNamed<T extends { name?: string; title?: string }>(
  get: Get,
  path: string,
  attribute: "name" | "title",
  wanted: string,
  what: string,
  signal: AbortSignal,
): Promise<T[]> {
  const exact = await get<T[]>(`${path}?filter=${encodeURIComponent(eqFilter(attribute, wanted))}`, what, signal);
  if (exact.length > 0) return exact;
  const all = await get<T[]>(path, what, signal);
  return all.filter((entry) => sameName(entry[attribute], wanted));
}

async function findVaultId(get: Get, vault: string, signal: AbortSignal): Promise<string> {
  const what = `vault "${vault}"`;
  const found = await listNamed<ConnectVault>(get, "/v1/vaults", "name", vault, what, signal);
  if (found.length === 1) return found[0]!.id;
  if (found.length > 1) throw new ProviderError(`more than one vault is named "${vault}" — use the vault's id in the ref`);
  if (CONNECT_ID.test(vault)) return vault;
  throw new ProviderError(`${what} was not found in 1Password Connect (or the token cannot see it)`);
}

async function findItem(get: Get, vaultId: string, ref: OpRef, signal: AbortSignal): Promise<ConnectItem> {
  const what = `item "${ref.item}" in vault "${ref.vault}"`;
  const listed = await listNamed<ConnectItemSummary>(get, `/v1/vaults/${vaultId}/items`, "title", ref.item, what, signal);
  const live = listed.filter((i) => i.state !== "ARCHIVED" && i.state !== "DELETED");
  if (live.length > 1) throw new ProviderError(`more than one ${what} — use the item's id in the ref`);
  const itemId = live[0]?.id ?? (CONNECT_ID.test(ref.item) ? ref.item : undefined);
  if (itemId === undefined) throw new ProviderError(`${what} was not found in 1Password Connect`);
  return get<ConnectItem>(`/v1/vaults/${vaultId}/items/${itemId}`, what, signal);
}

/** The value of the field the ref names: by label (any case) or id, inside its section if it names one. */
export function pickField(item: ConnectItem, ref: OpRef): string {
  const where = `item "${ref.item}" in vault "${ref.vault}"`;
  const sections = item.sections ?? [];
  const fields = item.fields ?? [];

  let inSection = fields;
  if (ref.section !== undefined) {
    const name = ref.section;
    const section = sections.find((s) => sameName(s.label, name) || s.id === name);
    if (!section) throw new ProviderError(`${where} has no section "${name}"${listOf("sections", sections.map((s) => s.label ?? s.id))}`);
    inSection = fields.filter((f) => f.section?.id === section.id);
  }

  let matches = inSection.filter((f) => sameName(f.label, ref.field) || f.id === ref.field);
  if (matches.length > 1 && ref.section === undefined) {
    const unsectioned = matches.filter((f) => f.section === undefined);
    if (unsectioned.length > 0) matches = unsectioned;
  }
  if (matches.length === 0) {
    const scope = ref.section !== undefined ? ` in section "${ref.section}"` : "";
    throw new ProviderError(`${where} has no field "${ref.field}"${scope}${listOf("fields", inSection.map((f) => f.label ?? f.id))}`);
  }
  if (matches.length > 1) {
    const names = matches.map((f) => sections.find((s) => s.id === f.section?.id)?.label ?? f.section?.id ?? "?");
    throw new ProviderError(`${where} has several fields "${ref.field}"${listOf("in sections", names)} — name the section: op://vault/item/section/field`);
  }
  return matches[0]!.value ?? "";
}

function listOf(what: string, names: string[]): string {
  const shown = [...new Set(names.filter((n) => n !== ""))];
  return shown.length ? ` (${what}: ${shown.join(", ")})` : "";
}
