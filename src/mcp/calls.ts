// Running a tool call for a verified caller: the context every tool gets, the outcome type, and the two
// tools that need no network — list_secrets (a `resolve` decision per secret, each one audited by the
// host) and resolve (a decision, then the secret's stand-in token and hosts; never the value).

import type { CallerIdentity, McpHost } from "./host.ts";
import type { Limits, McpState } from "./state.ts";
import type { ResolveArgs } from "./tools.ts";

export interface CallContext {
  host: McpHost;
  identity: CallerIdentity;
  /** The caller's address for audit records ("stdio" over stdio). */
  client: string;
  state: McpState;
  limits: Limits;
}

export type ToolOutcome = { ok: true; result: Record<string, unknown> } | { ok: false; message: string };

export const ok = (result: Record<string, unknown>): ToolOutcome => ({ ok: true, result });
export const refuse = (message: string): ToolOutcome => ({ ok: false, message });

/** "; decision <id>" for messages, when the host recorded one. */
export function decisionRef(id: string): string {
  return id ? `; decision ${id}` : "";
}

export function listSecrets(ctx: CallContext): ToolOutcome {
  const secrets: { name: string; hosts: string[] }[] = [];
  for (const spec of ctx.host.secrets()) {
    const decision = ctx.host.decide(ctx.identity, spec.name, { action: "resolve" }, ctx.client);
    if (decision.allow) secrets.push({ name: spec.name, hosts: [...(spec.hosts ?? [])] });
  }
  return ok({ secrets });
}

export function resolveSecret(args: ResolveArgs, ctx: CallContext): ToolOutcome {
  const decision = ctx.host.decide(ctx.identity, args.name, { action: "resolve" }, ctx.client);
  if (!decision.known) return refuse(`resolve: no secret named ${JSON.stringify(args.name.slice(0, 100))}; list_secrets shows the ones you may use`);
  if (!decision.allow) return refuse(`resolve: ${args.name} is not allowed for you (${decision.reason}${decisionRef(decision.decisionId)})`);
  const spec = ctx.host.secrets().find((s) => s.name === args.name);
  return ok({ name: args.name, token: ctx.state.tokens.tokenFor(args.name), hosts: [...(spec?.hosts ?? [])] });
}
