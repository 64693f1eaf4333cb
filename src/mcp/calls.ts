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

export async function listSecrets(ctx: CallContext): Promise<ToolOutcome> {
  const secrets: Record<string, unknown>[] = [];
  for (const spec of ctx.host.secrets()) {
    const decision = ctx.host.decide(ctx.identity, spec.name, { action: "resolve" }, ctx.client);
    if (decision.allow) secrets.push({ name: spec.name, hosts: [...(spec.hosts ?? [])] });
  }
  // The caller's own captured secrets (owner only), after the bundle's.
  if (ctx.host.stateful?.()) {
    const { callerCaptured } = await import("./captured.ts");
    try {
      for (const c of await callerCaptured(ctx, ctx.host.secrets())) {
        secrets.push({ name: c.name, hosts: c.hosts, captured: true, expires_at: new Date(c.expiresAt).toISOString() });
      }
    } catch {
      return ok({ secrets, note: "server state is unavailable, so your captured secrets (if any) are not listed" });
    }
  }
  return ok({ secrets });
}

export async function resolveSecret(args: ResolveArgs, ctx: CallContext): Promise<ToolOutcome> {
  if (ctx.host.stateful?.() && !ctx.host.secrets().some((s) => s.name === args.name)) {
    // One of the caller's own captured secrets: its token (ownership decides; no policy names it).
    const { callerCaptured } = await import("./captured.ts");
    const mine = (await callerCaptured(ctx, ctx.host.secrets()).catch(() => [])).find((c) => c.name === args.name);
    if (mine) return ok({ name: mine.name, token: mine.token, hosts: mine.hosts });
  }
  const decision = ctx.host.decide(ctx.identity, args.name, { action: "resolve" }, ctx.client);
  if (!decision.known) return refuse(`resolve: no secret named ${JSON.stringify(args.name.slice(0, 100))}; list_secrets shows the ones you may use`);
  if (!decision.allow) return refuse(`resolve: ${args.name} is not allowed for you (${decision.reason}${decisionRef(decision.decisionId)})`);
  const spec = ctx.host.secrets().find((s) => s.name === args.name);
  return ok({ name: args.name, token: ctx.state.tokens.tokenFor(args.name), hosts: [...(spec?.hosts ?? [])] });
}
