// MCP over Streamable HTTP, for the server to mount at /mcp: one POST per JSON-RPC message (or batch, in
// 2025-03-26), answered with plain JSON — kz never streams, so GET is 405 — notifications and responses
// with 202. Stateless: no Mcp-Session-Id is issued and every request is authenticated on its own through
// host.authenticate. In order: Origin (a foreign one is 403), CORS preflight, authentication (401 with
// the resource-metadata challenge), method, Content-Type, MCP-Protocol-Version (unsupported is 400), body
// size (413), JSON (parse error). CORS answers only origins the bundle lists, by name — never "*".

import { type CallContext } from "./calls.ts";
import { processBody } from "./dispatch.ts";
import { readBodyWithin } from "../http-body.ts";
import type { McpHost } from "./host.ts";
import { ErrorCode, failure, parseJson } from "./jsonrpc.ts";
import { bearerChallenge } from "./resource-metadata.ts";
import { type McpOptions, limitsFor, stateOf } from "./state.ts";
import { DEFAULT_HTTP_VERSION, SUPPORTED_VERSIONS, isSupportedVersion } from "./versions.ts";

export interface McpHttpContext {
  /** The caller's address, for audit records. */
  client: string;
  /** The server's public base URL (scheme://host[:port]), for the resource-metadata URL. */
  publicUrl: string;
  options?: McpOptions;
}

const ALLOWED_REQUEST_HEADERS = "Authorization, Content-Type, Accept, MCP-Protocol-Version, Mcp-Session-Id, Last-Event-ID";
const EXPOSED_HEADERS = "WWW-Authenticate, Mcp-Session-Id, MCP-Protocol-Version";

function jsonResponse(status: number, body: unknown, headers: Record<string, string>): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "Content-Type": "application/json", "Cache-Control": "no-store", "X-Content-Type-Options": "nosniff", ...headers },
  });
}

function errorResponse(status: number, code: number, message: string, headers: Record<string, string>): Response {
  return jsonResponse(status, failure(null, code, message), headers);
}

/** The media type of a Content-Type value, lower-cased, without parameters. */
function essence(contentType: string | null): string {
  return (contentType ?? "").split(";")[0]!.trim().toLowerCase();
}

/** Accept (absent means anything) lists something application/json satisfies. */
function acceptsJson(accept: string | null): boolean {
  if (accept === null || accept.trim() === "") return true;
  return accept.split(",").some((part) => ["application/json", "application/*", "*/*"].includes(essence(part)));
}

/** The body as text, or the status to refuse it with. */
async function readBody(request: Request, limit: number): Promise<string | 413 | 400> {
  const bytes = await readBodyWithin(request, limit);
  if (bytes === undefined) return 413;
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    return 400;
  }
}

export async function handleMcpHttp(request: Request, host: McpHost, ctx: McpHttpContext): Promise<Response> {
  const origin = request.headers.get("origin");
  const cors: Record<string, string> = {};
  if (origin !== null) {
    if (!host.allowedOrigins().includes(origin)) {
      return errorResponse(403, ErrorCode.invalidRequest, `origin ${origin.slice(0, 200)} is not allowed (the bundle's mcp.allowed_origins lists the allowed ones)`, {});
    }
    Object.assign(cors, { "Access-Control-Allow-Origin": origin, Vary: "Origin", "Access-Control-Expose-Headers": EXPOSED_HEADERS });
  }
  if (request.method === "OPTIONS") {
    return new Response(null, {
      status: 204,
      headers: {
        ...cors,
        Allow: "POST, OPTIONS",
        ...(origin !== null
          ? { "Access-Control-Allow-Methods": "POST, GET, OPTIONS", "Access-Control-Allow-Headers": ALLOWED_REQUEST_HEADERS, "Access-Control-Max-Age": "600" }
          : {}),
      },
    });
  }

  const authorization = request.headers.get("authorization");
  const auth = await host.authenticate(authorization);
  if (!auth.ok) {
    const headers = { ...cors };
    if (auth.status === 401) headers["WWW-Authenticate"] = bearerChallenge(ctx.publicUrl, authorization === null ? undefined : auth.message);
    return errorResponse(auth.status, ErrorCode.unauthenticated, auth.message, headers);
  }

  if (request.method !== "POST") {
    const why = request.method === "GET" ? "kz offers no server-to-client stream; POST JSON-RPC messages" : `${request.method} is not supported here; POST JSON-RPC messages`;
    return errorResponse(405, ErrorCode.invalidRequest, why, { ...cors, Allow: "POST, OPTIONS" });
  }
  if (essence(request.headers.get("content-type")) !== "application/json") {
    return errorResponse(415, ErrorCode.invalidRequest, "Content-Type must be application/json", cors);
  }
  if (!acceptsJson(request.headers.get("accept"))) {
    return errorResponse(406, ErrorCode.invalidRequest, "Accept must allow application/json (kz answers with JSON, not an event stream)", cors);
  }
  const headerVersion = request.headers.get("mcp-protocol-version");
  if (headerVersion !== null && !isSupportedVersion(headerVersion.trim())) {
    return errorResponse(400, ErrorCode.invalidRequest, `unsupported MCP-Protocol-Version ${headerVersion.slice(0, 40)} (kz speaks ${SUPPORTED_VERSIONS.join(", ")})`, cors);
  }
  const limits = limitsFor(host, ctx.options);
  const text = await readBody(request, limits.maxMessageBytes);
  if (text === 413) return errorResponse(413, ErrorCode.invalidRequest, `message larger than ${limits.maxMessageBytes} bytes`, cors);
  if (text === 400) return errorResponse(400, ErrorCode.parseError, "the body is not valid UTF-8", cors);
  const parsed = parseJson(text);
  if (!parsed.ok) return errorResponse(400, ErrorCode.parseError, `parse error: ${parsed.reason}`, cors);

  const call: CallContext = { host, identity: auth.identity, client: ctx.client, state: stateOf(host), limits };
  const version = headerVersion?.trim() || DEFAULT_HTTP_VERSION;
  const outcome = await processBody(parsed.value, call, version);
  if (outcome.status === 202) return new Response(null, { status: 202, headers: cors });
  return jsonResponse(outcome.status, outcome.body, cors);
}
