// The MCP `share` tool as a client sees it (name, description, schemas) and the check of its arguments —
// kept apart from share-tool.ts so that listing tools loads none of the code that runs it.

import { checkExpiresIn } from "../share/limits.ts";

export interface ShareArgs {
  secret: string;
  /** Seconds. */
  expiresIn: number;
}

export const SHARE_TOOL = {
  name: "share",
  title: "Hand a secret to a person as a one-time link",
  description:
    "Create a one-time link that shows a secret's value to the person who opens it — for handing a credential (e.g. one you " +
    "captured with fetch … capture) to a human without it passing through you. kz reads and encrypts the value itself and returns " +
    "only the link; the decryption key is in the link's #fragment, which the server never sees. Give the link to the person and " +
    "do NOT open it yourself: it opens exactly once, so the person would find it already opened (and the opening is audited). " +
    "Sharing a captured secret hands it over: it is removed from your captured secrets. Bundle secrets need a policy that allows " +
    '`share`. The link expires after `expires_in` (default "1h", at most "7d").',
  inputSchema: {
    type: "object",
    properties: {
      secret: { type: "string", description: "The secret's name: a bundle secret list_secrets shows, or one you captured." },
      expires_in: { type: "string", description: 'How long the link stays valid if unopened: "15m", "1h" (default), up to "7d".' },
      views: { type: "integer", enum: [1], description: "Always 1: a link from an agent opens once (see the description)." },
    },
    required: ["secret"],
    additionalProperties: false,
  },
  outputSchema: {
    type: "object",
    properties: {
      link: { type: "string" },
      expires_at: { type: "string" },
      views: { type: "integer" },
      note: { type: "string" },
    },
    required: ["link", "expires_at", "views"],
  },
  annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: false },
};

export function parseShareArgs(value: unknown): { ok: true; args: ShareArgs } | { ok: false; message: string } {
  const fail = (message: string) => ({ ok: false as const, message: `share: ${message}` });
  if (value === undefined || typeof value !== "object" || value === null || Array.isArray(value)) return fail('arguments must be an object { secret, expires_in? }');
  const args = value as Record<string, unknown>;
  const extra = Object.keys(args).filter((k) => !["secret", "expires_in", "views"].includes(k));
  if (extra.length > 0) return fail(`unknown argument ${JSON.stringify(extra[0]!.slice(0, 40))} (it takes secret, expires_in, views)`);
  if (typeof args.secret !== "string" || args.secret === "") return fail('"secret" must be a secret name (see list_secrets)');
  if (args.views !== undefined && args.views !== 1) {
    return fail('"views" can only be 1: a link an agent creates opens once, so that a link opened before its person opens it cannot go unnoticed');
  }
  const expires = checkExpiresIn(args.expires_in);
  if (!expires.ok) return fail(`"expires_in": ${expires.message}`);
  return { ok: true, args: { secret: args.secret, expiresIn: expires.value } };
}

