// Append-only JSONL audit log, hash-chained: every record carries `prev`, the SHA-256 of the line
// before it (64 zeros for the first), so an edited, removed or reordered record breaks the chain.
// Records are built from plain JSON fields only — the type admits no SecretValue, and a value could
// only reach a record by being copied into a string on purpose. File 0600 in a 0700 directory.

import { closeSync, existsSync, fstatSync, mkdirSync, openSync, readSync } from "node:fs";
import { dirname } from "node:path";
import { writeAll, writeStdout } from "../stdio.ts";

type Field = string | number | boolean | null | string[];
export type AuditFields = { [key: string]: Field | { [key: string]: Field } };

export const GENESIS = "0".repeat(64);

export function lineHash(line: string): string {
  return Bun.SHA256.hash(line, "hex");
}

let clockMs = NaN;
let clockIso = "";
/** The current time as ISO 8601, formatted once per millisecond (a busy server writes many records per ms). */
function isoNow(): string {
  const ms = Date.now();
  if (ms !== clockMs) {
    clockMs = ms;
    clockIso = new Date(ms).toISOString();
  }
  return clockIso;
}

/**
 * One record as a line: `time` first, the fields in order, `prev` last. The same text as
 * JSON.stringify({ time, ...fields, prev }), without copying the fields into a new object per record.
 */
export function recordLine(time: string, fields: AuditFields, prev: string): string {
  if (Object.hasOwn(fields, "time") || Object.hasOwn(fields, "prev")) return JSON.stringify({ time, ...fields, prev });
  const body = JSON.stringify(fields);
  const head = `{"time":${JSON.stringify(time)}`;
  const tail = `"prev":${JSON.stringify(prev)}}`;
  return body === "{}" ? `${head},${tail}` : `${head},${body.slice(1, -1)},${tail}`;
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
      const line = recordLine(isoNow(), fields, this.prev);
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
    const line = recordLine(isoNow(), fields, this.prev!);
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
