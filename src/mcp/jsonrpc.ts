// JSON-RPC 2.0 as MCP uses it: telling a parsed message apart (request, notification, response, or
// invalid), the standard error codes, and building responses. Pure: no transport, no I/O. MCP narrows
// JSON-RPC slightly — a request id is a string or an integer, never null — and this module enforces that.

export type RequestId = string | number;

export const ErrorCode = {
  parseError: -32700,
  invalidRequest: -32600,
  methodNotFound: -32601,
  invalidParams: -32602,
  internalError: -32603,
  /** Server-defined: the caller's identity could not be verified (stdio: the token expired). */
  unauthenticated: -32001,
} as const;

export interface JsonRpcRequest {
  jsonrpc: "2.0";
  id: RequestId;
  method: string;
  params?: Record<string, unknown>;
}

export interface JsonRpcNotification {
  jsonrpc: "2.0";
  method: string;
  params?: Record<string, unknown>;
}

export interface JsonRpcError {
  code: number;
  message: string;
  data?: unknown;
}

export type JsonRpcResponse =
  | { jsonrpc: "2.0"; id: RequestId; result: unknown }
  | { jsonrpc: "2.0"; id: RequestId | null; error: JsonRpcError };

/** What one element of a request body is. */
export type Incoming =
  | { kind: "request"; message: JsonRpcRequest }
  | { kind: "notification"; message: JsonRpcNotification }
  /** A response to a request we sent: kz sends none, so these are accepted and ignored. */
  | { kind: "response" }
  | { kind: "invalid"; id: RequestId | null; reason: string };

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function isId(value: unknown): value is RequestId {
  return typeof value === "string" || (typeof value === "number" && Number.isInteger(value));
}

/** Classifies one parsed JSON value (not an array: batches are split by the caller). */
export function classify(value: unknown): Incoming {
  if (!isObject(value)) return { kind: "invalid", id: null, reason: "a JSON-RPC message must be an object" };
  const id = isId(value.id) ? value.id : null;
  if (value.jsonrpc !== "2.0") return { kind: "invalid", id, reason: 'missing "jsonrpc": "2.0"' };
  if ("method" in value) {
    if (typeof value.method !== "string" || value.method === "") return { kind: "invalid", id, reason: '"method" must be a non-empty string' };
    if (value.params !== undefined && !isObject(value.params)) return { kind: "invalid", id, reason: '"params" must be an object' };
    const base = { jsonrpc: "2.0" as const, method: value.method, ...(value.params !== undefined ? { params: value.params as Record<string, unknown> } : {}) };
    if (!("id" in value)) return { kind: "notification", message: base };
    if (!isId(value.id)) return { kind: "invalid", id: null, reason: '"id" must be a string or an integer' };
    return { kind: "request", message: { ...base, id: value.id } };
  }
  if ("result" in value || "error" in value) {
    if (!isId(value.id) && value.id !== null) return { kind: "invalid", id: null, reason: 'a response needs an "id"' };
    return { kind: "response" };
  }
  return { kind: "invalid", id, reason: 'a message needs "method" (request or notification) or "result"/"error" (response)' };
}

export function success(id: RequestId, result: unknown): JsonRpcResponse {
  return { jsonrpc: "2.0", id, result };
}

export function failure(id: RequestId | null, code: number, message: string, data?: unknown): JsonRpcResponse {
  return { jsonrpc: "2.0", id, error: data === undefined ? { code, message } : { code, message, data } };
}

/** Parses a message text; undefined (with the reason) when it is not JSON. */
export function parseJson(text: string): { ok: true; value: unknown } | { ok: false; reason: string } {
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch (error) {
    return { ok: false, reason: (error as Error).message.split("\n")[0] ?? "invalid JSON" };
  }
}
