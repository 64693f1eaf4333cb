// Basic auth: `Authorization: Basic base64(user:pass)`. The tokens sit inside the base64, so the credential
// is decoded, the tokens in user and password swapped (as bytes: a value may be UTF-8), and re-encoded.
// The new base64 is recorded as a produced form, so a server echoing the header back gets it masked.

import type { Refusal } from "../types.ts";
import type { SwapContext } from "./context.ts";
import { spliceBytes } from "../../resolve/needles.ts";

const BASIC = /^(\s*basic\s+)([A-Za-z0-9+/]+={0,2})(\s*)$/i;

/** The header value with tokens swapped; undefined when it is not a well-formed Basic credential. */
export function swapInBasicAuth(value: string, ctx: SwapContext): string | Refusal | undefined {
  const parts = BASIC.exec(value);
  if (!parts) return undefined;
  const [, scheme, encoded, trailing] = parts as unknown as [string, string, string, string];
  const decoded = Buffer.from(encoded, "base64");
  if (decoded.toString("base64").replace(/=+$/, "") !== encoded.replace(/=+$/, "")) return undefined;
  const matches = ctx.table.needles.findInBytes(decoded);
  if (matches.length === 0) return value;
  const secrets = matches.map((m) => ctx.secretOf(m));
  const refused = ctx.check(secrets, "header");
  if (refused) return refused;
  const credential = spliceBytes(decoded, matches, (m) => Buffer.from(ctx.secretOf(m).value.reveal(), "utf8"));
  const reencoded = Buffer.from(credential).toString("base64");
  for (const secret of secrets) {
    ctx.swapped.add(secret.name);
    ctx.recordForm(secret, reencoded);
  }
  return `${scheme}${reencoded}${trailing}`;
}

