// Needles: a fixed set of strings searched for all at once — leftmost match first, the longest one when
// several start at the same place, no overlaps — in bytes or in text, and the splice that replaces each
// match. The search is one native indexOf per needle (Buffer.indexOf / String.indexOf) that only moves
// forward, so a 20 MiB body costs a few memchr-speed passes, not a JavaScript loop per byte.
// Streams need one more question answered — "could this tail be the start of a needle?" — which
// heldTailStart answers; splicing-stream.ts uses it (for the output Redactor and blind mode alike).
// A needle may be caseless (ASCII letters match in either case: hex digits, a value echoed upper-cased).
// Most have an anchor — a run of 4+ bytes that are not letters (digits, "-", "%", "&#"), the same in any
// case — found with the native indexOf in the haystack as is, each hit then compared caselessly; a
// caseless needle without one is searched in a case-folded copy of the haystack (same length and
// offsets), made only when such a needle exists (~2 GB/s).

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

/**
 * `bytes` with ASCII letters in lower case (a copy of the same length). Four bytes at a time where the
 * copy and the source share an alignment: for each byte below 0x80, bit 7 of (b + 0x3f) is set when
 * b >= 'A' and bit 7 of (b + 0x25) when b > 'Z'; the difference, shifted to bit 5, is the 0x20 to add.
 */
