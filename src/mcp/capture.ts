// `fetch … capture`, once the response is in: find each pointer in the JSON body, refuse what must not
// be kept, seal and store the rest for the caller, and build the result the agent sees — each captured
// value replaced by its token where the pointer found it, and masked (like any real value) wherever else
// it appears, in any encoding the echo masker covers, body and headers. All or nothing: any capture that
// fails stores none, and its error withholds the body (which may hold the very credential). Refused:
//   - a value that holds a real value the request itself used (raw or encoded): capturing the echo of a
//     secret would re-bind it to new hosts — laundering — so it is never kept;
//   - a value holding a kz token, one shorter than 8 characters (masking it would mangle the result) or
//     longer than 8 KiB, and anything but a string or an exactly representable number.

import { echoRewriter } from "../blind/rewrite/echo.ts";
import type { BlindSecret, Destination, ProducedForm } from "../blind/types.ts";
import { TOKEN_PREFIX } from "../blind/tokens.ts";
import { SecretValue } from "../secret.ts";
import type { CapturedSecret } from "../state/types.ts";
import { type CallContext, type ToolOutcome, ok, refuse } from "./calls.ts";
import type { CaptureSpec } from "./capture-args.ts";
import { auditCaptured, capturedToken } from "./captured.ts";
import { buildFetchResult, codingOf, decodeContent } from "./fetch-result.ts";
import { lookup } from "./json-pointer.ts";
import type { RawResponse } from "./roundtrip.ts";
import type { StatefulHost } from "./stateful.ts";

export const MIN_CAPTURED_LENGTH = 8;
export const MAX_CAPTURED_BYTES = 8 * 1024;

export interface CaptureRun {
  ctx: CallContext;
  stateful: StatefulHost;
  owner: string;
  dest: Destination;
  /** The secrets the request used, with their real values (for the laundering check and masking). */
  requestSecrets: readonly BlindSecret[];
  produced: ProducedForm[];
  limit: number;
  margin: number;
}

type Found = { spec: CaptureSpec; text: string };

/** The text a pointer's value is kept as, or why it cannot be kept. */
function capturedText(value: unknown, echo: (text: string) => string): string {
  if ((typeof value === "number" && !Number.isSafeInteger(value)) || rawJson.isRawJSON?.(value)) {
    throw new CaptureRefused("is a number kz cannot keep exactly (not a safe integer)");
  }
  if (typeof value !== "string" && typeof value !== "number") {
    throw new CaptureRefused(`is ${value === null ? "null" : Array.isArray(value) ? "an array" : `a ${typeof value}`}, not a string or number`);
  }
  const text = String(value);
  if (text.length < MIN_CAPTURED_LENGTH) throw new CaptureRefused(`is shorter than ${MIN_CAPTURED_LENGTH} characters, too short to mask safely`);
  if (Buffer.byteLength(text) > MAX_CAPTURED_BYTES) throw new CaptureRefused(`is longer than ${MAX_CAPTURED_BYTES} bytes`);
  if (text.includes(TOKEN_PREFIX)) throw new CaptureRefused("holds a kz token; a token is not a credential to keep");
  if (echo(text) !== text) throw new CaptureRefused("holds the value of a secret this request used; kz does not re-bind a secret it already holds");
  return text;
}

class CaptureRefused extends Error {}

type RawJson = { rawJSON?: (text: string) => unknown; isRawJSON?: (value: unknown) => boolean };
const rawJson = JSON as unknown as RawJson;

/**
 * JSON.parse's reviver that keeps a number's own text when JavaScript cannot hold it exactly (a 64-bit
 * id, "1.0"), so the agent's result — re-serialized with tokens in it — does not alter other fields.
 */
function exactNumbers(_key: string, value: unknown, context?: { source?: string }): unknown {
  if (typeof value !== "number" || context?.source === undefined || String(value) === context.source || !rawJson.rawJSON) return value;
  return rawJson.rawJSON(context.source);
}

/** `document` with the value at `tokens` replaced by `replacement` (the root when `tokens` is empty). */
function replaced(document: unknown, tokens: readonly string[], replacement: string): unknown {
  if (tokens.length === 0) return replacement;
  let parent = document as Record<string, unknown>;
  for (const token of tokens.slice(0, -1)) parent = parent[Array.isArray(parent) ? Number(token) : token] as Record<string, unknown>;
  const last = tokens.at(-1)!;
  if (Array.isArray(parent)) parent[Number(last)] = replacement;
  else Object.defineProperty(parent, last, { value: replacement, enumerable: true, writable: true, configurable: true });
  return document;
}

