// SwapContext: one request's view of the token table — which secrets this destination may receive, the
// Refusal for one that may not, and the record of what was swapped and which encoded forms were produced
// (for the audit log and echo protection). Processors (headers, Basic auth, URL, body, SigV4) share it.

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

  isAllowed(secret: BlindSecret): boolean {
    return this.allowed.has(secret);
  }

  /** A Refusal for the first of `secrets` that may not go to this destination, else undefined. */
  check(secrets: Iterable<BlindSecret>): Refusal | undefined {
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

  /** Replaces every token in `text` by encode(secret); refuses a token this destination may not get. */
  swapInText(text: string, encode: (secret: BlindSecret) => string | Refusal): string | Refusal {
    const matches = this.table.needles.findInText(text);
    if (matches.length === 0) return text;
    const refused = this.check(matches.map((m) => this.secretOf(m)));
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

export function refusal(secret: string, reason: string): Refusal {
  return { refused: true, secret, reason };
}

export function isRefusal(value: unknown): value is Refusal {
  return typeof value === "object" && value !== null && (value as Refusal).refused === true;
}