export function foldBytes(bytes: Uint8Array): Buffer {
  const n = bytes.length;
  const lead = (4 - (bytes.byteOffset & 3)) & 3;
  const backing = Buffer.allocUnsafeSlow(n + 4); // not pooled: its start is aligned
  const out = backing.subarray((4 - lead) & 3, ((4 - lead) & 3) + n); // same alignment as `bytes`
  const head = Math.min(lead, n);
  for (let i = 0; i < head; i++) out[i] = FOLD[bytes[i]!]!;
  const words = (n - head) >>> 2;
  if (words > 0) {
    const src = new Uint32Array(bytes.buffer, bytes.byteOffset + head, words);
    const dst = new Uint32Array(out.buffer, out.byteOffset + head, words);
    for (let i = 0; i < words; i++) {
      const w = src[i]!;
      const low = w & 0x7f7f7f7f;
      dst[i] = w | ((((low + 0x3f3f3f3f) & ~(low + 0x25252525) & ~w & 0x80808080) >>> 2) >>> 0);
    }
  }
  for (let i = head + words * 4; i < n; i++) out[i] = FOLD[bytes[i]!]!;
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
  /** Per caseless needle: its anchor (see the header) and where it sits in the needle, or null. */
  private readonly anchors: ({ bytes: Buffer; text: string; offset: number } | null)[];
  /** Some caseless needle has no anchor: searches fold the haystack. */
  private readonly needsFold: boolean;
  /** Exact needles by first byte; caseless ones by folded first byte. */
  private readonly byFirstByte: (number[] | undefined)[] = new Array(256);
  private readonly byFoldedFirstByte: (number[] | undefined)[] = new Array(256);
  readonly maxByteLength: number;

  /** Every needle must be non-empty. */
  constructor(texts: readonly string[], options: NeedleOptions = {}) {
    if (texts.some((t) => t.length === 0)) throw new Error("Needles: empty needle");
    this.texts = texts;
    this.caseless = texts.map((_, i) => options.caseless?.[i] === true);
    this.searchTexts = texts.map((t, i) => (this.caseless[i] ? foldText(t) : t));
    this.bytes = this.searchTexts.map((t) => Buffer.from(t, "utf8"));
    this.bytes.forEach((b, i) => {
      const index = this.caseless[i] ? this.byFoldedFirstByte : this.byFirstByte;
      (index[b[0]!] ??= []).push(i);
    });
    this.maxByteLength = Math.max(0, ...this.bytes.map((b) => b.length));
    this.anchors = this.bytes.map((b, i) => (this.caseless[i] ? anchorOf(b, this.searchTexts[i]!) : null));
    this.needsFold = this.caseless.some((c, i) => c && this.anchors[i] === null);
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
    const folded = this.needsFold ? foldBytes(buf) : hay;
    const { caseless, anchors, bytes } = this;
    const find = (i: number, from: number): number => {
      if (!caseless[i]) return hay.indexOf(bytes[i]!, from);
      const anchor = anchors[i];
      return anchor ? anchoredFind(hay, bytes[i]!, anchor, from) : folded.indexOf(bytes[i]!, from);
    };
    return leftmostLongest(bytes.length, (i) => bytes[i]!.length, find, startLimit);
  }

  findInText(text: string): Match[] {
    const folded = this.needsFold ? foldText(text) : text;
    const { caseless, anchors, searchTexts: texts } = this;
    const find = (i: number, from: number): number => {
      if (!caseless[i]) return text.indexOf(texts[i]!, from);
      const anchor = anchors[i];
      return anchor ? anchoredFindText(text, texts[i]!, anchor, from) : folded.indexOf(texts[i]!, from);
    };
    return leftmostLongest(texts.length, (i) => texts[i]!.length, find, text.length);
  }

  /** The offset from which buf's tail is a proper prefix of some needle (to hold back), else buf.length. */
  heldTailStart(buf: Uint8Array): number {
    for (let p = Math.max(0, buf.length - this.maxByteLength + 1); p < buf.length; p++) {
      const tail = buf.length - p;
      const exact = this.byFirstByte[buf[p]!];
      if (exact) {
        for (const i of exact) {
          const needle = this.bytes[i]!;
          if (tail < needle.length && sameBytes(buf, p, needle, tail)) return p;
        }
      }
      const folded = this.byFoldedFirstByte[FOLD[buf[p]!]!];
      if (folded) {
        for (const i of folded) {
          const needle = this.bytes[i]!;
          if (tail < needle.length && sameFoldedBytes(buf, p, needle, tail)) return p;
        }
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

/** ASCII that is not a letter: the same in any case, and one byte per character. */
const isAnchorByte = (c: number) => c < 0x80 && !((c >= 65 && c <= 90) || (c >= 97 && c <= 122));
const MIN_ANCHOR = 4;

/**
 * The longest run of non-letter ASCII bytes in a (folded) needle, if at least MIN_ANCHOR long, as bytes
 * and as text (ASCII: the same offset in both).
 */
function anchorOf(needle: Buffer, text: string): { bytes: Buffer; text: string; offset: number } | null {
  let best = { start: 0, length: 0 };
  for (let i = 0; i < needle.length; ) {
    if (!isAnchorByte(needle[i]!)) {
      i++;
      continue;
    }
    let j = i;
    while (j < needle.length && isAnchorByte(needle[j]!)) j++;
    if (j - i > best.length) best = { start: i, length: j - i };
    i = j;
  }
  if (best.length < MIN_ANCHOR) return null;
  // Byte offsets equal text offsets only while everything before the anchor is ASCII.
  if (needle.subarray(0, best.start).some((b) => b >= 0x80)) return null;
  const bytes = needle.subarray(best.start, best.start + best.length);
  return { bytes, text: text.slice(best.start, best.start + best.length), offset: best.start };
}

/** Like anchoredFind, over text. */
function anchoredFindText(hay: string, needle: string, anchor: { text: string; offset: number }, from: number): number {
  for (let search = from + anchor.offset; ; ) {
    const at = hay.indexOf(anchor.text, search);
    if (at < 0) return -1;
    const start = at - anchor.offset;
    if (start + needle.length <= hay.length && sameFoldedText(hay, start, needle)) return start;
    search = at + 1;
  }
}

/** Does hay, from `at`, read as the folded `needle` once its ASCII letters are folded? */
function sameFoldedText(hay: string, at: number, needle: string): boolean {
  for (let i = 0; i < needle.length; i++) {
    let c = hay.charCodeAt(at + i);
    if (c >= 65 && c <= 90) c += 32;
    if (c !== needle.charCodeAt(i)) return false;
  }
  return true;
}

/** The first match of the folded `needle` at or after `from`, in any case, found through its anchor. */
function anchoredFind(hay: Buffer, needle: Buffer, anchor: { bytes: Buffer; offset: number }, from: number): number {
  for (let search = from + anchor.offset; ; ) {
    const at = hay.indexOf(anchor.bytes, search);
    if (at < 0) return -1;
    const start = at - anchor.offset;
    if (start + needle.length <= hay.length && sameFoldedBytes(hay, start, needle, needle.length)) return start;
    search = at + 1;
  }
}

/** Like sameBytes, `needle` being already folded. */
function sameFoldedBytes(buf: Uint8Array, at: number, needle: Uint8Array, length: number): boolean {
  for (let i = 0; i < length; i++) if (FOLD[buf[at + i]!] !== needle[i]) return false;
  return true;
}
