// Append-only JSONL audit log with a keyed chain: every record carries `prev`, an HMAC-SHA256 (under a
// key the audited process cannot read: src/audit/key.ts) of the line before it, or of the empty string
// for the first record. So an edited, removed or reordered record breaks the chain, and re-computing the
// chain after removing records needs the key. `prev` reads "hmac:<key id>:<64 hex>"; logs written before
// the chain was keyed hold bare SHA-256 hex (64 zeros for the first record) — `verifyChain` reports those
// as unkeyed (legacy) and accepts them only when asked to. Records are built from plain JSON fields only —
// the type admits no SecretValue, and a value could only reach a record by being copied into a string on
// purpose. File 0600 in a 0700 directory.

import { closeSync, existsSync, fstatSync, mkdirSync, openSync, readSync } from "node:fs";
import { dirname } from "node:path";
import { writeAll, writeStdout } from "../stdio.ts";
import type { AuditKey } from "./key.ts";

type Field = string | number | boolean | null | string[];
export type AuditFields = { [key: string]: Field | { [key: string]: Field } };

/** The `prev` of the first record of an unkeyed (legacy) log. */
export const GENESIS = "0".repeat(64);

/** SHA-256 of a line in hex: the link of an unkeyed (legacy) chain. */
export function lineHash(line: string): string {
  return Bun.SHA256.hash(line, "hex");
}

/** The keyed link to `previous` (the line before, or undefined for the first record). */
export function keyedLink(key: AuditKey, previous: string | undefined): string {
  return `hmac:${key.id}:${key.mac(previous ?? "")}`;
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
  private key: AuditKey | undefined;
  /** Opened on the first record and kept open (O_APPEND): a busy proxy appends one line per request. */
  private fd: number | undefined;
  /** "-" writes to standard output (a chain that starts afresh); otherwise a file path. */
  readonly toStdout: boolean;

  /**
   * `key` is the chain's key, or a function that loads it on the first record (an error there is an
   * error of that append, like an unwritable file).
   */
  constructor(
    readonly path: string,
    private readonly keySource: AuditKey | (() => AuditKey),
  ) {
    this.toStdout = path === "-";
  }

  private chainKey(): AuditKey {
    this.key ??= typeof this.keySource === "function" ? this.keySource() : this.keySource;
    return this.key;
  }

  append(fields: AuditFields): void {
    const key = this.chainKey();
    if (this.toStdout) {
      this.prev ??= keyedLink(key, undefined);
      const line = recordLine(isoNow(), fields, this.prev);
      writeStdout(`${line}\n`);
      this.prev = keyedLink(key, line);
      return;
    }
    if (this.fd === undefined) {
      mkdirSync(dirname(this.path), { recursive: true, mode: 0o700 });
      this.prev = keyedLink(key, lastLine(this.path));
      this.fd = openSync(this.path, "a", 0o600);
    }
    const line = recordLine(isoNow(), fields, this.prev!);
    writeAll(this.fd, `${line}\n`);
    this.prev = keyedLink(key, line);
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

export interface ChainOptions {
  /** The chain's key, or a function that loads it when the first keyed record needs it. */
  key?: AuditKey | (() => AuditKey);
  /** Accept unkeyed (legacy SHA-256) records before the keyed ones; otherwise they are a problem. */
  legacy?: boolean;
  /**
   * A head recorded earlier (the `head` of a past check): the log must still hold the record it follows,
   * so records removed from the end since then are detected. Only a keyed head counts (it cannot be forged).
   */
  expectHead?: string;
}

export interface ChainReport {
  problem?: ChainProblem;
  /** Records checked under the key. */
  keyed: number;
  /** Records checked as an unkeyed (legacy) SHA-256 chain. */
  legacy: number;
  /** The link the next record would carry: keep it elsewhere to detect a change to the last record. */
  head?: string;
  /** With expectHead: the (1-based) record that head follows. */
  headAt?: number;
}

const KEYED = /^hmac:([0-9a-f]{8}):([0-9a-f]{64})$/;
const LEGACY = /^[0-9a-f]{64}$/;

/** Checks a chain over the lines (no blank ones), reporting the first problem with its 1-based line. */
export function checkChain(lines: readonly string[], options: ChainOptions = {}): ChainReport {
  let key: AuditKey | undefined;
  const keyOf = (): AuditKey => (key ??= typeof options.key === "function" ? options.key() : options.key)!;
  const report: ChainReport = { keyed: 0, legacy: 0 };
  const fail = (i: number, reason: string): ChainReport => ({ ...report, problem: { line: i + 1, reason } });
  for (let i = 0; i < lines.length; i++) {
    let record: { prev?: unknown } | null;
    try {
      record = JSON.parse(lines[i]!);
    } catch {
      return fail(i, "not valid JSON");
    }
    if (record === null || typeof record !== "object" || Array.isArray(record)) return fail(i, "not a JSON object");
    const prev = typeof record.prev === "string" ? record.prev : "";
    const keyed = KEYED.exec(prev);
    if (keyed) {
      if (!options.key) return fail(i, "keyed record, but no audit key was given (pass --key FILE)");
      const k = keyOf();
      if (keyed[1] !== k.id) return fail(i, `written under audit key ${keyed[1]}, not the key given (${k.id}): pass the log's own --key FILE`);
      if (prev !== keyedLink(k, lines[i - 1])) {
        return fail(i, i === 0 ? "chain broken: the first record does not start a chain (records before it were removed)" : "chain broken: prev does not match the line before (edited, removed or reordered)");
      }
      report.keyed++;
    } else if (LEGACY.test(prev)) {
      if (report.keyed > 0) return fail(i, "unkeyed record after keyed ones (the log was altered)");
      if (!options.legacy) return fail(i, "unkeyed (legacy SHA-256) record: anyone who can write the log can re-chain it; pass --legacy to check such records anyway");
      if (prev !== (i === 0 ? GENESIS : lineHash(lines[i - 1]!))) return fail(i, "chain broken: prev does not match the line before (edited, removed or reordered)");
      report.legacy++;
    } else {
      return fail(i, 'chain broken: no valid "prev"');
    }
  }
  const last = lines.at(-1);
  if (last !== undefined) report.head = report.keyed > 0 ? keyedLink(keyOf(), last) : lineHash(last);
  if (options.expectHead !== undefined) {
    // The link after record i is record i+1's verified prev (or the head after the last record).
    const links = [...lines.slice(1).map((line) => (JSON.parse(line) as { prev: string }).prev), report.head];
    const at = KEYED.test(options.expectHead) ? links.indexOf(options.expectHead) : -1;
    if (at < 0) {
      return { ...report, problem: { line: lines.length, reason: "the expected head is not in this log: records were removed from its end since it was taken (or it is another log's head)" } };
    }
    report.headAt = at + 1;
  }
  return report;
}

/** Checks a log's chain; returns the first problem, or undefined when it is intact. */
export function verifyChain(text: string, options: ChainOptions = {}): ChainProblem | undefined {
  return checkChain(text.split("\n").filter((l) => l !== ""), options).problem;
}
