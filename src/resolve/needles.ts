// Needles: a fixed set of strings searched for all at once — leftmost match first, the longest one when
// several start at the same place, no overlaps — in bytes or in text, and the splice that replaces each
// match. The search is one native indexOf per needle (Buffer.indexOf / String.indexOf) that only moves
// forward, so a 20 MiB body costs a few memchr-speed passes, not a JavaScript loop per byte.
// Streams need one more question answered — "could this tail be the start of a needle?" — which
// heldTailStart answers; splicing-stream.ts uses it (for the output Redactor and blind mode alike).
// A needle may be caseless (ASCII letters match in either case: hex digits, a value echoed upper-cased):
// those are searched in a case-folded copy of the haystack, made once per search with a lookup table
// (~1.7 GB/s), which has the same length and offsets as the original.

export interface Match {
  /** Offset of the match (bytes or UTF-16 units, whichever was searched). */
  at: number;
  /** Index of the needle in the list given to the constructor. */
  needle: number;
  length: number;
}

export interface NeedleOptions {
  /** Per needle (same order as the texts): match ASCII letters in either case. Default: exact. */
  caseless?: readonly boolean[];
}

/** ASCII upper case to lower case, every other byte unchanged. */
const FOLD = new Uint8Array(256);
for (let i = 0; i < 256; i++) FOLD[i] = i >= 65 && i <= 90 ? i + 32 : i;

/** `bytes` with ASCII letters in lower case (a copy of the same length). */
export function foldBytes(bytes: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(bytes.length);
  for (let i = 0; i < bytes.length; i++) out[i] = FOLD[bytes[i]!]!;
  return out;
}

/** `text` with ASCII letters in lower case (same length: other characters are left alone). */
export function foldText(text: string): string {
  return /[A-Z]/.test(text) ? text.replace(/[A-Z]+/g, (run) => run.toLowerCase()) : text;
}

export class Needles {
  readonly texts: readonly string[];
  private readonly bytes: Buffer[];
  /** The texts searched for: each text, folded when its needle is caseless. */
  private readonly searchTexts: string[];
  private readonly caseless: boolean[];
  private readonly anyCaseless: boolean;
  /** Exact needles by first byte; caseless ones by folded first byte. */
  private readonly byFirstByte = new Map<number, number[]>();
  private readonly byFoldedFirstByte = new Map<number, number[]>();
  readonly maxByteLength: number;

  /** Every needle must be non-empty. */
  constructor(texts: readonly string[], options: NeedleOptions = {}) {
    if (texts.some((t) => t.length === 0)) throw new Error("Needles: empty needle");
    this.texts = texts;
    this.caseless = texts.map((_, i) => options.caseless?.[i] === true);
    this.anyCaseless = this.caseless.includes(true);
    this.searchTexts = texts.map((t, i) => (this.caseless[i] ? foldText(t) : t));
    this.bytes = this.searchTexts.map((t) => Buffer.from(t, "utf8"));
    this.bytes.forEach((b, i) => {
      const index = this.caseless[i] ? this.byFoldedFirstByte : this.byFirstByte;
      const list = index.get(b[0]!) ?? [];
      list.push(i);
      index.set(b[0]!, list);
    });
    this.maxByteLength = Math.max(0, ...this.bytes.map((b) => b.length));
  }

  get size(): number {
    return this.texts.length;
  }

  byteLength(needle: number): number {
    return this.bytes[needle]!.length;
  }

  /** Matches in `buf`, keeping only those that start before `startLimit`. */
  findInBytes(buf: Uint8Array, startLimit = buf.length): Match[] {
    const hay = asBuffer(buf);
    const folded = this.anyCaseless ? foldBytes(buf) : hay;
    const caseless = this.caseless;
    return leftmostLongest(
      this.bytes.length,
      (i) => this.bytes[i]!.length,
      (i, from) => (caseless[i] ? folded : hay).indexOf(this.bytes[i]!, from),
      startLimit,
    );
  }

