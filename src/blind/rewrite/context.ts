// SwapContext: one request's view of the token table — which secrets this destination may receive, and
// where in the request (placement: each secret's `swap`), the Refusal for a token that may not go there,
// and the record of what was swapped and which encoded forms were produced (for the audit log and echo
// protection). Processors (headers, Basic auth, URL, body, SigV4) share it, each naming its placement.

import { PLACEMENT_MEANING, type Placement, formatSwap, swapOf } from "../../config/placement.ts";
import { SecretValue } from "../../secret.ts";
import type { TokenTable } from "../tokens.ts";
import type { BlindSecret, Destination, ProducedForm, Refusal } from "../types.ts";
import { type Match, spliceText } from "../../resolve/needles.ts";

export class SwapContext {
  readonly swapped = new Set<string>();
  readonly produced: ProducedForm[] = [];
  private readonly allowed: Set<BlindSecret>;

  constructor(
    readonly table: TokenTable,
    readonly dest: Destination,
  ) {
    this.allowed = new Set(table.forHost(dest));
  }

  /** Whether `secret` may go to this destination, in this part of the request. */
  isAllowed(secret: BlindSecret, where: Placement): boolean {
    return this.allowed.has(secret) && swapOf(secret).includes(where);
  }

  /** A Refusal for the first of `secrets` that may not go to this destination, or not `where`; else undefined. */
  check(secrets: Iterable<BlindSecret>, where: Placement): Refusal | undefined {
    const list = [...secrets];
    const unbound = this.checkBinding(list);
    if (unbound) return unbound;
    const out = list.find((secret) => !swapOf(secret).includes(where));
    return out ? refusal(out.name, misplaced(out, where)) : undefined;
  }

  /** A Refusal for the first of `secrets` that may not go to this destination at all (host, TLS); else undefined. */
  checkBinding(secrets: Iterable<BlindSecret>): Refusal | undefined {
    for (const secret of secrets) {
      if (this.allowed.has(secret)) continue;
      return refusal(secret.name, this.table.problemWith(secret, this.dest) ?? `${secret.name} may not be sent here`);
    }
    return undefined;
  }

  /** The secret a match of table.needles stands for. */
  secretOf(match: Match): BlindSecret {
    return this.table.secrets[match.needle]!;
  }

  /** Records an encoded form of `secret`'s value that this request now carries (when not the raw value). */
  recordForm(secret: BlindSecret, form: string): void {
    if (form === secret.value.reveal() || form.length === 0) return;
    if (this.produced.some((p) => p.secret === secret.name && p.form.reveal() === form)) return;
    this.produced.push({ secret: secret.name, form: new SecretValue(form) });
  }

  /** Replaces every token in `text` (found `where`) by encode(secret); refuses a token that may not go there. */
  swapInText(text: string, where: Placement, encode: (secret: BlindSecret) => string | Refusal): string | Refusal {
    const matches = this.table.needles.findInText(text);
    if (matches.length === 0) return text;
    const refused = this.check(matches.map((m) => this.secretOf(m)), where);
    if (refused) return refused;
    const replacements: string[] = [];
    for (const m of matches) {
      const secret = this.secretOf(m);
      const encoded = encode(secret);
      if (isRefusal(encoded)) return encoded;
      replacements.push(encoded);
      this.swapped.add(secret.name);
    }
    let i = 0;
    return spliceText(text, matches, () => replacements[i++]!); // called once per match, in order
  }
}

/** Why a token found `where` is refused: the secret's placements, and the fix if the API really needs it there. */
export function misplaced(secret: BlindSecret, where: Placement): string {
  const swap = swapOf(secret);
  const allowed = swap.length ? `only in ${swap.map((p) => PLACEMENT_MEANING[p]).join(" or ")}` : "nowhere (it only signs requests)";
  return (
    `${secret.name} may be swapped ${allowed} (swap = ${formatSwap(swap)}); its token was found in ${PLACEMENT_MEANING[where]}, ` +
    `where a server can store it and give it back — if this API really takes it there, add "${where}" to its swap`
  );
}

export function refusal(secret: string, reason: string): Refusal {
  return { refused: true, secret, reason };
}

export function isRefusal(value: unknown): value is Refusal {
  return typeof value === "object" && value !== null && (value as Refusal).refused === true;
}
