// Echo protection: a real value coming back in a response (an API echoing the request, an error quoting
// a header) is masked before the child sees it. Masked forms: the raw value, the encodings kz itself
// splices with (JSON-escaped, percent-encoded) and every form the request plan reports it produced (the
// base64 of a Basic credential it built, …). Each is replaced by a mask of the SAME byte length derived
// from the secret's token — the token itself when the lengths match, else the token cut short or padded
// with "_" — so Content-Length stays right and a stream never needs re-framing. A form split across two
// chunks is still masked (SplicingStream holds back only a tail that could start one). Unlike console
// output, short values are masked too: a response is not prose.

import type { BlindSecret, ProducedForm, StreamRewriter } from "../types.ts";
import { jsonEscape, percentEncode } from "./encode.ts";
import { Needles, spliceText } from "../../resolve/needles.ts";
import { SplicingStream } from "../../resolve/splicing-stream.ts";

export interface EchoRewriter {
  /** For the response body (one per response). */
  body: StreamRewriter;
  /** For one response header value. */
  header: (value: string) => string;
  /** Names of the secrets masked so far, body and headers. */
  masked: () => string[];
}

interface Form {
  text: string;
  secret: BlindSecret;
}

/** `token` fitted to `length` characters: cut short, or padded with "_". */
export function maskFor(token: string, length: number): string {
  return token.length >= length ? token.slice(0, length) : token + "_".repeat(length - token.length);
}

/**
 * The forms and their matcher for a secret list with nothing produced (bearer and custom-header swaps,
 * the common case), built once per list: both are immutable, and rebuilding them on every response was
 * ~14% of the proxy's time. Keyed by the list object, so a caller that reuses its list gets the cache.
 */
const plainForms = new WeakMap<readonly BlindSecret[], { forms: Form[]; needles: Needles }>();

function formsAndNeedles(secrets: readonly BlindSecret[], produced: ProducedForm[]): { forms: Form[]; needles: Needles } {
  if (produced.length > 0) {
    const forms = formsOf(secrets, produced);
    return { forms, needles: new Needles(forms.map((f) => f.text)) };
  }
  let cached = plainForms.get(secrets);
  if (!cached) {
    const forms = formsOf(secrets, []);
    cached = { forms, needles: new Needles(forms.map((f) => f.text)) };
    plainForms.set(secrets, cached);
  }
  return cached;
}

export function echoRewriter(secrets: readonly BlindSecret[], produced: ProducedForm[] = []): EchoRewriter {
  const { forms, needles: byteNeedles } = formsAndNeedles(secrets, produced);
  const masked = new Set<string>();
  const body = new SplicingStream(byteNeedles, (m) => {
    const form = forms[m.needle]!;
    masked.add(form.secret.name);
    return Buffer.from(maskFor(form.secret.token, m.length), "latin1");
  });
  const header = (value: string) =>
    spliceText(value, byteNeedles.findInText(value), (m) => {
      const form = forms[m.needle]!;
      masked.add(form.secret.name);
      return maskFor(form.secret.token, m.length);
    });
  return { body, header, masked: () => [...masked] };
}

/** Every distinct non-empty form of every value, each owned by the first secret that has it. */
function formsOf(secrets: readonly BlindSecret[], produced: ProducedForm[]): Form[] {
  const seen = new Set<string>();
  const forms: Form[] = [];
  const add = (secret: BlindSecret, text: string) => {
    if (text.length === 0 || seen.has(text)) return;
    seen.add(text);
    forms.push({ text, secret });
  };
  for (const secret of secrets) {
    const value = secret.value.reveal();
    add(secret, value);
    add(secret, jsonEscape(value));
    add(secret, percentEncode(value));
  }
  for (const p of produced) {
    const secret = secrets.find((s) => s.name === p.secret);
    if (secret) add(secret, p.form.reveal());
  }
  return forms;
}
