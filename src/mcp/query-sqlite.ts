// `query` on a SQLite file. bun:sqlite runs a statement synchronously and cannot be interrupted, so each
// SQLite pool is a child process (`kz __sqlite-query`, sqlite-child.ts) holding the connection: the
// server's event loop never waits on SQLite, and a statement past its timeout is stopped for real — the
// child is killed (SIGKILL) and the next call starts a fresh one. One statement at a time per pool.
// The child gets no environment and learns the file's path on stdin (never in argv).

import type { Subprocess } from "bun";
import type { RawRows } from "./query-result.ts";
import type { RunRequest } from "./query-db.ts";

type Answer = { ok: true; result?: RawRows } | { ok: false; error: { code: string; errno: number; byteOffset?: number; message: string } };

/** An error shaped like bun:sqlite's (code, errno, byteOffset) for sql-errors.ts. */
function sqliteError(fields: { code: string; errno?: number; byteOffset?: number; message: string }): Error {
  return Object.assign(new Error(fields.message), { name: "SQLiteError", code: fields.code, errno: fields.errno ?? 0, byteOffset: fields.byteOffset });
}

/** kz itself: the compiled binary, or bun with main.ts when run from source. */
function kzCommand(): string[] {
  return Bun.main.startsWith("/$bunfs/") || Bun.main === process.execPath ? [process.execPath] : [process.execPath, Bun.main];
}

/** Cells that crossed the pipe as {"$bytes": base64} become bytes again. */
function decodeRows(result: RawRows): RawRows {
  for (const row of result.rows) {
    for (let i = 0; i < row.length; i++) {
      const v = row[i] as { $bytes?: unknown } | null;
      if (v && typeof v === "object" && typeof v.$bytes === "string") row[i] = Buffer.from(v.$bytes, "base64");
    }
  }
  return result;
}

class Child {
  readonly #proc: Subprocess<"pipe", "pipe", "ignore">;
  readonly #waiting: ((answer: Answer | undefined) => void)[] = [];
  dead = false;

  constructor() {
    this.#proc = Bun.spawn([...kzCommand(), "__sqlite-query"], { stdin: "pipe", stdout: "pipe", stderr: "ignore", env: {} });
    void this.#read();
  }

  async #read(): Promise<void> {
    const decoder = new TextDecoder();
    let pending = "";
    try {
      for await (const chunk of this.#proc.stdout as unknown as AsyncIterable<Uint8Array>) {
        pending += decoder.decode(chunk, { stream: true });
        let cut: number;
        while ((cut = pending.indexOf("\n")) >= 0) {
          const line = pending.slice(0, cut);
          pending = pending.slice(cut + 1);
          this.#waiting.shift()?.(JSON.parse(line) as Answer);
        }
      }
    } catch {
      // the child was killed
    }
    this.dead = true;
    for (const waiter of this.#waiting.splice(0)) waiter(undefined);
  }

  /** The child's answer; undefined when it died first. */
  ask(message: unknown): Promise<Answer | undefined> {
    if (this.dead) return Promise.resolve(undefined);
    return new Promise((resolve) => {
      this.#waiting.push(resolve);
      this.#proc.stdin.write(`${JSON.stringify(message)}\n`);
      this.#proc.stdin.flush();
    });
  }

  kill(): void {
    this.dead = true;
    this.#proc.kill("SIGKILL");
  }

  async end(): Promise<void> {
    if (this.dead) return;
    this.#proc.stdin.end();
    await Promise.race([this.#proc.exited, new Promise((r) => setTimeout(r, 1_000).unref())]);
    this.kill();
  }
}

export class SqlitePool {
  #child: Child | undefined;
  /** Calls run one after another. */
  #queue: Promise<unknown> = Promise.resolve();

  constructor(private readonly file: { path: string; readonly: boolean }) {}

  async #ask(child: Child, message: unknown, timeoutMs: number): Promise<RawRows | undefined> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timedOut = new Promise<"timeout">((resolve) => (timer = setTimeout(() => resolve("timeout"), timeoutMs)));
    const answer = await Promise.race([child.ask(message), timedOut]).finally(() => clearTimeout(timer));
    if (answer === "timeout") {
      child.kill();
      if (this.#child === child) this.#child = undefined;
      throw sqliteError({ code: "SQLITE_INTERRUPT", message: "interrupted" });
    }
    if (answer === undefined) {
      if (this.#child === child) this.#child = undefined;
      throw sqliteError({ code: "SQLITE_CANTOPEN", message: "the SQLite process ended" });
    }
    if (!answer.ok) throw sqliteError(answer.error);
    return answer.result;
  }

  async #open(): Promise<Child> {
    if (this.#child && !this.#child.dead) return this.#child;
    const child = new Child();
    this.#child = child;
    try {
      await this.#ask(child, { open: this.file }, 10_000);
    } catch (error) {
      child.kill();
      if (this.#child === child) this.#child = undefined;
      throw error;
    }
    return child;
  }

  run(request: RunRequest): Promise<RawRows> {
    const next = this.#queue.then(async () => {
      const child = await this.#open();
      const message = { statement: request.statement, params: request.params, write: request.write, maxRows: request.maxRows };
      return decodeRows((await this.#ask(child, message, request.timeoutMs))!);
    });
    this.#queue = next.catch(() => {});
    return next;
  }

  async close(): Promise<void> {
    const child = this.#child;
    this.#child = undefined;
    await child?.end();
  }
}
