// Echo masking for WebSocket frames from the server (after a 101 on an intercepted connection). Frames
// from a server are not XOR-masked (RFC 6455 §5.1), so their payload bytes can be rewritten in place: the
// payload of every data frame goes through one echo rewriter (a value split across the fragments of a
// message is still found) and each control frame's payload through another, at equal length, so no
// frame header changes. The rewriter holds back a tail that could start a value; the bytes already
// released fill the frames in order, and a frame header is written only once the frame before it is
// complete — so the byte stream the client sees is the server's, frame for frame. At the end of each
// message the held tail is released (a value split across two messages is not looked for: README).
// Fail closed: a frame with RSV bits (a compression extension — kz removes the client's offer), a masked
// server frame or a malformed header ends the connection.

import type { StreamRewriter } from "./types.ts";

/** A server frame kz cannot mask: the connection must be closed. */
export class WsFrameError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "WsFrameError";
  }
}

type Item = { bytes: Uint8Array } | { payload: number };

const EMPTY = new Uint8Array(0);

export class WsServerMasker {
  /** Bytes of a frame header not yet complete. */
  #head: Uint8Array = EMPTY;
  /** Payload bytes still to come in the current frame (-1: reading a header). */
  #remaining = -1;
  #opcode = 0;
  #fin = false;
  /** A control frame's payload, collected whole (at most 125 bytes). */
  #control: Uint8Array[] = [];
  #controlHeader: Uint8Array = EMPTY;
  /** What is waiting to go out, in order: complete bytes, or payload slots filled from #released. */
  #queue: Item[] = [];
  #released: Uint8Array[] = [];

  constructor(
    private readonly data: StreamRewriter,
    private readonly control: StreamRewriter,
  ) {}

  /** Feeds bytes from the server; returns what can go to the client now. Throws WsFrameError. */
  push(chunk: Uint8Array): Uint8Array {
    let i = 0;
    while (i < chunk.length) {
      if (this.#remaining < 0) {
        i = this.#readHeader(chunk, i);
        continue;
      }
      const take = Math.min(this.#remaining, chunk.length - i);
      const piece = chunk.subarray(i, i + take);
      i += take;
      this.#remaining -= take;
      if (this.#isControl()) this.#control.push(Uint8Array.from(piece));
      else this.#release(this.data.push(piece));
      if (this.#remaining === 0) this.#frameDone();
    }
    return this.#drain();
  }

  /** The server finished: whatever is held goes out (a truncated frame stays truncated). */
  end(): Uint8Array {
    this.#release(this.data.end());
    const out = this.#drain();
    const rest = this.#queue.flatMap((item) => ("bytes" in item ? [item.bytes] : []));
    this.#queue = [];
    return Buffer.concat([out, ...rest]);
  }

  #isControl(): boolean {
    return (this.#opcode & 0x08) !== 0;
  }

  /** Parses a frame header starting at chunk[i] (possibly continuing one); returns where it stopped. */
  #readHeader(chunk: Uint8Array, i: number): number {
    const need = (head: Uint8Array) => {
      if (head.length < 2) return 2;
      const len7 = head[1]! & 0x7f;
      return 2 + (len7 === 126 ? 2 : len7 === 127 ? 8 : 0) + ((head[1]! & 0x80) !== 0 ? 4 : 0);
    };
    let head = this.#head;
    while (head.length < need(head) && i < chunk.length) {
      const want = need(head) - head.length;
      const piece = chunk.subarray(i, i + want);
      head = head.length === 0 ? Uint8Array.from(piece) : Buffer.concat([head, piece]);
      i += piece.length;
    }
    if (head.length < need(head)) {
      this.#head = head;
      return i;
    }
    this.#head = EMPTY;
    const b0 = head[0]!;
    const b1 = head[1]!;
    if ((b0 & 0x70) !== 0) throw new WsFrameError("WebSocket frame with RSV bits (a compression extension) cannot be masked");
    if ((b1 & 0x80) !== 0) throw new WsFrameError("masked WebSocket frame from the server");
    const len7 = b1 & 0x7f;
    let length = len7;
    if (len7 === 126) length = (head[2]! << 8) | head[3]!;
    else if (len7 === 127) {
      const view = new DataView(head.buffer, head.byteOffset + 2, 8);
      const big = view.getBigUint64(0);
      if (big > BigInt(Number.MAX_SAFE_INTEGER)) throw new WsFrameError("WebSocket frame too large");
      length = Number(big);
    }
    this.#opcode = b0 & 0x0f;
    this.#fin = (b0 & 0x80) !== 0;
    if (this.#isControl()) {
      if (length > 125 || !this.#fin) throw new WsFrameError("malformed WebSocket control frame");
      this.#controlHeader = head;
      this.#control = [];
    } else {
      this.#queue.push({ bytes: head }, { payload: length });
    }
    this.#remaining = length;
    if (length === 0) this.#frameDone();
    return i;
  }

  #frameDone(): void {
    this.#remaining = -1;
    if (this.#isControl()) {
      const payload = Buffer.concat(this.#control);
      this.#control = [];
      const masked = Buffer.concat([this.control.push(payload), this.control.end()]);
      this.#queue.push({ bytes: Buffer.concat([this.#controlHeader, masked]) });
    } else if (this.#fin) {
      this.#release(this.data.end()); // end of a message: nothing held across messages
    }
  }

  #release(bytes: Uint8Array): void {
    if (bytes.length > 0) this.#released.push(bytes);
  }

  /** Writes out queued items as far as the released payload bytes allow. */
  #drain(): Uint8Array {
    const out: Uint8Array[] = [];
    let released = this.#released.length > 0 ? Buffer.concat(this.#released) : EMPTY;
    this.#released = [];
    while (this.#queue.length > 0) {
      const item = this.#queue[0]!;
      if ("bytes" in item) {
        out.push(item.bytes);
        this.#queue.shift();
        continue;
      }
      if (item.payload === 0) {
        this.#queue.shift();
        continue;
      }
      if (released.length === 0) break;
      const take = Math.min(item.payload, released.length);
      out.push(released.subarray(0, take));
      released = released.subarray(take);
      item.payload -= take;
    }
    if (released.length > 0) this.#released.push(released); // cannot happen: released never outruns the slots
    return out.length === 1 ? out[0]! : Buffer.concat(out);
  }
}
