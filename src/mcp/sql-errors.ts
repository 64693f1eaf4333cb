// A database error as the `query` tool reports it: a class named from the error's CODE (PostgreSQL
// SQLSTATE, MySQL error number, SQLite result code, Bun's own ERR_* codes), never from the driver's text
// alone. Where the driver's message is about the agent's own statement (a missing column, a type error)
// it is added — after every part of the connection URL (user, password, host, port, database, file path)
// is cut out of it, and only when no part is so short that cutting it would be guesswork. A syntax error
// quotes the agent's SQL at the reported position, not the driver. "If a tool returns an error containing
// a connection string, that credential is now part of the conversation permanently."

import { type Dialect, tokenAt } from "./sql-text.ts";

export type ErrorClass = "auth" | "connect" | "no-database" | "syntax" | "read-only" | "timeout" | "permission" | "statement" | "busy" | "client";

export interface DbErrorContext {
  dialect: Dialect;
  /** The agent's statement (syntax errors quote it). */
  statement: string;
  /** Every part of the connection URL, raw and decoded: never in a message. */
  needles: string[];
  timeoutMs: number;
}

export interface DescribedError {
  class: ErrorClass;
  /** One line, safe for the agent, the audit log and the server log. */
  message: string;
}

/** Needles this short would cut ordinary words: a message is then given without driver detail. */
const MIN_NEEDLE = 3;
const MAX_DETAIL = 240;

