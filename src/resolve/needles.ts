// Needles: a fixed set of strings searched for all at once — leftmost match first, the longest one when
// several start at the same place, no overlaps — in bytes or in text, and the splice that replaces each
// match. The search is one native indexOf per needle (Buffer.indexOf / String.indexOf) that only moves
// forward, so a 20 MiB body costs a few memchr-speed passes, not a JavaScript loop per byte.
// Streams need one more question answered — "could this tail be the start of a needle?" — which
// heldTailStart answers; splicing-stream.ts uses it (for the output Redactor and blind mode alike).

export interface Match {
  /** Offset of the match (bytes or UTF-16 units, whichever was searched). */
  at: number;
  /** Index of the needle in the list given to the constructor. */
  needle: number;
  length: number;
}

export class Needles {
  readonly texts: readonly string[];
  private readonly bytes: Buffer[];
  private readonly byFirstByte = new Map<number, number[]>();
  readonly maxByteLength: number;

  /** Every needle must be non-empty. */
  constructor(texts: readonly string[]) {
    if (texts.some((t) => t.length === 0)) throw new Error("Needles: empty needle");
    this.texts = texts;
    this.bytes = texts.map((t) => Buffer.from(t, "utf8"));
    this.bytes.forEach((b, i) => {
      const list = this.byFirstByte.get(b[0]!) ?? [];
      list.push(i);
      this.byFirstByte.set(b[0]!, list);
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
    return leftmostLongest(this.bytes.length, (i) => this.bytes[i]!.length, (i, from) => hay.indexOf(this.bytes[i]!, from), startLimit);
  }

  findInText(text: string): Match[] {
    return leftmostLongest(this.texts.length, (i) => this.texts[i]!.length, (i, from) => text.indexOf(this.texts[i]!, from), text.length);
  }

  /** The offset from which buf's tail is a proper prefix of some needle (to hold back), else buf.length. */
  heldTailStart(buf: Uint8Array): number {
    for (let p = Math.max(0, buf.length - this.maxByteLength + 1); p < buf.length; p++) {
      for (const i of this.byFirstByte.get(buf[p]!) ?? []) {
        const needle = this.bytes[i]!;
        const tail = buf.length - p;
        if (tail < needle.length && sameBytes(buf, p, needle, tail)) return p;
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
