// SplicingStream: Needles applied to a byte stream as it flows. A needle split across two chunks is still
// found, because only a tail that could be the start of a needle is held back; everything before it is
// written at once, so a stream is never delayed by more than one needle's length, and output that
// cannot start a needle (a prompt) is not delayed at all. end() also splices inside the held tail: a
// short needle can sit complete inside the unfinished start of a longer one.

import { type Match, type Needles, concatBytes, spliceBytes } from "./needles.ts";

export class SplicingStream {
  private pending: Uint8Array = new Uint8Array(0);

  /** `replacement` gives the bytes written in place of a match (and is where a value is revealed). */
  constructor(
    private readonly needles: Needles,
    private readonly replacement: (m: Match) => Uint8Array,
  ) {}

  push(chunk: Uint8Array): Uint8Array {
    if (this.needles.size === 0) return chunk;
    const buf = this.pending.length ? concatBytes([this.pending, chunk]) : chunk;
    const hold = this.needles.heldTailStart(buf);
    const matches = this.needles.findInBytes(buf, hold);
    const last = matches[matches.length - 1];
    const consumed = Math.max(hold, last ? last.at + last.length : 0);
    // Copy what is held: the caller may reuse its chunk's memory.
    this.pending = buf.slice(consumed);
    return spliceBytes(buf, matches, this.replacement, consumed);
  }

  end(): Uint8Array {
    const rest = this.pending;
    this.pending = new Uint8Array(0);
    return spliceBytes(rest, this.needles.findInBytes(rest), this.replacement);
  }
}
