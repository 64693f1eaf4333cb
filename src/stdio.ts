// Writing to stdout/stderr without Node's stream objects: in a compiled kz, touching process.stdout or
// process.stderr costs ~20 ms of startup (measured), more than all of `kz run`'s own work. Short
// messages go out with a synchronous write(2); streams (a child's output) use Bun's FileSink, which
// applies backpressure. isTerminal() avoids node:tty for the same reason (~4 ms to load).

import { fstatSync, statSync, writeSync } from "node:fs";

const encoder = new TextEncoder();

/** Writes all of `data` to `fd` synchronously: short writes continue, a full non-blocking pipe is waited on. */
export function writeAll(fd: number, data: string | Uint8Array): void {
  const bytes = typeof data === "string" ? encoder.encode(data) : data;
  let offset = 0;
  while (offset < bytes.length) {
    try {
      offset += writeSync(fd, bytes, offset);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EAGAIN") throw error;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1); // a non-blocking pipe is full: wait 1 ms
    }
  }
}

export const writeStdout = (data: string | Uint8Array): void => writeAll(1, data);
export const writeStderr = (data: string | Uint8Array): void => writeAll(2, data);

/** A streaming sink for fd 1 or 2: write() buffers, flush() resolves when the bytes are out. */
export function fdSink(fd: 1 | 2): Bun.FileSink {
  return (fd === 1 ? Bun.stdout : Bun.stderr).writer();
}

let nullDevice: number | undefined;

/** What fd is open on: a terminal (a character device other than /dev/null), /dev/null, or other. */
function fdKind(fd: number): "terminal" | "null" | "other" {
  try {
    const stat = fstatSync(fd);
    if (!stat.isCharacterDevice()) return "other";
    nullDevice ??= statSync("/dev/null").rdev;
    return stat.rdev === nullDevice ? "null" : "terminal";
  } catch {
    return "other";
  }
}

/** Whether fd is a terminal (no node:tty needed). */
export const isTerminal = (fd: number): boolean => fdKind(fd) === "terminal";

/** Whether fd is open on /dev/null: nothing written there can be read back by anyone. */
export const isNullDevice = (fd: number): boolean => fdKind(fd) === "null";