  findInText(text: string): Match[] {
    const folded = this.anyCaseless ? foldText(text) : text;
    const caseless = this.caseless;
    const texts = this.searchTexts;
    return leftmostLongest(texts.length, (i) => texts[i]!.length, (i, from) => (caseless[i] ? folded : text).indexOf(texts[i]!, from), text.length);
  }

  /** The offset from which buf's tail is a proper prefix of some needle (to hold back), else buf.length. */
  heldTailStart(buf: Uint8Array): number {
    for (let p = Math.max(0, buf.length - this.maxByteLength + 1); p < buf.length; p++) {
      const tail = buf.length - p;
      for (const i of this.byFirstByte.get(buf[p]!) ?? []) {
        const needle = this.bytes[i]!;
        if (tail < needle.length && sameBytes(buf, p, needle, tail)) return p;
      }
      if (!this.anyCaseless) continue;
      for (const i of this.byFoldedFirstByte.get(FOLD[buf[p]!]!) ?? []) {
        const needle = this.bytes[i]!;
        if (tail < needle.length && sameFoldedBytes(buf, p, needle, tail)) return p;
      }
    }
    return buf.length;
  }
}

function leftmostLongest(
  count: number,
  lengthOf: (needle: number) => number,
  find: (needle: number, from: number) => number,
  startLimit: number,
): Match[] {
  const next: number[] = [];
  for (let i = 0; i < count; i++) next.push(find(i, 0));
  const matches: Match[] = [];
  for (;;) {
    let best = -1;
    for (let i = 0; i < count; i++) {
      const at = next[i]!;
      if (at < 0 || at >= startLimit) continue;
      if (best < 0 || at < next[best]! || (at === next[best]! && lengthOf(i) > lengthOf(best))) best = i;
    }
    if (best < 0) return matches;
    const match = { at: next[best]!, needle: best, length: lengthOf(best) };
    matches.push(match);
    const from = match.at + match.length;
    for (let i = 0; i < count; i++) if (next[i]! >= 0 && next[i]! < from) next[i] = find(i, from);
  }
}

/** buf with every match replaced; `end` bounds the output (bytes after it are dropped). */
export function spliceBytes(buf: Uint8Array, matches: Match[], replacement: (m: Match) => Uint8Array, end = buf.length): Uint8Array {
  if (matches.length === 0) return end === buf.length ? buf : buf.subarray(0, end);
  const parts: Uint8Array[] = [];
  let copied = 0;
  for (const m of matches) {
    parts.push(buf.subarray(copied, m.at), replacement(m));
    copied = m.at + m.length;
  }
  parts.push(buf.subarray(copied, Math.max(copied, end)));
  return concatBytes(parts);
}

export function spliceText(text: string, matches: Match[], replacement: (m: Match) => string): string {
  if (matches.length === 0) return text;
  let out = "";
  let copied = 0;
  for (const m of matches) {
    out += text.slice(copied, m.at) + replacement(m);
    copied = m.at + m.length;
  }
  return out + text.slice(copied);
}

export function concatBytes(parts: Uint8Array[]): Uint8Array {
  let size = 0;
  for (const part of parts) size += part.length;
  const out = new Uint8Array(size);
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

/** A Buffer view over the same memory (no copy), for Buffer.indexOf. */
export function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function sameBytes(buf: Uint8Array, at: number, needle: Uint8Array, length: number): boolean {
  for (let i = 0; i < length; i++) if (buf[at + i] !== needle[i]) return false;
  return true;
}

/** Like sameBytes, `needle` being already folded. */
function sameFoldedBytes(buf: Uint8Array, at: number, needle: Uint8Array, length: number): boolean {
  for (let i = 0; i < length; i++) if (FOLD[buf[at + i]!] !== needle[i]) return false;
  return true;
}
