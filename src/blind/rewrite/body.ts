// Request bodies: which ones are rewritten, and how.
//
// Textual bodies only, by Content-Type: JSON (any subtype containing "json", e.g. x-amz-json-1.1,
// ld+json, x-ndjson), application/x-www-form-urlencoded, XML (xml, +xml), text/*, application/graphql,
// multipart/form-data (parts are delimited by a boundary, not counted, so a splice keeps them valid).
// A body without Content-Type is treated as text when buffered only if it is valid UTF-8 (a binary
// upload lacking a type is left alone); streamed, it cannot be checked first and is treated as text.
// Anything else — and any body with a Content-Encoding (compressed), or a Transfer-Encoding other than
// plain chunked — passes through untouched: a token inside stays an inert token.
//
// The value is spliced in the body's own encoding: JSON-escaped inside JSON, percent-encoded in a form,
// XML-escaped in XML, raw otherwise — so a value with a quote cannot break the document around it.
//
// Content-Length bodies get a `buffer` plan: up to BODY_LIMIT (64 MiB) the proxy buffers the body, and
// rewrite() refuses the request if a token bound elsewhere is present, else swaps and returns the new
// body (the proxy recomputes Content-Length). The proxy answers a body over the limit with 413 rather
// than send it on unrewritten. Chunked bodies get a `stream` plan: their head has already left, so a token bound
// elsewhere cannot be refused any more; it is left in place, inert, and reported by audit().
//
// Placement "body": a token whose secret's swap leaves out "body" is refused in a buffered body and left
// inert (reported) in a streamed one, exactly like a token bound to another host.

import { isUtf8 } from "node:buffer";
import type { BlindSecret, BodyAudit, BodyPlan, Refusal, RequestHead, StreamRewriter } from "../types.ts";
import type { SwapContext } from "./context.ts";
import { jsonEscape, percentEncode, xmlEscape } from "./encode.ts";
import { headerValues } from "./head.ts";
import { spliceBytes } from "../../resolve/needles.ts";
import { SplicingStream } from "../../resolve/splicing-stream.ts";

export const BODY_LIMIT = 64 * 1024 * 1024;

export type TextKind = "json" | "form" | "xml" | "text" | "untyped";
export type Framing = "none" | "length" | "chunked" | "other";

/** How the body is delimited on the wire (HTTP/1.1: Transfer-Encoding wins over Content-Length). */
export function bodyFraming(head: RequestHead): Framing {
  const codings = headerValues(head, "transfer-encoding")
    .flatMap((v) => v.split(","))
    .map((c) => c.trim().toLowerCase())
    .filter(Boolean);
  if (codings.length) return codings.length === 1 && codings[0] === "chunked" ? "chunked" : "other";
  const lengths = headerValues(head, "content-length");
  if (lengths.length === 0) return "none";
  if (!lengths.every((l) => /^\s*\d+\s*$/.test(l) && l.trim() === lengths[0]!.trim())) return "other";
  return Number(lengths[0]) === 0 ? "none" : "length";
}

/** The textual kind of the body, or undefined when it must pass through untouched. */
export function textKindOf(head: RequestHead): TextKind | undefined {
  const encodings = headerValues(head, "content-encoding").map((v) => v.trim().toLowerCase());
  if (encodings.some((e) => e && e !== "identity")) return undefined;
  const type = headerValues(head, "content-type")[0];
  if (type === undefined) return "untyped";
  const mime = type.split(";")[0]!.trim().toLowerCase();
  const [top, sub = ""] = mime.split("/");
  if (sub.includes("json")) return "json";
  if (mime === "application/x-www-form-urlencoded") return "form";
  if (sub === "xml" || sub.endsWith("+xml")) return "xml";
  if (top === "text" || mime === "application/graphql" || mime === "multipart/form-data") return "text";
  return undefined;
}

/** `value` as it must appear inside a body of this kind. */
export function encodeForBody(value: string, kind: TextKind): string {
  if (kind === "json") return jsonEscape(value);
  if (kind === "form") return percentEncode(value);
  if (kind === "xml") return xmlEscape(value);
  return value;
}

export function planBody(head: RequestHead, ctx: SwapContext, limit = BODY_LIMIT): BodyPlan {
  const framing = bodyFraming(head);
  if (framing === "none") return { kind: "none" };
  const kind = textKindOf(head);
  if (framing === "other" || kind === undefined) return { kind: "passthrough" };
  if (framing === "chunked") {
    const stream = new BodyStream(ctx, kind);
    return { kind: "stream", rewriter: stream, audit: () => stream.audit() };
  }
  const audit = new Set<string>();
  return {
    kind: "buffer",
    limit,
    rewrite: (body) => rewriteBufferedBody(body, kind, ctx, audit),
    audit: () => ({ swapped: [...audit], inert: [] }),
  };
}

/** Swaps allowed tokens in a whole body; refuses if a token bound elsewhere is in it. */
export function rewriteBufferedBody(body: Uint8Array, kind: TextKind, ctx: SwapContext, swapped = new Set<string>()): Uint8Array | Refusal {
  if (kind === "untyped" && !isUtf8(body)) return body;
  const matches = ctx.table.needles.findInBytes(body);
  if (matches.length === 0) return body;
  const refused = ctx.check(matches.map((m) => ctx.secretOf(m)), "body");
  if (refused) return refused;
  return spliceBytes(body, matches, (m) => {
    const secret = ctx.secretOf(m);
    swapped.add(secret.name);
    return valueBytes(secret, kind);
  });
}

function valueBytes(secret: BlindSecret, kind: TextKind): Uint8Array {
  return Buffer.from(encodeForBody(secret.value.reveal(), kind), "utf8");
}

/** A chunked body: allowed tokens swapped as they flow, others left inert and reported. */
class BodyStream implements StreamRewriter {
  private readonly swapped = new Set<string>();
  private readonly inert = new Set<string>();
  private readonly stream: SplicingStream;

  constructor(ctx: SwapContext, kind: TextKind) {
    this.stream = new SplicingStream(ctx.table.needles, (m) => {
      const secret = ctx.secretOf(m);
      if (!ctx.isAllowed(secret, "body")) {
        this.inert.add(secret.name);
        return Buffer.from(secret.token, "utf8");
      }
      this.swapped.add(secret.name);
      return valueBytes(secret, kind);
    });
  }

  push(chunk: Uint8Array): Uint8Array {
    return this.stream.push(chunk);
  }

  end(): Uint8Array {
    return this.stream.end();
  }

  audit(): BodyAudit {
    return { swapped: [...this.swapped], inert: [...this.inert] };
  }
}
