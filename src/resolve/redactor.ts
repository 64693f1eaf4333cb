// The output Redactor: masks secret values in a byte stream (a child's stdout/stderr) as it flows.
// Matching is on bytes, so multibyte text and ANSI colour pass untouched. A value split across two
// writes is still caught: only a tail that could be the start of a value is held back, so ordinary
// output (prompts included) is never delayed. Longest values win; values shorter than MIN_MASK_LENGTH
// are not masked (they would blank ordinary words).

export const MIN_MASK_LENGTH = 6;

interface Needle {
  bytes: Uint8Array;
  marker: Uint8Array;
}

export class Redactor {
  private readonly byFirstByte = new Map<number, Needle[]>();
  private readonly maxLength: number;
  private pending: Uint8Array = new Uint8Array(0);

  /** `secrets` maps each value to the name shown in its place. */
  constructor(secrets: Iterable<{ name: string; value: string }>) {
    const encoder = new TextEncoder();
    const needles: Needle[] = [];
    const seen = new Set<string>();
    for (const { name, value } of secrets) {
      if (value.length < MIN_MASK_LENGTH || seen.has(value)) continue;
      seen.add(value);
      needles.push({ bytes: encoder.encode(value), marker: encoder.encode(`[kz:${name}]`) });
    }
    needles.sort((a, b) => b.bytes.length - a.bytes.length);
    for (const needle of needles) {
      const list = this.byFirstByte.get(needle.bytes[0]!) ?? [];
      list.push(needle);
      this.byFirstByte.set(needle.bytes[0]!, list);
    }
    this.maxLength = needles[0]?.bytes.length ?? 0;
  }

  get active(): boolean {
    return this.maxLength > 0;
  }

  /** Feeds a chunk; returns what can be written now. */
  push(chunk: Uint8Array): Uint8Array {
    if (!this.active) return chunk;
    const buf = this.pending.length ? concat(this.pending, chunk) : chunk;
    const hold = this.heldTailStart(buf);
    const out = this.replace(buf, hold);
    this.pending = buf.slice(out.consumed);
    return out.bytes;
  }

  /** Flushes the held tail at end of stream (it cannot complete a value any more). */
  end(): Uint8Array {
    const rest = this.pending;
    this.pending = new Uint8Array(0);
    return rest;
  }

  /** Index from which buf's tail is a proper prefix of some value (held back), else buf.length. */
  private heldTailStart(buf: Uint8Array): number {
    for (let p = Math.max(0, buf.length - this.maxLength + 1); p < buf.length; p++) {
      for (const needle of this.byFirstByte.get(buf[p]!) ?? []) {
        const tail = buf.length - p;
        if (tail < needle.bytes.length && startsWith(buf, p, needle.bytes, tail)) return p;
      }
    }
    return buf.length;
  }

  /** Replaces every value that starts before `limit`; reports how many input bytes were consumed. */
  private replace(buf: Uint8Array, limit: number): { bytes: Uint8Array; consumed: number } {
    const parts: Uint8Array[] = [];
    let copied = 0;
    let p = 0;
    while (p < limit) {
      const needle = this.matchAt(buf, p);
      if (!needle) {
        p++;
        continue;
      }
      parts.push(buf.subarray(copied, p), needle.marker);
      p += needle.bytes.length;
      copied = p;
    }
    const consumed = Math.max(p, limit);
    parts.push(buf.subarray(copied, consumed));
    return { bytes: parts.length === 1 ? parts[0]! : concat(...parts), consumed };
  }

  private matchAt(buf: Uint8Array, p: number): Needle | undefined {
    const candidates = this.byFirstByte.get(buf[p]!);
    if (!candidates) return undefined;
    return candidates.find((n) => p + n.bytes.length <= buf.length && startsWith(buf, p, n.bytes, n.bytes.length));
  }

  /** Masks a whole string at once (for kz's own messages); leaves the stream state alone. */
  maskText(text: string): string {
    if (!this.active) return text;
    const bytes = new TextEncoder().encode(text);
    return new TextDecoder().decode(this.replace(bytes, bytes.length).bytes);
  }
}

function startsWith(buf: Uint8Array, at: number, needle: Uint8Array, length: number): boolean {
  for (let i = 0; i < length; i++) if (buf[at + i] !== needle[i]) return false;
  return true;
}

function concat(...parts: Uint8Array[]): Uint8Array {
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
