// The `query` tool: one SQL statement against a database whose URL is a secret, run by kz with the real
// credentials; the agent gets rows, never the URL. In order, each step failing closed with a tool error:
//   1. A policy decision {action: "query", write: false}; when the call asks `write: true`, a second one
//      {action: "query", write: true}. Both audited by the host.
//   2. The secret's value, read as a database URL (postgres://, mysql://, sqlite:).
//   3. The text checked: one statement, not one kz refuses (sql-text.ts).
//   4. Run on the secret's pool (query-db.ts): its own transaction, read-only unless writing, a statement
//      timeout, parameters bound by the driver.
//   5. Rows masked and capped (query-result.ts), or the error described from its code (sql-errors.ts).
//   6. An audit record of the outcome: identity, secret, statement text, write, rows, status, duration —
//      never the parameters (they may hold data; only their count) and never any part of the URL.

import type { BlindSecret } from "../blind/types.ts";
import { echoRewriter } from "../blind/rewrite/echo.ts";
import { SecretValue } from "../secret.ts";
import { type CallContext, type ToolOutcome, decisionRef, ok, refuse } from "./calls.ts";
import type { McpHost } from "./host.ts";
import { ClientTimeout, type DatabaseUrl, type QueryPool, openPool, parseDatabaseUrl } from "./query-db.ts";
import { buildQueryResult } from "./query-result.ts";
import { onClose } from "./shutdown.ts";
import { describeDbError } from "./sql-errors.ts";
import { checkStatement } from "./sql-text.ts";
import { DEFAULT_MAX_ROWS, DEFAULT_QUERY_TIMEOUT_MS, MAX_ROWS_CEILING, type QueryArgs } from "./query-args.ts";

const MAX_AUDITED_SQL = 4_096;

// ---------------------------------------------------------------------------------------------------
// Pools, one per secret and value, per host; all closed when the bundle changes or the server stops.

interface Entry {
  url: DatabaseUrl;
  pool: QueryPool;
  /** The values the masker replaces: the URL and its password (raw and decoded). */
  secrets: BlindSecret[];
}

interface HostPools {
  specs: unknown;
  entries: Map<string, Entry>;
}

const pools = new WeakMap<McpHost, HostPools>();

function closeAll(entries: Map<string, Entry>): void {
  for (const entry of entries.values()) void entry.pool.close().catch(() => {});
  entries.clear();
}

function poolsOf(host: McpHost): Map<string, Entry> {
  let state = pools.get(host);
  const specs = host.secrets();
  if (!state) {
    pools.set(host, (state = { specs, entries: new Map() }));
    onClose(host, () => closeAll(state!.entries));
  } else if (state.specs !== specs) {
    // The bundle was reloaded: a secret may now point elsewhere, or be gone.
    closeAll(state.entries);
    state.specs = specs;
  }
  return state.entries;
}

function maskedValues(name: string, token: string, value: string, url: DatabaseUrl): BlindSecret[] {
  const values = new Set([value]);
  if (url.server?.password) values.add(url.server.password);
  const raw = /^[^:]+:\/\/[^:@/]*:([^@/]*)@/.exec(value)?.[1];
  if (raw) values.add(raw);
  return [...values].map((v) => ({ name, token, value: new SecretValue(v), hosts: [] }));
}

/**
 * Pools are keyed by secret AND value: a dynamic secret has one value per token (its own lease), and two
 * agents querying at once must not close each other's pool. The least recently used pools of a secret
 * beyond POOLS_PER_SECRET are closed (a rotated value's old pool goes that way, or by its idle timeout).
 */
const POOLS_PER_SECRET = 8;

function entryFor(host: McpHost, name: string, token: string, value: string): Entry | string {
  const entries = poolsOf(host);
  const key = `${name}\n${new Bun.CryptoHasher("sha256").update(value).digest("hex")}`;
  const known = entries.get(key);
  if (known) {
    entries.delete(key); // most recently used last
    entries.set(key, known);
    return known;
  }
  const url = parseDatabaseUrl(value);
  if (typeof url === "string") return url;
  let pool: QueryPool;
  try {
    pool = openPool(url);
  } catch (error) {
    return `cannot open the database: ${describeDbError(error, { dialect: url.dialect, statement: "", needles: url.needles, timeoutMs: 0 }).message}`;
  }
  const entry: Entry = { url, pool, secrets: maskedValues(name, token, value, url) };
  entries.set(key, entry);
  const mine = [...entries.keys()].filter((k) => k.startsWith(`${name}\n`));
  for (const old of mine.slice(0, Math.max(0, mine.length - POOLS_PER_SECRET))) {
    void entries.get(old)!.pool.close().catch(() => {});
    entries.delete(old);
  }
  return entry;
}

