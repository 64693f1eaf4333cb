// The three MCP tools as a client sees them — names, descriptions written for a model to act on without
// guessing, JSON Schemas for input and output — and the checks that turn a call's `arguments` into typed
// values (a bad argument is a tool error the model can correct, not a protocol error). Pure data and
// validation; running the tools is calls.ts and fetch.ts.

import { type CaptureSpec, CAPTURE_INPUT_SCHEMA, CAPTURED_OUTPUT_SCHEMA, parseCapture } from "./capture-args.ts";

export const DEFAULT_MAX_RESPONSE_BYTES = 256 * 1024;

/** Request headers kz sets or refuses to forward: framing, hop-by-hop, and the proxy's own. */
export const RESERVED_REQUEST_HEADERS = [
  "host",
  "content-length",
  "transfer-encoding",
  "connection",
  "keep-alive",
  "upgrade",
  "te",
  "trailer",
  "expect",
  "proxy-authorization",
  "proxy-connection",
  "accept-encoding",
];

export interface ToolDefinition {
  name: string;
  title: string;
  description: string;
  inputSchema: Record<string, unknown>;
  outputSchema: Record<string, unknown>;
  annotations: Record<string, unknown>;
}

const stringMap = { type: "object", additionalProperties: { type: "string" } };

export function toolDefinitions(maxResponseBytes = DEFAULT_MAX_RESPONSE_BYTES): ToolDefinition[] {
  return [
    {
      name: "list_secrets",
      title: "List usable secrets",
      description:
        "List the secrets this kz server lets you use: each entry is a secret's name and the hosts it may be sent to. " +
        "Values are never returned. Call this first to learn which names to pass to `resolve`, or to `fetch` as `secret`. " +
        "A secret whose hosts list is empty cannot be used with `fetch`. Secrets you captured (fetch … capture) are listed too, " +
        "marked `captured: true` with their expiry; they are yours alone.",
      inputSchema: { type: "object", properties: {}, additionalProperties: false },
      outputSchema: {
        type: "object",
        properties: {
          secrets: {
            type: "array",
            items: {
              type: "object",
              properties: {
                name: { type: "string" },
                hosts: { type: "array", items: { type: "string" } },
                captured: { type: "boolean", description: "A secret you captured with fetch … capture (yours alone)." },
                expires_at: { type: "string", description: "When a captured secret is gone (ISO 8601)." },
              },
              required: ["name", "hosts"],
            },
          },
        },
        required: ["secrets"],
      },
      annotations: { readOnlyHint: true, openWorldHint: false },
    },
    {
      name: "resolve",
      title: "Get a stand-in token for a secret",
      description:
        "Get an opaque token (KZ_TOK_…) that stands for a secret — never the secret's value. Put the token where the " +
        "credential belongs in a `fetch` request to one of the secret's hosts: in the URL, in any header (also inside " +
        "`Authorization: Basic` credentials) or in a textual body (JSON, form, XML, text); kz replaces it with the real value " +
        "as the request leaves, encoded to fit where it sits. A request that carries the token to any other host is refused. " +
        "The same secret always has the same token while the server runs. Fails when policy does not let you use the secret.",
      inputSchema: {
        type: "object",
        properties: { name: { type: "string", description: "The secret's name, as listed by list_secrets." } },
        required: ["name"],
        additionalProperties: false,
      },
      outputSchema: {
        type: "object",
        properties: {
          name: { type: "string" },
          token: { type: "string" },
          hosts: { type: "array", items: { type: "string" } },
        },
        required: ["name", "token", "hosts"],
      },
      annotations: { readOnlyHint: true, idempotentHint: true, openWorldHint: false },
    },
    {
      name: "fetch",
      title: "Make an authenticated HTTP request",
      description:
        "Make an HTTP request that uses a credential you never see. Either name a secret in `secret` (kz sends it as " +
        "`Authorization: Bearer <value>` unless the server configures another header for it), or place tokens from `resolve` in the URL, headers or body yourself. kz checks " +
        "policy for every secret the request uses, sends a secret only to the hosts it is bound to and only over https " +
        "(plain http only to loopback), refuses private and internal addresses, and follows no redirects (a 3xx comes back " +
        "with its Location). It returns the status, a safe subset of the response headers, and the body as text (base64 " +
        `when it is binary) with any credential value in it replaced by its token. Bodies over ${maxResponseBytes} bytes are ` +
        "cut there and marked truncated. At least one secret must be used: for requests that need no credential, use another tool.",
      inputSchema: {
        type: "object",
        properties: {
          url: {
            type: "string",
            description: "Absolute URL, https:// (http:// only to loopback hosts). May contain tokens, e.g. in a query parameter.",
          },
          method: {
            type: "string",
            description: "HTTP method, e.g. GET, POST, PUT, PATCH, DELETE. Default GET.",
          },
          headers: {
            ...stringMap,
            description:
              "Request headers as an object of name → value; values may contain tokens. Set Content-Type when you send a body. " +
              "Host, Content-Length, Transfer-Encoding, Connection, Accept-Encoding and other hop-by-hop headers are set by kz and may not be given.",
          },
          body: {
            type: "string",
            description: "Request body as text. Tokens in it are replaced by the value, escaped for the Content-Type (JSON, form, XML, text).",
          },
          secret: {
            type: "string",
            description:
              "Name of a secret (see list_secrets; one you captured works too) to send as `Authorization: Bearer <value>` (or the header the server configures for it). Leave it out when you place tokens yourself; " +
              "do not combine it with your own Authorization header.",
          },
          capture: CAPTURE_INPUT_SCHEMA,
        },
        required: ["url"],
        additionalProperties: false,
      },
      outputSchema: {
        type: "object",
        properties: {
          status: { type: "integer" },
          headers: stringMap,
          body: { type: "string" },
          body_encoding: { type: "string", enum: ["text", "base64"] },
          truncated: { type: "boolean" },
          note: { type: "string" },
          captured: CAPTURED_OUTPUT_SCHEMA,
        },
        required: ["status", "headers", "body", "body_encoding", "truncated"],
      },
      annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: false, openWorldHint: true },
    },
  ];
}

