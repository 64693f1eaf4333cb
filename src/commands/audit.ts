// kz audit verify FILE: checks an audit log's hash chain (src/audit/log.ts) and the shape the writer
// always leaves — one record per line, newline-terminated, no blank lines — so an edited, removed,
// reordered or cut-off record is reported with its line. Exit 0 intact, 1 broken, 3 file unreadable.

import { readFileSync } from "node:fs";
import { lineHash, verifyChain, type ChainProblem } from "../audit/log.ts";
import { ConfigError, ExitCode, UsageError } from "../errors.ts";
import { writeStdout } from "../stdio.ts";
import { parseArgs } from "./args.ts";
import { commandHelp, helpFlag, type Command } from "./command.ts";
import { printJson } from "./output.ts";

const flags = {
  json: { type: "boolean", description: "print one JSON document" },
  ...helpFlag,
} as const;

const USAGE = "kz audit verify FILE [--json]";

export interface LogCheck {
  /** Lines holding a record (complete or not). */
  records: number;
  problem?: ChainProblem;
  /** SHA-256 of the last record's line: keep it elsewhere to detect a change to that last record. */
  head?: string;
}

/** The first line that breaks the writer's shape, before any chain check: blank, not an object, cut off. */
function shapeProblem(lines: string[], terminated: boolean): ChainProblem | undefined {
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (line.trim() === "") return { line: i + 1, reason: "blank line (the writer never leaves one: the file was edited)" };
    if (!/^\s*\{/.test(line)) return { line: i + 1, reason: "not a JSON object record" };
  }
  if (!terminated && lines.length > 0) {
    return { line: lines.length, reason: "incomplete last record: no newline at the end (the write was cut short or the file truncated)" };
  }
  return undefined;
}

/** Checks a whole log's text; reports the first problem in file order. Pure. */
export function checkLog(text: string): LogCheck {
  const terminated = text === "" || text.endsWith("\n");
  const lines = text === "" ? [] : (terminated ? text.slice(0, -1) : text).split("\n");
  const shape = shapeProblem(lines, terminated);
  // Lines before a shape problem have no blanks, so verifyChain's line numbers are the file's.
  const chained = shape ? lines.slice(0, shape.line - 1) : lines;
  const problem = verifyChain(chained.join("\n")) ?? shape;
  const last = lines.at(-1);
  return { records: lines.length, problem, head: problem || last === undefined ? undefined : lineHash(last) };
}

function readLog(file: string): string {
  try {
    return readFileSync(file, "utf8");
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === "ENOENT" ? "it does not exist" : code === "EISDIR" ? "it is a directory" : code === "EACCES" ? "permission denied" : code;
    throw new ConfigError(`cannot read audit log ${file} (${why})`);
  }
}

const plural = (n: number) => `${n} record${n === 1 ? "" : "s"}`;

const audit: Command = {
  name: "audit",
  summary: "check an audit log's hash chain (verify)",
  usage: USAGE,
  flags,
  details: `Every record carries the SHA-256 of the line before it, so an edited, removed or reordered record
breaks the chain at the line after it. The last record has no successor: --json prints its hash as
"head" — keep a copy elsewhere to detect a change to it.

Logs: kz run --blind writes $XDG_STATE_HOME/keyzero/audit.jsonl (or [audit] path); kz server writes
audit.jsonl beside the bundle (or the bundle's audit.path).

Exit status: 0 intact, 1 broken (the first bad line is named), 3 the file cannot be read.`,
  async run(argv) {
    const args = parseArgs(argv, flags);
    if (args.flags.help) {
      writeStdout(commandHelp(audit));
      return ExitCode.ok;
    }
    const [action, file, ...extra] = args.positionals;
    if (action === undefined) throw new UsageError(`missing action — usage: ${USAGE}`);
    if (action !== "verify") throw new UsageError(`unknown action "${action}" — usage: ${USAGE}`);
    if (file === undefined) throw new UsageError(`missing FILE — usage: ${USAGE}`);
    if (extra.length) throw new UsageError(`one FILE at a time (got ${extra.length + 1}) — usage: ${USAGE}`);

    const result = checkLog(readLog(file));
    const code = result.problem ? ExitCode.failure : ExitCode.ok;
    if (args.flags.json) {
      printJson({ file, ok: !result.problem, records: result.records, problem: result.problem ?? null, head: result.head ?? null });
    } else {
      writeStdout(result.problem ? `${file}: line ${result.problem.line}: ${result.problem.reason}\n` : `${file}: ${plural(result.records)}, chain intact\n`);
    }
    return code;
  },
};

export default audit;