// ---------------------------------------------------------------------------------------------------

const ERRORS_FROM_HOST = new Set(["ProviderError", "KzError", "ConfigError", "AccessError"]);

export async function queryTool(args: QueryArgs, ctx: CallContext): Promise<ToolOutcome> {
  const { host, identity, client, state, limits } = ctx;
  const started = performance.now();
  const name = args.secret;
  const read = host.decide(identity, name, { action: "query", write: false }, client);
  if (!read.known) return refuse(`query: no secret named ${JSON.stringify(name.slice(0, 100))}; list_secrets shows the ones you may use`);
  if (!read.allow) return refuse(`query: ${name} is not allowed for you (${read.reason}${decisionRef(read.decisionId)})`);
  let decisionId = read.decisionId;
  if (args.write) {
    const write = host.decide(identity, name, { action: "query", write: true }, client);
    if (!write.allow) return refuse(`query: writing through ${name} is not allowed for you (${write.reason}${decisionRef(write.decisionId)}); nothing was run`);
    decisionId = write.decisionId;
  }

  let value: SecretValue;
  try {
    value = await host.value(name, identity);
  } catch (error) {
    const e = error as Error;
    return refuse(`query: cannot read ${name} from its provider: ${e && ERRORS_FROM_HOST.has(e.name) ? e.message : "internal error"}`);
  }
  const settings = host.querySettings?.() ?? {};
  const timeoutMs = settings.timeoutMs ?? DEFAULT_QUERY_TIMEOUT_MS;
  const ceiling = settings.maxRows ?? MAX_ROWS_CEILING;
  const maxRows = Math.min(args.maxRows ?? DEFAULT_MAX_ROWS, ceiling);
  const maxBytes = settings.maxBytes ?? limits.maxResponseBytes;

  const entry = entryFor(host, name, state.tokens.tokenFor(name), value.reveal());
  if (typeof entry === "string") return refuse(`query: ${name} cannot be queried: ${entry}`);
  const echo = echoRewriter(entry.secrets);
  const statementForAudit = echo.header(args.sql.length > MAX_AUDITED_SQL ? `${args.sql.slice(0, MAX_AUDITED_SQL)}…` : args.sql);
  const record = (status: string, extra: Record<string, string | number | boolean | null>) =>
    host.record?.({
      event: "query",
      decision_id: decisionId,
      issuer: identity.issuer,
      subject: identity.subject,
      secret: name,
      statement: statementForAudit,
      params: args.params.length,
      write: args.write,
      status,
      duration_ms: Math.round(performance.now() - started),
      client,
      ...extra,
    });

  const checked = checkStatement(args.sql, entry.url.dialect);
  if (!checked.ok) {
    record("refused", { rows: 0, error: checked.reason });
    return refuse(`query: ${checked.reason}`);
  }
  try {
    const raw = await entry.pool.run({ statement: checked.statement, params: args.params, write: args.write, timeoutMs, maxRows });
    const result = buildQueryResult(raw, echo, { maxRows, maxBytes });
    try {
      record("ok", { rows: result.row_count, truncated: result.truncated === true, ...(raw.rowsAffected !== undefined ? { rows_affected: raw.rowsAffected } : {}) });
    } catch {
      return refuse("query: the audit log cannot be written, so the result is withheld");
    }
    return ok(result);
  } catch (error) {
    const described =
      error instanceof ClientTimeout
        ? { class: "timeout", message: `the statement ran longer than the timeout of ${timeoutMs} ms and was cancelled` }
        : describeDbError(error, { dialect: entry.url.dialect, statement: checked.statement, needles: entry.url.needles, timeoutMs });
    const message = echo.header(described.message);
    try {
      record("error", { rows: 0, error: message, error_class: described.class });
    } catch {
      // the failure itself is what the agent needs to see; the decision was recorded
    }
    return refuse(`query on ${name} failed: ${message}`);
  }
}
