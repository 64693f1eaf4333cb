// Terminal output for kz's own messages: colour only on a terminal and never with NO_COLOR, errors as
// one "kz: error: …" line on stderr, and JSON printing for --json.

import { isTerminal, writeStderr, writeStdout } from "../stdio.ts";

export function useColor(fd: number): boolean {
  if (process.env.NO_COLOR !== undefined && process.env.NO_COLOR !== "") return false;
  if (process.env.FORCE_COLOR && process.env.FORCE_COLOR !== "0") return true;
  return isTerminal(fd) && process.env.TERM !== "dumb";
}

const codes = { red: 31, green: 32, yellow: 33, dim: 2, bold: 1 } as const;

export function paint(fd: number, color: keyof typeof codes, text: string): string {
  return useColor(fd) ? `\x1b[${codes[color]}m${text}\x1b[0m` : text;
}

export function printError(message: string): void {
  writeStderr(`${paint(2, "red", "kz: error:")} ${message}\n`);
}

export function printWarning(message: string): void {
  writeStderr(`${paint(2, "yellow", "kz: warning:")} ${message}\n`);
}

export function printJson(value: unknown): void {
  writeStdout(`${JSON.stringify(value, null, 2)}\n`);
}

/** A plain-text table with left-aligned columns. */
export function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => stripAnsi(r[c] ?? "").length)));
  return rows
    .map((r) => r.map((cell, c) => (c === r.length - 1 ? cell : cell + " ".repeat(widths[c]! - stripAnsi(cell).length))).join("  "))
    .join("\n");
}

function stripAnsi(text: string): string {
  return text.replace(/\x1b\[[0-9;]*m/g, "");
}
