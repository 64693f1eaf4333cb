// The contracts between blind mode's parts: the token table (which token stands for which secret and
// where it may go), the rewrite engine (pure functions over request heads and body streams) and the
// proxy transport (sockets, TLS, HTTP/1.1 framing). The same engine serves MCP `fetch` later.

import type { Placement } from "../config/placement.ts";
import type { SecretValue } from "../secret.ts";

/** One blinded secret for this run. */
export interface BlindSecret {
  name: string;
  /** The opaque token the child holds instead of the value. */
  token: string;
  value: SecretValue;
  /** Host globs with optional :port, e.g. "api.openai.com", "*.slack.com", "localhost:8443", "*". */
  hosts: string[];
  /** Where in a request its token may be swapped; absent means the default (src/config/placement.ts). */
  swap?: readonly Placement[];
}

/** Where a request is going, as decided by the CONNECT target (or the absolute-form URL). */
export interface Destination {
  host: string; // lower-case, no brackets for IPv6
  port: number;
  tls: boolean;
}

/** An HTTP/1.1 request head. Header names keep their original case; order is preserved. */
export interface RequestHead {
  method: string;
  /** origin-form target: "/path?query" */
  target: string;
  version: string; // "HTTP/1.1"
  headers: [name: string, value: string][];
}

export interface ResponseHead {
  version: string;
  status: number;
  reason: string;
  headers: [name: string, value: string][];
}

/** A streaming byte transformer: push chunks, then end() once to flush what it held back. */
export interface StreamRewriter {
  push(chunk: Uint8Array): Uint8Array;
  end(): Uint8Array;
}

/** What a body rewrite saw, for the audit log. Names only, never values. */
export interface BodyAudit {
  /** Secrets whose tokens were swapped for their values. */
  swapped: string[];
  /** Secrets whose tokens were seen but may not go to this destination: left in place as inert tokens
   * (a streamed body — its head was already sent, so it can no longer be refused). */
  inert: string[];
}

/** How the body of a request must be handled after the head was planned. */
export type BodyPlan =
  | { kind: "none" } // no body (or pass through untouched: binary, compressed, no token possible)
  | { kind: "passthrough" }
  | { kind: "stream"; rewriter: StreamRewriter; audit?: () => BodyAudit } // chunked body: rewrite as it flows, re-chunk
  | {
      kind: "buffer"; // Content-Length body: buffer, rewrite, recompute length
      rewrite: (body: Uint8Array) => Uint8Array | Refusal;
      limit: number;
      audit?: () => BodyAudit;
      /** Set when the head depends on the final body (AWS SigV4 re-signing). Call it after rewrite()
       * succeeded, with the body rewrite() returned; send the head it returns as is (its
       * Content-Length already matches the body). The proxy answers a body over `limit` with 413. */
      finishHead?: (body: Uint8Array) => RequestHead | Refusal;
    };

/** A request the proxy must refuse (403) because a token was headed where its secret may not go. */
export interface Refusal {
  refused: true;
  secret: string;
  reason: string;
}

export interface RequestPlan {
  head: RequestHead; // rewritten head (headers, Basic auth, URL swapped)
  body: BodyPlan;
  /** Names of the secrets whose tokens were swapped in the head (the body reports its own). */
  swapped: string[];
  /** Encoded forms of real values this plan put into the request (see ProducedForm), to hand to echo
   * protection. Always set by planRequest; optional so that test doubles of it need not build one. */
  produced?: ProducedForm[];
}

/** An encoded form of a real value that the proxy itself produced in a request — the base64 of a Basic
 * credential it built, a percent-encoded value it put in a URL — so that echo protection can mask it in
 * the response. As sensitive as the value itself, hence a SecretValue. */
export interface ProducedForm {
  secret: string;
  form: SecretValue;
}