export async function captureResponse(raw: RawResponse, specs: CaptureSpec[], run: CaptureRun): Promise<ToolOutcome> {
  const { stateful, owner, dest, limit, margin } = run;
  const status = raw.head.status;
  const requestEcho = echoRewriter(run.requestSecrets, run.produced);
  /** A refusal for the agent, and its audit record: `kind` only — the response's own text stays out of the log. */
  const fail = (why: string, kind: string) => {
    try {
      auditCaptured(run.ctx, stateful, "capture.refused", { names: specs.map((s) => s.as), source_host: dest.host, status, reason: kind });
    } catch {
      // The agent gets the refusal either way; nothing was stored.
    }
    return refuse(
      requestEcho.header(
        `fetch: the request was made (HTTP ${status}) but nothing was captured: ${why}. The response body is withheld, as it may hold the credential.`,
      ),
    );
  };

  if (raw.cut) return fail(`the response is larger than ${limit} bytes; capture needs the whole JSON body`, "too_large");
  const decoded = decodeContent(raw.body, codingOf(raw.head), limit + margin);
  if (typeof decoded === "string") return fail(`the body cannot be read (${decoded})`, "unreadable");
  let document: unknown;
  try {
    document = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(decoded), exactNumbers as (key: string, value: unknown) => unknown);
  } catch {
    // The media type alone (a parameter could carry anything).
    const type = (raw.head.headers.find(([n]) => n.toLowerCase() === "content-type")?.[1] ?? "none").split(";")[0]!.trim();
    return fail(`the response body is not JSON (Content-Type: ${type.slice(0, 80)})`, "not_json");
  }

  const found: Found[] = [];
  for (const spec of specs) {
    const at = lookup(document, spec.tokens);
    if (!at.found) return fail(`pointer ${JSON.stringify(spec.pointer)} (for ${spec.as}) finds nothing: ${at.reason}`, `not_found ${spec.pointer}`);
    try {
      found.push({ spec, text: capturedText(at.value, requestEcho.header) });
    } catch (error) {
      if (!(error instanceof CaptureRefused)) throw error;
      return fail(`the value at ${JSON.stringify(spec.pointer)} (for ${spec.as}) ${error.message}`, `refused ${spec.pointer}: ${error.message}`);
    }
  }

  // Seal all, record all, then store all: no capture exists without its audit record, and a store that
  // fails part-way takes back what it stored (all or nothing).
  const now = stateful.now();
  const stored: { secret: CapturedSecret; token: string; value: SecretValue; pointer: string; tokens: string[] }[] = [];
  const put: CapturedSecret[] = [];
  try {
    for (const { spec, text } of found) {
      const value = new SecretValue(text);
      const sealed = await stateful.seal(value, owner, spec.as);
      const secret: CapturedSecret = { owner, name: spec.as, sealed, hosts: spec.hosts, expiresAt: now + spec.ttlMs, createdAt: now };
      stored.push({ secret, token: capturedToken(secret), value, pointer: spec.pointer, tokens: spec.tokens });
    }
    for (const { secret, pointer } of stored) {
      auditCaptured(run.ctx, stateful, "capture.created", {
        name: secret.name,
        hosts: secret.hosts,
        expires_at: new Date(secret.expiresAt).toISOString(),
        source_host: dest.host,
        pointer,
        status,
      });
    }
    for (const { secret } of stored) {
      await stateful.captured.put(secret);
      put.push(secret);
    }
  } catch (error) {
    await Promise.all(put.map((s) => stateful.captured.take(s.owner, s.name).catch(() => undefined)));
    return fail(`the server could not store it (${(error as Error)?.name === "StateUnavailableError" ? "server state is unavailable" : (error as Error)?.message?.split("\n")[0] ?? "error"})`, "not_stored");
  }

  // The agent's view: tokens where the pointers were, every other occurrence masked.
  for (const { token, tokens } of stored) document = replaced(document, tokens, token);
  const capturedSecrets: BlindSecret[] = stored.map(({ secret, token, value }) => ({ name: secret.name, token, value, hosts: secret.hosts }));
  const head = { ...raw.head, headers: raw.head.headers.filter(([n]) => !["content-encoding", "transfer-encoding", "content-length"].includes(n.toLowerCase())) };
  const result = buildFetchResult(
    { head, body: Buffer.from(JSON.stringify(document), "utf8"), cut: false },
    echoRewriter([...run.requestSecrets, ...capturedSecrets], run.produced),
    limit,
    margin,
  );
  const captured = stored.map(({ secret, token, pointer }) => ({
    name: secret.name,
    pointer,
    token,
    hosts: secret.hosts,
    expires_at: new Date(secret.expiresAt).toISOString(),
  }));
  const note = `captured ${captured.map((c) => c.name).join(", ")}: the value${captured.length > 1 ? "s are" : " is"} kept by kz and replaced by ${captured.length > 1 ? "tokens" : "a token"} in this result`;
  return ok({ ...result, note: result.note ? `${result.note}; ${note}` : note, captured });
}
