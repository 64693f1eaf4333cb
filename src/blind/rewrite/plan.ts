// planRequest: the rewrite engine's entry point. Given where a request goes and its head, it runs each
// processor in turn — presigned-URL check, URL, headers (Basic auth inside), body plan, SigV4 re-signing
// last (it signs the final head) — and returns the rewritten head with a body plan, or the Refusal of
// the first token headed where its secret may not go. Called for intercepted hosts only: a host no
// secret is bound to is tunnelled untouched by the proxy, and a token sent there stays inert.

import type { TokenTable } from "../tokens.ts";
import type { Destination, Refusal, RequestHead, RequestPlan } from "../types.ts";
import { BODY_LIMIT, planBody } from "./body.ts";
import { SwapContext, isRefusal } from "./context.ts";
import { swapInHeaders } from "./headers.ts";
import { planSigV4, refusePresignedUrl } from "./sigv4.ts";
import { swapInTarget } from "./url.ts";

export interface PlanOptions {
  /** Content-Length bodies up to this size are buffered and rewritten; larger ones pass through. */
  bodyLimit?: number;
}

export function planRequest(dest: Destination, head: RequestHead, table: TokenTable, opts: PlanOptions = {}): RequestPlan | Refusal {
  const limit = opts.bodyLimit ?? BODY_LIMIT;
  const ctx = new SwapContext(table, dest);

  const presigned = refusePresignedUrl(head.target, ctx);
  if (presigned) return presigned;
  const target = swapInTarget(head.target, ctx);
  if (isRefusal(target)) return target;
  const headers = swapInHeaders(head.headers, ctx);
  if (isRefusal(headers)) return headers;

  let swappedHead: RequestHead = { ...head, target, headers };
  let body = planBody(swappedHead, ctx, limit);
  const signed = planSigV4(head, swappedHead, body, ctx, limit);
  if (isRefusal(signed)) return signed;
  if (signed) ({ head: swappedHead, body } = signed);

  return { head: swappedHead, body, swapped: [...ctx.swapped], produced: ctx.produced };
}

export { isRefusal };
