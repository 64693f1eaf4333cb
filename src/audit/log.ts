// Append-only JSONL audit log, hash-chained: every record carries `prev`, the SHA-256 of the line
// before it (64 zeros for the first), so an edited, removed or reordered record breaks the chain.
// Records are built from plain JSON fields only — the type admits no SecretValue, and a value could
// only reach a record by being copied into a string on purpose. File 0600 in a 0700 directory.

import { createHash } from "node:crypto";
import { closeSync, existsSync, fstatSync, mkdirSync, openSync, readSync, writeSync } from "node:fs";
import { dirname } from "node:path";
import { writeStdout } from "../stdio.ts";

type Field = string | number | boolean | null | string[];
export type AuditFields = { [key: string]: Field | { [key: string]: Field } };

export const GENESIS = "0".repeat(64);

export function lineHash(line: string): string {
  return createHash("sha256").update(line).digest("hex");
}

/** The last complete line of a file, read from its tail. */
function lastLine(path: string): string | undefined {
  if (!existsSync(path)) return undefined;
  const fd = openSync(path, "r");
  try {
    const size = fstatSync(fd).size;
    for (let span = 4096; ; span *= 4) {
      const start = Math.max(0, size - span);
      const buf = Buffer.alloc(size - start);
      readSync(fd, buf, 0, buf.length, start);
      const text = buf.toString("utf8").replace(/\n+$/, "");
      const cut = text.lastIndexOf("\n");
      if (cut >= 0 || start === 0) return text.slice(cut + 1) || undefined;
    }
  } finally {
    closeSync(fd);
  }
}

/** Writes all of `text` (a short write on a pipe or a full disk would otherwise cut a record in half). */
function writeAll(fd: number, text: string): void {
  let bytes = Buffer.from(text);
  while (bytes.length > 0) {
    const n = writeSync(fd, bytes);
    bytes = bytes.subarray(n);
  }
}

export class AuditLog {
  private prev: string | undefined;
  /** Opened on the first record and kept open (O_APPEND): a busy proxy appends one line per request. */
  private fd: number | undefined;
  /** "-" writes to standard output (a chain that starts at the genesis hash); otherwise a file path. */
  readonly toStdout: boolean;

  constructor(readonly path: string) {
    this.toStdout = path === "-";
  }

  append(fields: AuditFields): void {
    if (this.toStdout) {
      this.prev ??= GENESIS;
      const line = JSON.stringify({ time: new Date().toISOString(), ...fields, prev: this.prev });
      writeStdout(`${line}\n`);
      this.prev = lineHash(line);
      return;
    }
    if (this.fd === undefined) {
      mkdirSync(dirname(this.path), { recursive: true, mode: 0o700 });
      const last = lastLine(this.path);
      this.prev = last ? lineHash(last) : GENESIS;
      this.fd = openSync(this.path, "a", 0o600);
    }
    const line = JSON.stringify({ time: new Date().toISOString(), ...fields, prev: this.prev });
    writeAll(this.fd, `${line}\n`);
    this.prev = lineHash(line);
  }

  close(): void {
    if (this.fd !== undefined && !this.toStdout) closeSync(this.fd);
    this.fd = undefined;
  }
}

export interface ChainProblem {
  line: number;
  reason: string;
}

/** Checks a log's chain; returns the first problem, or undefined when it is intact. */
export function verifyChain(text: string): ChainProblem | undefined {
  let prev = GENESIS;
  const lines = text.split("\n").filter((l) => l !== "");
  for (let i = 0; i < lines.length; i++) {
    let record: { prev?: unknown } | null;
    try {
      record = JSON.parse(lines[i]!);
    } catch {
      return { line: i + 1, reason: "not valid JSON" };
    }
    if (record === null || typeof record !== "object" || Array.isArray(record)) return { line: i + 1, reason: "not a JSON object" };
    if (record.prev !== prev) return { line: i + 1, reason: "chain broken: prev does not match the line before (edited, removed or reordered)" };
    prev = lineHash(lines[i]!);
  }
  return undefined;
}
