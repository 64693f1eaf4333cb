// The contracts between blind mode's parts: the token table (which token stands for which secret and
// where it may go), the rewrite engine (pure functions over request heads and body streams) and the
// proxy transport (sockets, TLS, HTTP/1.1 framing). The same engine serves MCP `fetch` later.

import type { SecretValue } from "../secret.ts";

/** One blinded secret for this run. */
export interface BlindSecret {
  name: string;
  /** The opaque token the child holds instead of the value. */
  token: string;
  value: SecretValue;
  /** Host globs with optional :port, e.g. "api.openai.com", "*.slack.com", "localhost:8443", "*". */
  hosts: string[];
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

/** How the body of a request must be handled after the head was planned. */
export type BodyPlan =
  | { kind: "none" } // no body (or pass through untouched: binary, compressed, no token possible)
  | { kind: "passthrough" }
  | { kind: "stream"; rewriter: StreamRewriter } // chunked body: rewrite as it flows, re-chunk
  | { kind: "buffer"; rewrite: (body: Uint8Array) => Uint8Array | Refusal; limit: number }; // Content-Length body: buffer, rewrite, recompute length

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
}
