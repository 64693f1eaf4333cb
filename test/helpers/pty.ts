// Runs a command on a pseudo-terminal (Bun.Terminal), as if a person typed into it: wait for text to
// appear, type keys, collect everything the screen showed, and the exit status.

import { KZ } from "./kz.ts";

export class PtySession {
  private output = "";
  private waiters: { text: string; resolve: () => void }[] = [];
  readonly proc: Bun.Subprocess;

  constructor(args: string[], opts: { cwd: string; env: Record<string, string> }) {
    this.proc = Bun.spawn([KZ, ...args], {
      cwd: opts.cwd,
      env: { TERM: "xterm-256color", ...opts.env },
      terminal: {
        cols: 100,
        rows: 30,
        data: (_t, data) => {
          this.output += new TextDecoder().decode(data);
          this.waiters = this.waiters.filter((w) => (this.output.includes(w.text) ? (w.resolve(), false) : true));
        },
      },
    });
  }

  get screen(): string {
    return this.output;
  }

  waitFor(text: string): Promise<void> {
    if (this.output.includes(text)) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ text, resolve }));
  }

  type(keys: string): void {
    this.proc.terminal!.write(keys);
  }

  async exit(): Promise<number> {
    const code = await this.proc.exited;
    this.proc.terminal?.close();
    return code;
  }
}
