// One TCP or TLS socket of the blind proxy (Bun's native sockets), as an awaitable byte channel with
// flow control both ways. Bun's socket.write() is unbuffered — it may take only part of the bytes — so
// the rest is queued here and written on `drain`; readers that fall behind pause the socket. Bytes are
// relayed explicitly through these methods, never with pipe() (see DESIGN "Known pitfalls").

import type { Socket, SocketHandler } from "bun";

/** Unread bytes above which the socket stops reading until the consumer catches up. */
const PAUSE_ABOVE = 1 << 20;
const RESUME_BELOW = 256 << 10;

export class Conn {
  socket: Socket<Conn> | undefined;
  /** The peer will send nothing more (FIN received, or the socket closed). */
  eof = false;
  closed = false;
  /** Incoming bytes are dropped: the raw side of a TLS-upgraded socket, or a connection being shut. */
  ignoreInput = false;
  /** Called once when the socket has closed. */
  onClose: (() => void) | undefined;

  #inbox: Buffer[] = [];
  #inboxBytes = 0;
  #reader: ((chunk: Buffer | null) => void) | undefined;
  #paused = false;
  #outbox: Uint8Array[] = [];
  #drainWaiters: (() => void)[] = [];
  #endRequested = false;

  attach(socket: Socket<Conn>): void {
    this.socket = socket;
    socket.setNoDelay(true);
  }

  // --- reading ---------------------------------------------------------------------------------

  /** The next chunk of input, or null once the peer has finished sending. */
  read(): Promise<Buffer | null> {
    const chunk = this.take();
    if (chunk || this.eof) return Promise.resolve(chunk);
    return new Promise((resolve) => (this.#reader = resolve));
  }

  /** The next already-received chunk, if any, without waiting. */
  take(): Buffer | null {
    const chunk = this.#inbox.shift();
    if (!chunk) return null;
    this.#inboxBytes -= chunk.length;
    if (this.#paused && this.#inboxBytes < RESUME_BELOW) {
      this.#paused = false;
      this.socket?.resume();
    }
    return chunk;
  }

  /** Puts bytes back in front of the input (what followed a message head or body). */
  unread(chunk: Buffer): void {
    if (chunk.length === 0) return;
    this.#inbox.unshift(chunk);
    this.#inboxBytes += chunk.length;
  }

  // --- writing ---------------------------------------------------------------------------------

  /** Queues `bytes` for the peer; returns false if the connection can no longer send. */
  write(bytes: Uint8Array): boolean {
    if (this.closed || this.#endRequested || !this.socket) return false;
    if (this.#outbox.length > 0) {
      this.#outbox.push(bytes);
      return true;
    }
    const written = this.socket.write(bytes);
    if (written === bytes.length) return true;
    if (written < 0) return false;
    this.#outbox.push(written === 0 ? bytes : bytes.subarray(written));
    return true;
  }

  /** Bytes are waiting for the socket to accept them. */
  get backpressured(): boolean {
    return this.#outbox.length > 0;
  }

  /** Resolves when everything written so far was handed to the kernel (or the socket closed). */
  drained(): Promise<void> {
    if (this.#outbox.length === 0 || this.closed) return Promise.resolve();
    return new Promise((resolve) => this.#drainWaiters.push(resolve));
  }

  /** Sends FIN (close_notify first, on TLS) once everything queued is written. */
  end(): void {
    if (this.closed || this.#endRequested) return;
    this.#endRequested = true;
    if (this.#outbox.length === 0) this.socket?.end();
  }

  /** Closes at once, dropping anything queued. */
  destroy(): void {
    if (this.closed) return;
    this.#outbox = [];
    this.socket?.terminate();
  }

  /** Stops reading for good and closes after what is queued: refuse, then let the client see why. */
  shutDown(graceMs = 10_000): void {
    this.ignoreInput = true;
    this.#inbox = [];
    this.#inboxBytes = 0;
    if (this.#paused) this.socket?.resume();
    this.end();
    if (!this.closed) setTimeout(() => this.destroy(), graceMs).unref();
  }

  // --- socket events (called by the handlers below) ----------------------------------------------

  received(chunk: Buffer): void {
    if (this.ignoreInput) return;
    const reader = this.#reader;
    if (reader) {
      this.#reader = undefined;
      reader(chunk);
      return;
    }
    this.#inbox.push(chunk);
    this.#inboxBytes += chunk.length;
    if (!this.#paused && this.#inboxBytes > PAUSE_ABOVE) {
      this.#paused = true;
      this.socket?.pause();
    }
  }

  receivedEnd(): void {
    this.eof = true;
    this.#wakeReader();
  }

  writable(): void {
    const socket = this.socket;
    if (!socket) return;
    while (this.#outbox.length > 0) {
      const bytes = this.#outbox[0]!;
      const written = socket.write(bytes);
      if (written < 0) {
        this.#outbox = [];
        break;
      }
      if (written < bytes.length) {
        this.#outbox[0] = bytes.subarray(written);
        return;
      }
      this.#outbox.shift();
    }
    this.#wakeWriters();
    if (this.#endRequested && !this.closed) socket.end();
  }

  closedBySocket(): void {
    if (this.closed) return;
    this.closed = true;
    this.eof = true;
    this.#outbox = [];
    this.#wakeReader();
    this.#wakeWriters();
    this.onClose?.();
  }

  #wakeReader(): void {
    const reader = this.#reader;
    if (reader) {
      this.#reader = undefined;
      reader(this.take());
    }
  }

  #wakeWriters(): void {
    const waiters = this.#drainWaiters;
    this.#drainWaiters = [];
    for (const wake of waiters) wake();
  }
}

/** Socket handlers that route events to the Conn in `socket.data`. */
export const connHandlers = {
  binaryType: "buffer",
  data(socket, chunk) {
    socket.data.received(chunk);
  },
  drain(socket) {
    socket.data.writable();
  },
  end(socket) {
    socket.data.receivedEnd();
  },
  close(socket) {
    socket.data.closedBySocket();
  },
  error() {
    // A TLS failure or a throwing handler; `close` follows and does the cleanup.
  },
} satisfies SocketHandler<Conn>;

/** Copies bytes both ways, each direction until its sender finishes (untouched tunnels, WebSockets). */
export async function relay(a: Conn, b: Conn): Promise<void> {
  await Promise.all([copy(a, b), copy(b, a)]);
}

async function copy(src: Conn, dst: Conn): Promise<void> {
  for (;;) {
    const chunk = await src.read();
    if (!chunk) break;
    if (!dst.write(chunk)) {
      src.destroy(); // the receiver is gone: nothing more can be delivered either way
      return;
    }
    if (dst.backpressured) await dst.drained();
  }
  dst.end();
}