/** The driver's message with every needle cut out, or undefined when that cannot be done safely. */
export function scrubbed(message: unknown, needles: string[]): string | undefined {
  if (typeof message !== "string" || message === "") return undefined;
  const real = needles.filter((n) => n !== "");
  if (real.some((n) => n.length < MIN_NEEDLE)) return undefined;
  let text = message.split("\n")[0]!;
  for (const needle of [...real].sort((a, b) => b.length - a.length)) {
    text = text.replace(new RegExp(needle.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"), "gi"), "…");
  }
  if (/(postgres(ql)?|mysql|mariadb|sqlite):\/?\//i.test(text)) return undefined; // a URL in any shape: say nothing
  return text.length > MAX_DETAIL ? `${text.slice(0, MAX_DETAIL)}…` : text;
}

const withDetail = (phrase: string, detail: string | undefined) => (detail ? `${phrase}: ${detail}` : phrase);

function syntax(ctx: DbErrorContext, position: number | undefined): DescribedError {
  const near = position !== undefined ? tokenAt(ctx.statement, position) : undefined;
  return { class: "syntax", message: near ? `syntax error at or near ${JSON.stringify(near)}` : "syntax error in the statement" };
}

const timedOut = (ctx: DbErrorContext): DescribedError => ({ class: "timeout", message: `the statement ran longer than the timeout of ${ctx.timeoutMs} ms and was cancelled` });
const readOnly: DescribedError = {
  class: "read-only",
  message: "the statement writes, and this call is read-only (nothing was changed); pass write: true if policy lets you write",
};
const auth: DescribedError = { class: "auth", message: "authentication failed: the database refused the credentials in the secret" };
const connect: DescribedError = { class: "connect", message: "cannot connect to the database (refused, unreachable or unknown host)" };

function postgres(e: Record<string, unknown>, ctx: DbErrorContext): DescribedError {
  const state = typeof e.errno === "string" ? e.errno : undefined;
  const code = typeof e.code === "string" ? e.code : "";
  const detail = () => scrubbed(e.message, ctx.needles);
  if (state) {
    const cls = state.slice(0, 2);
    if (cls === "28") return auth;
    if (state === "3D000") return { class: "no-database", message: "the database named in the secret does not exist" };
    if (cls === "08" || state === "57P01" || state === "57P02" || state === "57P03") return { class: "connect", message: "the database connection failed or was closed by the server" };
    if (state === "53300") return { class: "busy", message: "the database refused the connection: too many connections" };
    if (state === "25006") return readOnly;
    if (state === "57014") return timedOut(ctx);
    if (state === "42601") return syntax(ctx, typeof e.position === "string" ? Number(e.position) : undefined);
    if (state === "42501") return { class: "permission", message: withDetail("permission denied", detail()) };
    if (["42", "22", "23", "0A", "21", "2B", "2F", "38", "39", "40", "44", "54", "55", "P0", "XX"].includes(cls)) {
      return { class: "statement", message: withDetail(`the statement failed (SQLSTATE ${state})`, detail()) };
    }
    return { class: "statement", message: `the database reported an error (SQLSTATE ${state})` };
  }
  if (/CONNECTION|TLS|SSL|SOCKET|TIMEOUT/.test(code) && !/QUERY/.test(code)) return code.includes("AUTH") ? auth : connect;
  if (/AUTH|PASSWORD|SASL/.test(code)) return auth;
  if (code.includes("CANCELLED")) return timedOut(ctx);
  if (code.includes("SYNTAX")) return syntax(ctx, typeof e.position === "string" ? Number(e.position) : undefined);
  return { class: "client", message: `the database client failed (${/^[A-Z0-9_]{1,60}$/.test(code) ? code : "unknown error"})` };
}

function mysql(e: Record<string, unknown>, ctx: DbErrorContext): DescribedError {
  const errno = typeof e.errno === "number" ? e.errno : undefined;
  const code = typeof e.code === "string" ? e.code : "";
  const detail = () => scrubbed(e.message, ctx.needles);
  if (errno !== undefined) {
    if (errno === 1045 || errno === 1044 || errno === 1698 || errno === 2061) return auth;
    if (errno === 1049) return { class: "no-database", message: "the database named in the secret does not exist" };
    if (errno === 1064) return { class: "syntax", message: "syntax error in the statement" };
    if (errno === 1792 || errno === 1290) return readOnly;
    if (errno === 3024 || errno === 1317) return timedOut(ctx);
    if (errno === 1142 || errno === 1143 || errno === 1227) return { class: "permission", message: withDetail("permission denied", detail()) };
    if (errno === 1040) return { class: "busy", message: "the database refused the connection: too many connections" };
    return { class: "statement", message: withDetail(`the statement failed (MySQL error ${errno})`, detail()) };
  }
  if (/CONNECTION|TLS|SSL|SOCKET|TIMEOUT/.test(code)) return connect;
  if (/AUTH|PASSWORD/.test(code)) return auth;
  return { class: "client", message: `the database client failed (${/^[A-Z0-9_]{1,60}$/.test(code) ? code : "unknown error"})` };
}

function sqlite(e: Record<string, unknown>, ctx: DbErrorContext): DescribedError {
  const code = typeof e.code === "string" ? e.code : "";
  const message = typeof e.message === "string" ? e.message : "";
  if (code.startsWith("SQLITE_READONLY")) return readOnly;
  if (code.startsWith("SQLITE_CANTOPEN") || code.startsWith("SQLITE_NOTADB")) return { class: "connect", message: "cannot open the SQLite database file named in the secret" };
  if (code.startsWith("SQLITE_AUTH") || code.startsWith("SQLITE_PERM")) return { class: "permission", message: "permission denied" };
  if (code.startsWith("SQLITE_BUSY") || code.startsWith("SQLITE_LOCKED")) return { class: "busy", message: "the database is locked by another connection; try again" };
  if (code.startsWith("SQLITE_INTERRUPT")) return timedOut(ctx);
  if (code === "SQLITE_ERROR" && /syntax error/.test(message)) {
    const offset = typeof e.byteOffset === "number" && e.byteOffset >= 0 ? Buffer.from(ctx.statement).subarray(0, e.byteOffset).toString().length + 1 : undefined;
    return syntax(ctx, offset);
  }
  if (/^SQLITE_[A-Z_]{1,40}$/.test(code)) return { class: "statement", message: withDetail(`the statement failed (${code})`, scrubbed(message, ctx.needles)) };
  return { class: "client", message: "the SQLite client failed" };
}

/** The error as the agent may see it. Never includes a driver message that was not scrubbed. */
export function describeDbError(error: unknown, ctx: DbErrorContext): DescribedError {
  if (typeof error !== "object" || error === null) return { class: "client", message: "the database client failed" };
  const e = error as Record<string, unknown>;
  if (ctx.dialect === "postgres") return postgres(e, ctx);
  if (ctx.dialect === "mysql") return mysql(e, ctx);
  return sqlite(e, ctx);
}
