// What the `query` tool checks in an agent's SQL text before any driver sees it: that it is ONE
// statement, and that it is not one kz refuses whatever the policy (transaction control, session
// settings, file access). The lexer knows each dialect's quoting — '…' (E'…' backslash escapes in
// PostgreSQL, backslashes in MySQL), "…", `…`, [ … ] (SQLite), $tag$…$tag$ (PostgreSQL), -- and /* */
// comments (nested in PostgreSQL), # comments and /*! executable comments */ (MySQL) — and where it
// could read a text two ways it takes both readings: the text passes only if every reading finds one
// statement. Anything it cannot finish reading (an unterminated string or comment) is refused. The
// drivers add their own layer (PostgreSQL's extended protocol runs one statement at most).

export type Dialect = "postgres" | "mysql" | "sqlite";

interface Reading {
  /** Backslash escapes inside '…' (and "…" in MySQL). */
  backslash: boolean;
}

/** The statements of `text` under one reading, each trimmed; null when a quote or comment never ends. */
function statements(text: string, dialect: Dialect, reading: Reading): string[] | null {
  const out: string[] = [];
  let start = 0;
  let i = 0;
  const n = text.length;
  const skipQuoted = (close: string, backslash: boolean, doubled: boolean): boolean => {
    i++;
    while (i < n) {
      const c = text[i]!;
      if (backslash && c === "\\") {
        i += 2;
        continue;
      }
      if (c === close) {
        if (doubled && text[i + 1] === close) {
          i += 2;
          continue;
        }
        i++;
        return true;
      }
      i++;
    }
    return false;
  };
  while (i < n) {
    const c = text[i]!;
    const next = text[i + 1];
    if (c === ";") {
      out.push(text.slice(start, i).trim());
      i++;
      start = i;
      continue;
    }
    if (c === "'") {
      const eString = dialect === "postgres" && /[eE]/.test(text[i - 1] ?? "") && !/[\w$]/.test(text[i - 2] ?? "");
      const backslash = dialect === "sqlite" ? false : eString || reading.backslash;
      if (!skipQuoted("'", backslash, true)) return null;
      continue;
    }
    if (c === '"') {
      if (!skipQuoted('"', reading.backslash && dialect === "mysql", true)) return null;
      continue;
    }
    if (c === "`" && dialect !== "postgres") {
      if (!skipQuoted("`", false, true)) return null;
      continue;
    }
    if (c === "[" && dialect === "sqlite") {
      if (!skipQuoted("]", false, false)) return null;
      continue;
    }
    if (c === "-" && next === "-" && (dialect !== "mysql" || /[\s\x00-\x1f]/.test(text[i + 2] ?? " "))) {
      const end = text.indexOf("\n", i);
      i = end < 0 ? n : end + 1;
      continue;
    }
    if (c === "#" && dialect === "mysql") {
      const end = text.indexOf("\n", i);
      i = end < 0 ? n : end + 1;
      continue;
    }
    if (c === "/" && next === "*") {
      if (dialect === "mysql" && (text[i + 2] === "!" || text[i + 2] === "+")) {
        // MySQL runs the inside of /*! … */ (and reads optimizer hints): lex it as code.
        i += 3;
        continue;
      }
      let depth = 1;
      i += 2;
      while (i < n && depth > 0) {
        if (text[i] === "*" && text[i + 1] === "/") {
          depth--;
          i += 2;
        } else if (dialect === "postgres" && text[i] === "/" && text[i + 1] === "*") {
          depth++;
          i += 2;
        } else i++;
      }
      if (depth > 0) return null;
      continue;
    }
    if (c === "$" && dialect === "postgres" && !/[\w$]/.test(text[i - 1] ?? "")) {
      const tag = /^\$([A-Za-z_\x80-\uffff][\w\x80-\uffff]*)?\$/.exec(text.slice(i));
      if (tag) {
        const end = text.indexOf(tag[0], i + tag[0].length);
        if (end < 0) return null;
        i = end + tag[0].length;
        continue;
      }
    }
    i++;
  }
  out.push(text.slice(start).trim());
  return out;
}