// ---------------------------------------------------------------------------------------------------
// Arguments

export interface ResolveArgs {
  name: string;
}

export interface FetchArgs {
  url: string;
  method: string;
  /** In the order given. */
  headers: [name: string, value: string][];
  body?: string;
  secret?: string;
  /** Values to capture from the JSON response (capture-args.ts). */
  capture?: CaptureSpec[];
}

type Parsed<T> = { ok: true; args: T } | { ok: false; message: string };

function argsObject(value: unknown, tool: string): Record<string, unknown> | string {
  if (value === undefined) return {};
  if (typeof value !== "object" || value === null || Array.isArray(value)) return `${tool}: arguments must be an object`;
  return value as Record<string, unknown>;
}

function unknownKeys(args: Record<string, unknown>, allowed: string[], tool: string): string | undefined {
  const extra = Object.keys(args).filter((k) => !allowed.includes(k));
  if (extra.length === 0) return undefined;
  return `${tool}: unknown argument${extra.length > 1 ? "s" : ""} ${extra.map((k) => JSON.stringify(k.slice(0, 40))).join(", ")} (it takes ${allowed.join(", ")})`;
}

export function parseListArgs(value: unknown): Parsed<Record<string, never>> {
  const args = argsObject(value, "list_secrets");
  if (typeof args === "string") return { ok: false, message: args };
  const extra = unknownKeys(args, [], "list_secrets");
  return extra ? { ok: false, message: extra.replace(" (it takes )", " (it takes none)") } : { ok: true, args: {} };
}

export function parseResolveArgs(value: unknown): Parsed<ResolveArgs> {
  const args = argsObject(value, "resolve");
  if (typeof args === "string") return { ok: false, message: args };
  const extra = unknownKeys(args, ["name"], "resolve");
  if (extra) return { ok: false, message: extra };
  if (typeof args.name !== "string" || args.name === "") return { ok: false, message: 'resolve: "name" must be a secret name (see list_secrets)' };
  return { ok: true, args: { name: args.name } };
}

const TOKEN_CHARS = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

export function parseFetchArgs(value: unknown): Parsed<FetchArgs> {
  const fail = (message: string): Parsed<FetchArgs> => ({ ok: false, message: `fetch: ${message}` });
  const args = argsObject(value, "fetch");
  if (typeof args === "string") return { ok: false, message: args };
  const extra = unknownKeys(args, ["url", "method", "headers", "body", "secret", "capture"], "fetch");
  if (extra) return { ok: false, message: extra };
  if (typeof args.url !== "string" || args.url === "") return fail('"url" must be an absolute https:// URL');

  let method = "GET";
  if (args.method !== undefined) {
    if (typeof args.method !== "string" || !TOKEN_CHARS.test(args.method)) return fail('"method" must be an HTTP method such as GET or POST');
    method = args.method.toUpperCase();
    if (method === "CONNECT" || method === "TRACE") return fail(`method ${method} is not supported`);
  }

  const headers: [string, string][] = [];
  if (args.headers !== undefined) {
    if (typeof args.headers !== "object" || args.headers === null || Array.isArray(args.headers)) {
      return fail('"headers" must be an object of header name → string value');
    }
    for (const [name, headerValue] of Object.entries(args.headers as Record<string, unknown>)) {
      if (!TOKEN_CHARS.test(name)) return fail(`header name ${JSON.stringify(name.slice(0, 60))} is not a valid HTTP header name`);
      if (typeof headerValue !== "string") return fail(`header ${name} must have a string value`);
      if (/[\r\n\0]/.test(headerValue)) return fail(`header ${name} contains a line break or NUL`);
      if (RESERVED_REQUEST_HEADERS.includes(name.toLowerCase())) return fail(`header ${name} is set by kz and may not be given`);
      headers.push([name, headerValue]);
    }
  }

  if (args.body !== undefined && typeof args.body !== "string") return fail('"body" must be a string (serialize JSON yourself and set Content-Type)');
  if (args.body !== undefined && (method === "GET" || method === "HEAD") && args.body !== "") return fail(`a ${method} request cannot have a body`);

  let secret: string | undefined;
  if (args.secret !== undefined) {
    if (typeof args.secret !== "string" || args.secret === "") return fail('"secret" must be a secret name (see list_secrets)');
    if (headers.some(([name]) => name.toLowerCase() === "authorization")) {
      return fail('give either "secret" (sent as Authorization: Bearer) or your own Authorization header with a token in it, not both');
    }
    secret = args.secret;
  }

  let capture: CaptureSpec[] | undefined;
  if (args.capture !== undefined) {
    const parsed = parseCapture(args.capture);
    if (typeof parsed === "string") return fail(parsed);
    capture = parsed;
  }

  return {
    ok: true,
    args: {
      url: args.url,
      method,
      headers,
      ...(args.body !== undefined && args.body !== "" ? { body: args.body } : {}),
      ...(secret ? { secret } : {}),
      ...(capture ? { capture } : {}),
    },
  };
}
