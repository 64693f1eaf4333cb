// The MCP methods kz answers, the same for every transport: `initialize` (version negotiation, the tools
// capability), `ping`, `tools/list` and `tools/call`. Anything else is "method not found". The caller's
// identity was verified by the transport before a request gets here; a tool's failure — a denial, a bad
// argument, an unreachable upstream — is a tool result with isError, so the model sees why.

import { type CallContext, type ToolOutcome, listSecrets, resolveSecret } from "./calls.ts";
import { ErrorCode, type JsonRpcRequest, type JsonRpcResponse, classify, failure, success } from "./jsonrpc.ts";
import { parseFetchArgs, parseListArgs, parseResolveArgs, toolDefinitions } from "./tools.ts";
import { allowsBatches, negotiateVersion } from "./versions.ts";
import { SHARE_TOOL, parseShareArgs } from "./share-tool-definition.ts";
import { parseQueryArgs, queryToolDefinition } from "./query-args.ts";

const INSTRUCTIONS =
  "kz holds credentials for you and never reveals them. Use list_secrets to see which you may use, then either " +
  "fetch with `secret` set, or resolve a secret to a token and place the token in a fetch request to one of its hosts. " +
  "When a response creates a credential, capture it (fetch … capture) instead of reading it, and give it to a person with share.";

/** What a transport remembers between messages (stdio: the whole process; HTTP: nothing). */
export interface SessionState {
  version?: string;
}

export async function handleRequest(request: JsonRpcRequest, ctx: CallContext, session: SessionState): Promise<JsonRpcResponse> {
  const params = request.params ?? {};
  switch (request.method) {
    case "initialize": {
      const version = negotiateVersion(params.protocolVersion);
      session.version = version;
      return success(request.id, {
        protocolVersion: version,
        capabilities: { tools: { listChanged: false } },
        serverInfo: { name: "kz", title: "kz (KeyZero)", version: ctx.limits.serverVersion },
        instructions: INSTRUCTIONS,
      });
    }
    case "ping":
      return success(request.id, {});
    case "tools/list":
      return success(request.id, {
        tools: [
          ...toolDefinitions(ctx.limits.maxResponseBytes),
          queryToolDefinition(ctx.host.querySettings?.().maxRows),
          // share only where it can work: a server with state and a public URL (not over stdio).
          ...(/^https?:\/\//.test(ctx.host.stateful?.()?.publicUrl ?? "") ? [SHARE_TOOL] : []),
        ],
      });
    case "tools/call":
      return callTool(request, params, ctx);
    default:
      return failure(request.id, ErrorCode.methodNotFound, `method not found: ${request.method.slice(0, 100)}`);
  }
}

async function callTool(request: JsonRpcRequest, params: Record<string, unknown>, ctx: CallContext): Promise<JsonRpcResponse> {
  const name = params.name;
  if (typeof name !== "string") return failure(request.id, ErrorCode.invalidParams, 'tools/call needs "name", the tool to call');
  if (!TOOL_NAMES.includes(name)) {
    return failure(request.id, ErrorCode.invalidParams, `unknown tool ${JSON.stringify(name.slice(0, 100))} (kz has ${TOOL_NAMES.join(", ")})`);
  }
  let outcome: ToolOutcome;
  try {
    outcome = await runTool(name, params.arguments, ctx);
  } catch (error) {
    // Tools report their own failures; reaching here is a bug. Say what kind, never echo data.
    outcome = { ok: false, message: `${name}: internal error (${(error as Error)?.name ?? "unknown"})` };
  }
  return success(request.id, toolResult(outcome));
}

const TOOL_NAMES = ["list_secrets", "resolve", "fetch", "query", "share"];
/** query's code (Bun's SQL client, bun:sqlite, the masker) loads on the first query, once. */
let queryModule: Promise<typeof import("./query.ts")> | undefined;
/** fetch's code (the rewrite engine, TLS upstreams) loads on the first fetch, once. */
let fetchModule: Promise<typeof import("./fetch.ts")> | undefined;

/** Runs a tool named in TOOL_NAMES. */
async function runTool(name: string, args: unknown, ctx: CallContext): Promise<ToolOutcome> {
  switch (name) {
    case "list_secrets": {
      const parsed = parseListArgs(args);
      return parsed.ok ? listSecrets(ctx) : { ok: false, message: parsed.message };
    }
    case "resolve": {
      const parsed = parseResolveArgs(args);
      return parsed.ok ? resolveSecret(parsed.args, ctx) : { ok: false, message: parsed.message };
    }
    case "share": {
      const parsed = parseShareArgs(args);
      if (!parsed.ok) return { ok: false, message: parsed.message };
      const { shareTool } = await import("./share-tool.ts");
      return shareTool(parsed.args, ctx);
    }
    case "query": {
      const parsed = parseQueryArgs(args, ctx.host.querySettings?.().maxRows);
      if (!parsed.ok) return { ok: false, message: parsed.message };
      const { queryTool } = await (queryModule ??= import("./query.ts"));
      return queryTool(parsed.args, ctx);
    }
    default: {
      const parsed = parseFetchArgs(args);
      if (!parsed.ok) return { ok: false, message: parsed.message };
      const { fetchTool } = await (fetchModule ??= import("./fetch.ts"));
      return fetchTool(parsed.args, ctx);
    }
  }
}

/** A CallToolResult: JSON text for every client, structuredContent for those that read it. */
export function toolResult(outcome: ToolOutcome): Record<string, unknown> {
  if (!outcome.ok) return { content: [{ type: "text", text: outcome.message }], isError: true };
  return { content: [{ type: "text", text: JSON.stringify(outcome.result) }], structuredContent: outcome.result };
}

export type Outcome = { status: 202 } | { status: 200 | 400; body: JsonRpcResponse | JsonRpcResponse[] };

/**
 * Answers one parsed message body — a single message or a batch (allowed only in protocol versions that
 * have them). The status is HTTP's: 202 when nothing needs an answer, 400 when the body is not a message.
 */
export async function processBody(value: unknown, call: CallContext, version: string, session: SessionState = {}): Promise<Outcome> {
  if (!Array.isArray(value)) {
    const message = classify(value);
    if (message.kind === "request") return { status: 200, body: await handleRequest(message.message, call, session) };
    if (message.kind === "invalid") return { status: 400, body: failure(message.id, ErrorCode.invalidRequest, `invalid request: ${message.reason}`) };
    return { status: 202 };
  }
  if (!allowsBatches(version)) {
    return { status: 400, body: failure(null, ErrorCode.invalidRequest, `JSON-RPC batches are not part of MCP ${version}; send one message per request`) };
  }
  if (value.length === 0) return { status: 400, body: failure(null, ErrorCode.invalidRequest, "an empty batch") };
  const answers = await Promise.all(
    value.map(async (item): Promise<JsonRpcResponse | undefined> => {
      const message = classify(item);
      if (message.kind === "invalid") return failure(message.id, ErrorCode.invalidRequest, `invalid request: ${message.reason}`);
      if (message.kind !== "request") return undefined;
      if (message.message.method === "initialize") {
        return failure(message.message.id, ErrorCode.invalidRequest, "initialize must not be part of a batch");
      }
      return handleRequest(message.message, call, session);
    }),
  );
  const responses = answers.filter((a): a is JsonRpcResponse => a !== undefined);
  return responses.length === 0 ? { status: 202 } : { status: 200, body: responses };
}
