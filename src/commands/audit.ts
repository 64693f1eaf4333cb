// kz audit verify FILE: checks an audit log's keyed chain (src/audit/log.ts) under its key (--key, default
// the local one) and the shape the writer always leaves — one record per line, newline-terminated, no
// blank lines — so an edited, removed, reordered, re-chained or cut-off record is reported with its line.
// Unkeyed (legacy) records are refused unless --legacy. Exit 0 intact, 1 broken, 3 log or key unreadable.

import { readFileSync } from "node:fs";
import { localAuditKeyPath, readAuditKey, type AuditKey } from "../audit/key.ts";
import { checkChain, type ChainProblem } from "../audit/log.ts";
import { ConfigError, ExitCode, UsageError } from "../errors.ts";
import { writeStdout } from "../stdio.ts";
import { parseArgs } from "./args.ts";
import { commandHelp, helpFlag, type Command } from "./command.ts";
import { printJson } from "./output.ts";

const flags = {
  key: { type: "string", value: "FILE", description: "the chain's key (default: $XDG_CONFIG_HOME/keyzero/audit.key, kz run's)" },
  legacy: { type: "boolean", description: "also accept unkeyed (legacy SHA-256) records written before chains were keyed" },
  head: { type: "string", value: "HEAD", description: "a head taken earlier (--json's \"head\"): fail if the records up to it are gone (truncation)" },
  json: { type: "boolean", description: "print one JSON document" },
  ...helpFlag,
} as const;

const USAGE = "kz audit verify FILE [--key FILE] [--legacy] [--head HEAD] [--json]";

export interface LogCheck {
  /** Lines holding a record (complete or not). */
  records: number;
  problem?: ChainProblem;
  /** Records checked under the key, and as an unkeyed (legacy) chain. */
  keyed: number;
  legacy: number;
  /** The link a next record would carry: keep it elsewhere to detect a change to (or removal of) the last record. */
  head?: string;
  /** With --head: the record that head follows. */
  headAt?: number;
}

export interface CheckOptions {
  key?: AuditKey | (() => AuditKey);
  legacy?: boolean;
  expectHead?: string;
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

/** Checks a whole log's text; reports the first problem in file order. Pure but for loading the key. */
export function checkLog(text: string, options: CheckOptions = {}): LogCheck {
  const terminated = text === "" || text.endsWith("\n");
  const lines = text === "" ? [] : (terminated ? text.slice(0, -1) : text).split("\n");
  const shape = shapeProblem(lines, terminated);
  // Lines before a shape problem have no blanks, so the chain's line numbers are the file's.
  // A cut-off file is reported as such, not as a missing head.
  const chain = checkChain(shape ? lines.slice(0, shape.line - 1) : lines, shape ? { ...options, expectHead: undefined } : options);
  const problem = chain.problem ?? shape;
  return { records: lines.length, problem, keyed: chain.keyed, legacy: chain.legacy, head: problem ? undefined : chain.head, headAt: chain.headAt };
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

/** The key loader: --key FILE or the local key, read only when a keyed record needs it. */
function keyLoader(file: string | undefined): { load: () => AuditKey; id: () => string | undefined } {
  let key: AuditKey | undefined;
  const path = file ?? localAuditKeyPath(process.env);
  return {
    load() {
      if (key) return key;
      try {
        key = readAuditKey(path);
      } catch (error) {
        const hint = file ? "" : " — pass the log's key with --key FILE (kz server keeps audit.key beside its audit log)";
        throw new ConfigError(`${(error as Error).message}${hint}`);
      }
      return key;
    },
    id: () => key?.id,
  };
}

/** The one line for an intact log: what was checked, and how far it can be trusted. */
function intactLine(file: string, result: LogCheck, keyId: string | undefined): string {
  const what = `${file}: ${plural(result.records)}, chain intact${result.headAt !== undefined ? `, expected head found after record ${result.headAt}` : ""}`;
  if (result.legacy === 0) return `${what}${keyId ? ` (keyed, key ${keyId})` : ""}\n`;
  const legacy = `${plural(result.legacy)} unkeyed (legacy SHA-256), which anyone able to write the file could have re-chained`;
  return `${what}${result.keyed ? ` (${result.keyed} keyed, key ${keyId})` : ""} — ${legacy}\n`;
}

const audit: Command = {
  name: "audit",
  summary: "check an audit log's keyed chain (verify)",
  usage: USAGE,
  flags,
  details: `Every record carries an HMAC-SHA256 of the line before it under a key the audited process cannot
read, so an edited, removed or reordered record breaks the chain at the line after it, and re-computing
the chain needs the key. The last record has no successor: --json prints the link a next record would
carry as "head" — keep a copy elsewhere, and a later --head HEAD fails if the records up to it were
removed from the end of the log (truncation, which the chain alone cannot show).

Logs and keys: kz run --blind writes $XDG_STATE_HOME/keyzero/audit.jsonl (or [audit] path) keyed by
$XDG_CONFIG_HOME/keyzero/audit.key (the default --key); kz server writes audit.jsonl beside the bundle
(or the bundle's audit.path) keyed by audit.key beside that log (or the bundle's audit.key_file).
Records written before chains were keyed carry a bare SHA-256: they are refused unless --legacy, and even
then reported as unkeyed.

Exit status: 0 intact, 1 broken (the first bad line is named), 3 the log or its key cannot be read.`,
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

    const key = keyLoader(typeof args.flags.key === "string" ? args.flags.key : undefined);
    const expectHead = typeof args.flags.head === "string" ? args.flags.head : undefined;
    const result = checkLog(readLog(file), { key: key.load, legacy: args.flags.legacy === true, expectHead });
    const code = result.problem ? ExitCode.failure : ExitCode.ok;
    if (args.flags.json) {
      printJson({
        file,
        ok: !result.problem,
        records: result.records,
        keyed: result.keyed,
        legacy: result.legacy,
        key_id: key.id() ?? null,
        problem: result.problem ?? null,
        head: result.head ?? null,
      });
    } else {
      const where = result.problem && result.problem.line > 0 ? `line ${result.problem.line}: ` : "";
      writeStdout(result.problem ? `${file}: ${where}${result.problem.reason}\n` : intactLine(file, result, key.id()));
    }
    return code;
  },
};

export default audit;
