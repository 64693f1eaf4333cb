// Reading a secret value from the user without it touching argv or the screen: piped stdin (one
// trailing newline stripped) or a hidden prompt on the terminal (no echo).

import { isTerminal, writeStderr } from "../stdio.ts";
import { KzError } from "../errors.ts";
import { SecretValue } from "../secret.ts";

export async function readPipedStdin(): Promise<SecretValue> {
  const text = await Bun.stdin.text();
  return new SecretValue(text.replace(/\r?\n$/, ""));
}

/** Prompts on stderr and reads one line from the terminal with echo off. */
export function readHidden(prompt: string): Promise<SecretValue> {
  const stdin = process.stdin;
  stdin.setRawMode(true); // echo off before the prompt shows, so fast typing or a paste is never echoed
  stdin.resume();
  writeStderr(prompt);
  return new Promise((resolve, reject) => {
    let value = "";
    const finish = (error?: KzError) => {
      stdin.off("data", onData);
      stdin.setRawMode(false);
      stdin.pause();
      writeStderr("\n");
      if (error) reject(error);
      else resolve(new SecretValue(value));
    };
    const onData = (chunk: Buffer) => {
      for (const ch of chunk.toString("utf8")) {
        if (ch === "\r" || ch === "\n") return finish();
        if (ch === "\u0003") return finish(new KzError("cancelled", 130));
        if (ch === "\u0004") return value ? finish() : finish(new KzError("cancelled: no value entered"));
        if (ch === "\u007f" || ch === "\b") value = value.slice(0, -1);
        else if (ch >= " ") value += ch;
      }
    };
    stdin.on("data", onData);
  });
}

export function stdinIsTerminal(): boolean {
  return isTerminal(0);
}
