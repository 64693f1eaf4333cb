// Request bodies of the JSON API: size-limited, JSON objects only, each field checked with a message that
// names it. Pure validators over an already-parsed object, plus the reader that parses a limited body.

import { requestActions, type RequestAction } from "../config/bundle.ts";
import { readBodyWithin } from "../http-body.ts";
import { AccessError } from "./access.ts";

/** Largest JSON body the API accepts. */
export const MAX_API_BODY_BYTES = 16 * 1024;

const utf8 = new TextDecoder("utf-8", { fatal: true });

/** Error code of a body cut short by the client (counted and logged as a client error, never internal). */
export const INCOMPLETE_BODY = "incomplete_body";

/** Reads a JSON object body, or throws AccessError 400/413/415 naming what is wrong. */
export async function readJsonObject(request: Request, limit = MAX_API_BODY_BYTES): Promise<Record<string, unknown>> {
  const type = request.headers.get("content-type") ?? "";
  if (!/^application\/json\b/i.test(type)) {
    throw new AccessError(415, "unsupported_media_type", "send the body as JSON with Content-Type: application/json");
  }
  const declared = Number(request.headers.get("content-length") ?? "NaN");
  if (declared > limit) throw new AccessError(413, "body_too_large", `request body is ${declared} bytes; at most ${limit} are accepted`);
  let bytes: Uint8Array | undefined;
  try {
    bytes = await readBodyWithin(request, limit);
  } catch {
    // The client hung up (or broke the framing) mid-body: its fault, not the server's.
    throw new AccessError(400, INCOMPLETE_BODY, "the request body ended early: the client closed the connection before sending all of it");
  }
  if (bytes === undefined) throw new AccessError(413, "body_too_large", `request body is over ${limit} bytes`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(utf8.decode(bytes));
  } catch {
    throw new AccessError(400, "malformed_json", "request body is not valid UTF-8 JSON");
  }
  if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) {
    throw new AccessError(400, "invalid_request", "request body must be a JSON object");
  }
  return parsed as Record<string, unknown>;
}

export function onlyFields(body: Record<string, unknown>, allowed: readonly string[]): void {
  const extra = Object.keys(body).filter((k) => !allowed.includes(k));
  if (extra.length) {
    throw new AccessError(400, "invalid_request", `unknown field ${JSON.stringify(extra[0]!.slice(0, 64))} (allowed: ${allowed.join(", ")})`);
  }
}

export function secretField(body: Record<string, unknown>): string {
  const secret = body.secret;
  if (typeof secret !== "string" || secret === "" || secret.length > 256) {
    throw new AccessError(400, "invalid_request", '"secret" must be a secret name, e.g. {"secret": "DB_PROD"}');
  }
  return secret;
}

export function actionField(body: Record<string, unknown>, fallback: RequestAction): RequestAction {
  const action = body.action ?? fallback;
  if (typeof action !== "string" || !(requestActions as string[]).includes(action)) {
    throw new AccessError(400, "invalid_request", `"action" must be one of ${requestActions.join(", ")}`);
  }
  return action as RequestAction;
}

export function optionalString(body: Record<string, unknown>, name: string, max = 2048): string | undefined {
  const value = body[name];
  if (value === undefined) return undefined;
  if (typeof value !== "string" || value.length > max) throw new AccessError(400, "invalid_request", `"${name}" must be a string of at most ${max} characters`);
  return value;
}