/** Strips leading comments and whitespace (for reading a statement's first words). */
function withoutLeadingComments(text: string): string {
  let rest = text;
  for (;;) {
    const trimmed = rest.trimStart();
    if (trimmed.startsWith("--") || trimmed.startsWith("#")) {
      const end = trimmed.indexOf("\n");
      rest = end < 0 ? "" : trimmed.slice(end + 1);
    } else if (trimmed.startsWith("/*") && !trimmed.startsWith("/*!")) {
      const end = trimmed.indexOf("*/");
      rest = end < 0 ? "" : trimmed.slice(end + 2);
    } else return trimmed;
  }
}

/** Statements kz never runs for an agent: they would escape the transaction kz wraps the call in, change the pooled session, or reach files. */
const REFUSED_FIRST_WORDS: Record<string, string> = {
  BEGIN: "transaction control",
  START: "transaction control",
  COMMIT: "transaction control",
  END: "transaction control",
  ROLLBACK: "transaction control",
  ABORT: "transaction control",
  SAVEPOINT: "transaction control",
  RELEASE: "transaction control",
  PREPARE: "transaction control",
  XA: "transaction control",
  SET: "a session setting",
  RESET: "a session setting",
  USE: "a session setting",
  LOCK: "table locks outside the call",
  UNLOCK: "table locks outside the call",
  COPY: "file and stream copy",
  LOAD: "file loading",
  HANDLER: "a session handler",
  ATTACH: "attaching another database file",
  DETACH: "attaching another database file",
  VACUUM: "file maintenance",
};

/** SQLite pragmas that only describe the schema (any other pragma can change the connection). */
const READ_PRAGMAS = new Set(["table_info", "table_xinfo", "table_list", "index_list", "index_info", "index_xinfo", "foreign_key_list"]);

export type StatementCheck = { ok: true; statement: string } | { ok: false; reason: string };

/** The one statement in `text` (without a trailing ";"), or why kz will not run it. */
export function checkStatement(text: string, dialect: Dialect): StatementCheck {
  const readings = [{ backslash: false }, { backslash: true }].map((r) => statements(text, dialect, r));
  if (readings.some((r) => r === null)) return { ok: false, reason: "the SQL has an unterminated string, quoted name or comment" };
  let statement: string | undefined;
  for (const parts of readings as string[][]) {
    const real = parts.filter((p) => withoutLeadingComments(p) !== "");
    if (real.length === 0) return { ok: false, reason: "the SQL holds no statement" };
    if (real.length > 1) return { ok: false, reason: "the SQL holds more than one statement; send one statement per call" };
    statement ??= real[0]!;
  }
  const body = withoutLeadingComments(statement!);
  const words = /^([A-Za-z_]+)(?:\s+([A-Za-z_]+))?/.exec(body);
  const first = words?.[1]?.toUpperCase() ?? "";
  const second = words?.[2]?.toUpperCase() ?? "";
  if (first === "SET" && second === "LOCAL" && dialect === "postgres") return { ok: true, statement: statement! };
  if (first === "PRAGMA") {
    const name = /^PRAGMA\s+(?:\w+\.)?(\w+)\s*(\(|=|$)/i.exec(body);
    if (dialect === "sqlite" && name && READ_PRAGMAS.has(name[1]!.toLowerCase()) && name[2] !== "=") return { ok: true, statement: statement! };
    return { ok: false, reason: "PRAGMA statements other than schema descriptions (table_info, index_list, …) are not run" };
  }
  const refused = REFUSED_FIRST_WORDS[first];
  if (refused) return { ok: false, reason: `${first} statements (${refused}) are not run; kz runs each call in its own transaction` };
  return { ok: true, statement: statement! };
}

/** The token at a 1-based character position of `text` (for "syntax error at or near …"), at most 40 characters. */
export function tokenAt(text: string, position: number): string | undefined {
  if (!Number.isInteger(position) || position < 1 || position > text.length) return undefined;
  const m = /^("[^"]{0,38}"|'[^']{0,38}'|[\w$]{1,40}|\S)/.exec(text.slice(position - 1));
  return m?.[1];
}
