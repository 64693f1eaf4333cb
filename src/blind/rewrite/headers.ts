// Request headers: every header value is searched for tokens and each allowed one swapped for its value
// (placement "header": a secret whose swap leaves it out is refused wherever it sits in a header).
// Authorization is routed by scheme — Basic to basic-auth.ts, AWS4-HMAC-SHA256 left for sigv4.ts (it is
// re-signed, not swapped). Proxy-Authorization belongs to the proxy and is never touched. A value that
// contains a line break or NUL is refused rather than spliced: it would split the header.
// Object-store metadata headers (x-amz-meta-*, x-goog-meta-*, x-ms-meta-*, Swift's x-object-meta-*…) are
// stored with the object and served back, so a token in one is refused whatever the secret's swap says.

import type { Refusal } from "../types.ts";
import { swapInBasicAuth } from "./basic-auth.ts";
import { type SwapContext, isRefusal, refusal } from "./context.ts";
import { isHeaderSafe } from "./encode.ts";

export type Headers = [name: string, value: string][];

export function swapInHeaders(headers: Headers, ctx: SwapContext): Headers | Refusal {
  const out: Headers = [];
  for (const [name, value] of headers) {
    const swapped = swapInHeader(name, value, ctx);
    if (isRefusal(swapped)) return swapped;
    out.push([name, swapped]);
  }
  return out;
}

const STORED_HEADER = /^x-(?:amz|goog|ms|object|container|account)-meta-/i;

export function swapInHeader(name: string, value: string, ctx: SwapContext): string | Refusal {
  const lower = name.toLowerCase();
  if (lower === "proxy-authorization") return value;
  if (STORED_HEADER.test(lower)) {
    const secret = ctx.table.findTokens(value)[0];
    if (secret) return ctx.checkBinding([secret]) ?? refusal(secret.name, `${secret.name}: ${name} is object metadata, which the server stores and gives back; kz never swaps a token into it`);
  }
  if (lower === "authorization") {
    if (/^\s*AWS4-/i.test(value)) return value;
    const basic = swapInBasicAuth(value, ctx);
    if (basic !== undefined) return basic;
  }
  return ctx.swapInText(value, "header", (secret) => {
    const real = secret.value.reveal();
    if (isHeaderSafe(real)) return real;
    return refusal(secret.name, `${secret.name}'s value contains a line break or NUL and cannot be sent in the ${name} header`);
  });
}
