// The request target (path and query): tokens are swapped whether written raw or percent-encoded (a
// client may well send "_" as %5F). The target is searched in a decoded view where each %XX counts as
// the one byte it stands for, with a map back to the raw offsets; a match there replaces exactly the
// raw characters it came from, so the rest of the target keeps its original encoding. A token can only
// match unreserved characters, so it can never straddle an encoded "/", "&" or "=". The value goes in
// strictly percent-encoded (safe in a path segment and a query alike), recorded as a produced form.
// The path (up to the first "?") and the query are separate placements: a secret's swap must name
// "path" or "query" for its token to be swapped there (a token cannot contain "?", so none straddles).

import type { Placement } from "../../config/placement.ts";
import type { BlindSecret, Refusal } from "../types.ts";
import type { SwapContext } from "./context.ts";
import { percentEncode } from "./encode.ts";

interface DecodedView {
  text: string;
  /** rawOffset[i] is where decoded character i starts in the raw target; rawOffset[text.length] = raw length. */
  rawOffset: number[];
}

export function swapInTarget(target: string, ctx: SwapContext): string | Refusal {
  const q = target.indexOf("?");
  const path = swapInPart(q < 0 ? target : target.slice(0, q), "path", ctx);
  if (q < 0 || typeof path !== "string") return path;
  const query = swapInPart(target.slice(q + 1), "query", ctx);
  return typeof query === "string" ? `${path}?${query}` : query;
}

function swapInPart(target: string, where: Placement, ctx: SwapContext): string | Refusal {
  if (!target.includes("%")) return ctx.swapInText(target, where, (secret) => encodeValue(secret, ctx));
  const view = decodedView(target);
  const matches = ctx.table.needles.findInText(view.text);
  if (matches.length === 0) return target;
  const refused = ctx.check(matches.map((m) => ctx.secretOf(m)), where);
  if (refused) return refused;
  let out = "";
  let copied = 0;
  for (const m of matches) {
    const start = view.rawOffset[m.at]!;
    out += target.slice(copied, start) + encodeValue(ctx.secretOf(m), ctx);
    copied = view.rawOffset[m.at + m.length]!;
  }
  return out + target.slice(copied);
}

function encodeValue(secret: BlindSecret, ctx: SwapContext): string {
  const encoded = percentEncode(secret.value.reveal());
  ctx.swapped.add(secret.name);
  ctx.recordForm(secret, encoded);
  return encoded;
}

/** Each valid %XX becomes the single (Latin-1) character of its byte; everything else stays. */
export function decodedView(raw: string): DecodedView {
  let text = "";
  const rawOffset: number[] = [];
  for (let i = 0; i < raw.length; ) {
    rawOffset.push(i);
    if (raw[i] === "%" && /^[0-9A-Fa-f]{2}$/.test(raw.slice(i + 1, i + 3))) {
      text += String.fromCharCode(parseInt(raw.slice(i + 1, i + 3), 16));
      i += 3;
    } else {
      text += raw[i];
      i += 1;
    }
  }
  rawOffset.push(raw.length);
  return { text, rawOffset };
}
