// 1password provider: reads `op://vault/item[/section]/field` references through one of two backends,
// chosen per instance — the Connect REST API when `connect_host` (or OP_CONNECT_HOST) is set, the `op`
// CLI otherwise. This module owns the reference grammar and the choice; each backend owns its wire.
//
// A per-secret `field` completes a two-segment ref (`op://Dev/OpenAI` + field "api-key"); on a full ref
// it selects a key of the JSON document stored in that 1Password field.

import { SecretValue } from "../secret.ts";
import { createCliBackend } from "./onepassword-cli.ts";
import { createConnectBackend } from "./onepassword-connect.ts";
import { selectField } from "./field.ts";
import { ProviderError, type ProviderContext, type ProviderFactory } from "./types.ts";

/** A parsed secret reference. Names are as written; matching rules belong to the backends. */
export interface OpRef {
  vault: string;
  item: string;
  section?: string;
  field: string;
  /** Query string without "?" (e.g. `attribute=otp`), passed to `op` as is. */
  query?: string;
  /** The canonical `op://…` form handed to `op read`. */
  text: string;
  /** A JSON key to select from the field's value (a `field` given alongside a full ref). */
  jsonKey?: string;
}

/** What a backend does: the raw text of one 1Password field. */
export interface OnePasswordBackend {
  read(ref: OpRef, signal: AbortSignal): Promise<string>;
}

const SCHEME = "op://";
const REF_FORMS = "op://vault/item/field or op://vault/item/section/field";

export function parseOpRef(ref: string, field?: string): OpRef {
  if (!ref.startsWith(SCHEME)) throw new ProviderError(`"${ref}" is not a 1Password reference — expected ${REF_FORMS}`);
  const [path = "", query] = splitOnce(ref.slice(SCHEME.length), "?");
  const segments = path.split("/");
  if (segments.some((s) => s.trim() === "")) {
    throw new ProviderError(`"${ref}" has an empty segment — expected ${REF_FORMS}`);
  }

  let jsonKey: string | undefined;
  if (segments.length === 2) {
    if (field === undefined) throw new ProviderError(`"${ref}" names no field — expected ${REF_FORMS}, or add field = "…"`);
    segments.push(field);
  } else if (segments.length === 3 || segments.length === 4) {
    jsonKey = field;
  } else {
    throw new ProviderError(`"${ref}" has ${segments.length} segments — expected ${REF_FORMS}`);
  }

  const [vault, item] = segments as [string, string];
  const section = segments.length === 4 ? segments[2] : undefined;
  const fieldName = segments[segments.length - 1]!;
  const text = SCHEME + segments.join("/") + (query !== undefined ? `?${query}` : "");
  return { vault, item, section, field: fieldName, query, text, jsonKey };
}

function splitOnce(text: string, separator: string): [string, string | undefined] {
  const at = text.indexOf(separator);
  return at < 0 ? [text, undefined] : [text.slice(0, at), text.slice(at + separator.length)];
}

function stringSetting(settings: ProviderContext["settings"], key: string): string | undefined {
  const value = settings[key];
  return typeof value === "string" && value !== "" ? value : undefined;
}

function chooseBackend({ settings, env, configDir }: ProviderContext): OnePasswordBackend {
  const connectHost = stringSetting(settings, "connect_host") ?? (env.OP_CONNECT_HOST || undefined);
  if (connectHost !== undefined) {
    const tokenEnv = stringSetting(settings, "connect_token_env") ?? "OP_CONNECT_TOKEN";
    return createConnectBackend({ host: connectHost, token: env[tokenEnv], tokenEnv });
  }
  return createCliBackend({
    opPath: stringSetting(settings, "op_path"),
    account: stringSetting(settings, "account"),
    env,
    configDir,
  });
}

const createOnePasswordProvider: ProviderFactory = (ctx) => {
  const backend = chooseBackend(ctx);
  return {
    async fetch({ ref, field, signal }) {
      const target = parseOpRef(ref, field);
      const raw = await backend.read(target, signal);
      const value = target.jsonKey === undefined ? raw : selectField(raw, target.jsonKey, `1Password field ${target.text}`);
      if (value === "") throw new ProviderError(`1Password field ${target.text} is empty`);
      return new SecretValue(value);
    },
  };
};

export default createOnePasswordProvider;
