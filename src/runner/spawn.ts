// Starts the child and relays it until it ends: the I/O shell around child-env.ts, exit-status.ts and
// the Redactor. Three ways to attach the child:
//   inherit — no masking: the child gets our stdio as is (full fidelity, zero overhead);
//   pty     — masking with stdin and stdout on a terminal: the child runs on a pseudo-terminal, so colour
//             and interactive programs keep working, and its output is masked on the way to ours;
//   pipe    — masking otherwise: stdout and stderr each flow through their own Redactor; one that is
//             /dev/null is handed to the child as is (nobody can read it back; no pump to start).
// Output goes through Bun FileSinks, not process.stdout (whose setup alone costs ~20 ms).
// Signals sent to kz are forwarded once; terminal-generated ones (^C, ^\) are not re-sent to a child
// that shares our terminal, since the terminal already delivered them to it.

import { masksAny, Redactor } from "../resolve/redactor.ts";
import { fdSink, isNullDevice, isTerminal } from "../stdio.ts";
import { exitStatusOf } from "./exit-status.ts";
import type { SandboxControl } from "./sandbox/control.ts";
import { spawnError } from "./spawn-error.ts";

export interface SpawnOptions {
  command: string[];
  env: Record<string, string>;
  /** Values to mask in the child's output (empty = no masking). */
  mask: { name: string; value: string }[];
  /**
   * The command is a sandbox wrapping the real one (runner/sandbox/): it gets `control.fds` sockets as
   * fds 3…, signals go through `control`, and `notStarted` explains a sandbox that never started it.
   */
  sandbox?: { control: SandboxControl; notStarted: () => Error };
  /** The child runs in a session of its own: ^C from kz's terminal does not reach it, so forward it. */
  detached?: boolean;
}

const FORWARDED_SIGNALS = ["SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2"] as const;
const TERMINAL_SIGNALS = new Set(["SIGINT", "SIGQUIT"]);

type Mode = "inherit" | "pty" | "pipe";

function chooseMode(maskActive: boolean): Mode {
  if (!maskActive) return "inherit";
  return isTerminal(0) && isTerminal(1) ? "pty" : "pipe";
}

async function relay(source: ReadableStream<Uint8Array>, sink: Bun.FileSink, redactor: Redactor): Promise<void> {
  for await (const chunk of source) {
    sink.write(redactor.push(chunk));
    await sink.flush(); // backpressure: read no more until this chunk is out
  }
  sink.write(redactor.end());
  await sink.flush();
}

/** Runs the child to completion and returns the exit status kz should exit with. */
export async function runChild(opts: SpawnOptions): Promise<number> {
  const mode = chooseMode(masksAny(opts.mask));
  const sharesTerminal = !opts.detached && mode !== "pty" && (isTerminal(0) || isTerminal(1) || isTerminal(2));
  const control = Array.from({ length: opts.sandbox?.control.fds ?? 0 }, () => "pipe" as const);
  const [file, ...args] = opts.command;
  const resolved = Bun.which(file!, { PATH: opts.env.PATH ?? "" }) ?? file!;

  let proc: Bun.Subprocess;
  let outputDone: Promise<unknown> = Promise.resolve();
  let restoreTerminal = () => {};
  try {
    if (mode === "pty") {
      const redactor = new Redactor(opts.mask);
      const sink = fdSink(1);
      let ptyClosed!: () => void;
      outputDone = new Promise<void>((resolve) => (ptyClosed = resolve));
      proc = Bun.spawn([resolved, ...args], {
        env: opts.env,
        ...(opts.sandbox ? { stdio: ["inherit", "inherit", "inherit", ...control] } : {}),
        terminal: {
          cols: process.stdout.columns || 80,
          rows: process.stdout.rows || 24,
          name: opts.env.TERM,
          data: (_t, data) => {
            sink.write(redactor.push(data));
            void sink.flush();
          },
          exit: () => {
            sink.write(redactor.end());
            void Promise.resolve(sink.flush()).then(ptyClosed);
          },
        },
      });
      const terminal = proc.terminal!;
      process.stdin.setRawMode(true);
      const onInput = (data: Buffer) => terminal.write(data);
      const onResize = () => terminal.resize(process.stdout.columns, process.stdout.rows);
      process.stdin.on("data", onInput);
      process.stdout.on("resize", onResize);
      restoreTerminal = () => {
        process.stdin.off("data", onInput);
        process.stdout.off("resize", onResize);
        process.stdin.setRawMode(false);
        process.stdin.pause();
      };
    } else if (mode === "pipe") {
      const [out, err] = [isNullDevice(1) ? "inherit" : "pipe", isNullDevice(2) ? "inherit" : "pipe"] as const;
      proc = Bun.spawn([resolved, ...args], { env: opts.env, stdio: ["inherit", out, err, ...control] });
      outputDone = Promise.all([
        out === "pipe" && relay(proc.stdout as ReadableStream<Uint8Array>, fdSink(1), new Redactor(opts.mask)),
        err === "pipe" && relay(proc.stderr as ReadableStream<Uint8Array>, fdSink(2), new Redactor(opts.mask)),
      ]);
    } else {
      proc = Bun.spawn([resolved, ...args], { env: opts.env, stdio: ["inherit", "inherit", "inherit", ...control] });
    }
  } catch (error) {
    throw spawnError(file!, error);
  }

  // Start-up is over: what runs from here (the output pump, a blind run's proxy) may run for long, so
  // back to JavaScriptCore's normal JIT policy (the build starts kz at ×8, see scripts/build.ts).
  Bun.unsafe.setJITPolicy(1);
  const sandbox = opts.sandbox?.control;
  sandbox?.attach(control.map((_, i) => proc.stdio[3 + i] as number));
  const handlers = FORWARDED_SIGNALS.map((signal) => {
    const handler = () => {
      if (sharesTerminal && TERMINAL_SIGNALS.has(signal)) return;
      if (sandbox) sandbox.signal(signal);
      else proc.kill(signal);
    };
    process.on(signal, handler);
    return () => process.off(signal, handler);
  });

  try {
    await proc.exited;
    await outputDone;
  } finally {
    for (const off of handlers) off();
    restoreTerminal();
    proc.terminal?.close();
  }
  if (sandbox && !sandbox.started()) throw opts.sandbox!.notStarted();
  return exitStatusOf(proc.exitCode, proc.signalCode);
}
