// Echo protection: a real value coming back in a response (an API echoing the request, an error quoting
// a header) is masked before the child sees it. Masked forms: every encoding echo-forms.ts lists (raw in
// any case, JSON/percent/HTML escapes, hex, base64 and base64url at any alignment) and every form the
// request plan reports it produced (the base64 of a Basic credential it built, …). Each is replaced by a
// mask of the SAME byte length derived from the secret's token — the token itself when the lengths match,
// else the token cut short or padded, in the form's alphabet (hex for hex, base64 for base64) — so
// Content-Length stays right, a stream never needs re-framing and the masked text still decodes. A form
// split across two chunks is still masked (SplicingStream holds back only a tail that could start one).
// Unlike console output, short values are masked too: a response is not prose. The forms and their
// matcher are built once per secret list (per run), not per response.

import type { BlindSecret, ProducedForm, ResponseHead, StreamRewriter } from "../types.ts";
import { type MaskAlphabet, echoForms, maskIn } from "./echo-forms.ts";
import { Needles, spliceText } from "../../resolve/needles.ts";
import { SplicingStream } from "../../resolve/splicing-stream.ts";

export interface EchoRewriter {
  /** For the response body (one per response). */
  body: StreamRewriter;
  /** For one response header value. */
  header: (value: string) => string;
  /**
   * For a whole response head: the reason phrase, header names and values. The same object when nothing
   * in it matched (one search over the head, not one per field).
   */
  head: (head: ResponseHead) => ResponseHead;
  /** Names of the secrets masked so far, body and headers. */
  masked: () => string[];
}

interface Form {
  text: string;
  caseless: boolean;
  alphabet: MaskAlphabet;
  secret: BlindSecret;
}

/** `token` fitted to `length` characters: cut short, or padded with "_". */
export function maskFor(token: string, length: number): string {
  return maskIn("token", token, length);
}

const needlesOf = (forms: Form[]) => new Needles(forms.map((f) => f.text), { caseless: forms.map((f) => f.caseless) });

/**
 * The forms and their matcher for a secret list, built once per list: both are immutable, and building
 * them on every response was ~14% of the proxy's time (more now that there are dozens of forms). Keyed by
 * the list object, so a caller that reuses its list gets the cache. A response to a request that
 * produced forms of its own (a Basic credential) gets a matcher with those added.
 */
const plainForms = new WeakMap<readonly BlindSecret[], { forms: Form[]; needles: Needles }>();

function formsAndNeedles(secrets: readonly BlindSecret[], produced: ProducedForm[]): { forms: Form[]; needles: Needles } {
  let cached = plainForms.get(secrets);
  if (!cached) {
    const forms = formsOf(secrets);
    cached = { forms, needles: needlesOf(forms) };
    plainForms.set(secrets, cached);
  }
  if (produced.length === 0) return cached;
  const forms = withProduced(cached.forms, secrets, produced);
  return forms === cached.forms ? cached : { forms, needles: needlesOf(forms) };
}

/** The length in bytes of the longest form masked for these secrets (how far a match can reach). */
export function longestEchoForm(secrets: readonly BlindSecret[], produced: ProducedForm[] = []): number {
  return formsAndNeedles(secrets, produced).needles.maxByteLength;
}

export function echoRewriter(secrets: readonly BlindSecret[], produced: ProducedForm[] = []): EchoRewriter {
  const { forms, needles: byteNeedles } = formsAndNeedles(secrets, produced);
  const masked = new Set<string>();
  const body = new SplicingStream(byteNeedles, (m) => {
    const form = forms[m.needle]!;
    masked.add(form.secret.name);
    return Buffer.from(maskIn(form.alphabet, form.secret.token, m.length), "latin1");
  });
  const header = (value: string) =>
    spliceText(value, byteNeedles.findInText(value), (m) => {
      const form = forms[m.needle]!;
      masked.add(form.secret.name);
      return maskIn(form.alphabet, form.secret.token, m.length);
    });
  const head = (h: ResponseHead): ResponseHead => {
    let joined = h.reason;
    for (const [name, value] of h.headers) joined += `\n${name}\n${value}`;
    if (byteNeedles.findInText(joined).length === 0) return h;
    return { ...h, reason: header(h.reason), headers: h.headers.map(([name, value]) => [header(name), header(value)] as [string, string]) };
  };
  return { body, header, head, masked: () => [...masked] };
}

/** Every distinct form of every value, each owned by the first secret that has it. */
function formsOf(secrets: readonly BlindSecret[]): Form[] {
  const seen = new Set<string>();
  const forms: Form[] = [];
  for (const secret of secrets) {
    for (const form of echoForms(secret.value.reveal())) {
      const key = `${form.caseless ? "i" : "s"}${form.text}`;
      if (seen.has(key)) continue;
      seen.add(key);
      forms.push({ ...form, secret });
    }
  }
  return forms;
}

/** `forms` plus the produced forms not already among them (exact match, masked with the token). */
function withProduced(forms: Form[], secrets: readonly BlindSecret[], produced: ProducedForm[]): Form[] {
  let out = forms;
  for (const p of produced) {
    const secret = secrets.find((s) => s.name === p.secret);
    const text = p.form.reveal();
    if (!secret || text.length === 0 || out.some((f) => f.text === text)) continue;
    if (out === forms) out = [...forms];
    out.push({ text, caseless: false, alphabet: "token", secret });
  }
  return out;
}
