// The output Redactor: masks secret values as `[kz:NAME]` in a byte stream (a child's stdout/stderr)
// as it flows — a SplicingStream over the values. Matching is on bytes, so multibyte text and ANSI
// colour pass untouched; a value split across writes is still caught; longest values win. Values
// shorter than MIN_MASK_LENGTH are not masked (they would blank ordinary words).

import { Needles, spliceBytes, type Match } from "./needles.ts";
import { SplicingStream } from "./splicing-stream.ts";

export const MIN_MASK_LENGTH = 6;

/** Whether a Redactor over `secrets` would mask anything (without building one). */
export function masksAny(secrets: Iterable<{ value: string }>): boolean {
  for (const { value } of secrets) if (value.length >= MIN_MASK_LENGTH) return true;
  return false;
}

export class Redactor {
  private readonly needles: Needles;
  private readonly markers: Uint8Array[];
  private readonly stream: SplicingStream;

  /** `secrets` maps each value to the name shown in its place. */
  constructor(secrets: Iterable<{ name: string; value: string }>) {
    const byValue = new Map<string, string>();
    for (const { name, value } of secrets) if (value.length >= MIN_MASK_LENGTH && !byValue.has(value)) byValue.set(value, name);
    this.needles = new Needles([...byValue.keys()]);
    this.markers = [...byValue.values()].map((name) => new TextEncoder().encode(`[kz:${name}]`));
    this.stream = new SplicingStream(this.needles, this.marker);
  }

  private readonly marker = (m: Match): Uint8Array => this.markers[m.needle]!;

  get active(): boolean {
    return this.needles.size > 0; // the same as masksAny(secrets)
  }

  /** Feeds a chunk; returns what can be written now. */
  push(chunk: Uint8Array): Uint8Array {
    return this.stream.push(chunk);
  }

  /** Flushes the held tail at end of stream. */
  end(): Uint8Array {
    return this.stream.end();
  }

  /** Masks a whole string at once (for kz's own messages); leaves the stream state alone. */
  maskText(text: string): string {
    if (!this.active) return text;
    const bytes = new TextEncoder().encode(text);
    return new TextDecoder().decode(spliceBytes(bytes, this.needles.findInBytes(bytes), this.marker));
  }
}
