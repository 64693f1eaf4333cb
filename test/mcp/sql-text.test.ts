// The query tool's statement check: one statement under every reading of the dialect's quoting, and
// the statements kz refuses whatever the policy.

import { describe, expect, test } from "bun:test";
import { checkStatement, tokenAt } from "../../src/mcp/sql-text.ts";
import { scrubbed } from "../../src/mcp/sql-errors.ts";

const one = (sql: string, d: "postgres" | "mysql" | "sqlite" = "postgres") => checkStatement(sql, d);

describe("checkStatement", () => {
  test("one statement passes, a trailing semicolon and comments too", () => {
    expect(one("SELECT 1")).toEqual({ ok: true, statement: "SELECT 1" });
    expect(one("SELECT 1;  -- done\n")).toMatchObject({ ok: true, statement: "SELECT 1" });
    expect(one("SELECT ';' AS x, \"a;b\" FROM t /* ; */")).toMatchObject({ ok: true });
    expect(one("SELECT $$;$$, $tag$ ; $tag$")).toMatchObject({ ok: true });
    expect(one("SELECT E'it\\'s;'")).toMatchObject({ ok: true });
    expect(one("SELECT `a;b` FROM t", "mysql")).toMatchObject({ ok: true });
    expect(one("SELECT [a;b] FROM t", "sqlite")).toMatchObject({ ok: true });
  });

  test("several statements are refused, however they are dressed", () => {
    for (const [sql, d] of [
      ["SELECT 1; DROP TABLE t", "postgres"],
      ["SELECT 1;DROP TABLE t;", "sqlite"],
      ["SELECT '\\'; DROP TABLE t; --'", "postgres"], // standard strings: the backslash is a character
      ["SELECT '\\'; DROP TABLE t; --'", "mysql"], // either reading finds two statements, or an unterminated string
      ["SELECT 1 /* /* */ ; DROP TABLE t; -- */", "sqlite"], // SQLite comments do not nest
      ["SELECT 1 # x\n; DROP TABLE t", "mysql"],
      ["SELECT 1 /*!; DROP TABLE t */", "mysql"],
      ["SELECT 1--1; DROP TABLE t", "mysql"],
      ["SELECT 1 # 2; DROP TABLE t", "postgres"], // # is an operator in PostgreSQL, not a comment
    ] as const) {
      const r = checkStatement(sql, d);
      expect(r.ok).toBe(false);
    }
  });

  test("unterminated quotes and comments are refused", () => {
    expect(one("SELECT 'abc")).toMatchObject({ ok: false, reason: expect.stringContaining("unterminated") });
    expect(one("SELECT $x$ abc")).toMatchObject({ ok: false });
    expect(one("SELECT 1 /* x")).toMatchObject({ ok: false });
  });

  test("transaction control, session settings, COPY, ATTACH and most pragmas are refused", () => {
    for (const sql of ["COMMIT", "  begin", "ROLLBACK", "SET ROLE admin", "set session characteristics as transaction read write", "RESET ALL", "COPY t TO '/tmp/x'", "/* c */ END"]) {
      expect(one(sql).ok).toBe(false);
    }
    expect(one("SET LOCAL search_path = app").ok).toBe(true);
    expect(one("ATTACH DATABASE '/etc/kz/state.db' AS s", "sqlite").ok).toBe(false);
    expect(one("PRAGMA query_only = 0", "sqlite").ok).toBe(false);
    expect(one("PRAGMA query_only(0)", "sqlite").ok).toBe(false);
    expect(one("PRAGMA table_info(t)", "sqlite").ok).toBe(true);
  });

  test("empty text is refused", () => {
    expect(one(" ; -- nothing").ok).toBe(false);
  });
});

test("tokenAt quotes the agent's own SQL at a position", () => {
  expect(tokenAt("SELEC 1", 1)).toBe("SELEC");
  expect(tokenAt("SELECT * FORM t", 10)).toBe("FORM");
  expect(tokenAt("x", 5)).toBeUndefined();
});

test("scrubbed cuts every URL part, or gives nothing when a part is too short to cut safely", () => {
  expect(scrubbed('permission denied for database "kz_db" user "kz_user"', ["kz_db", "kz_user", "secretpw"])).toBe('permission denied for database "…" user "…"');
  expect(scrubbed("anything", ["ab"])).toBeUndefined();
  expect(scrubbed("at postgres://x@y/z", ["zzz"])).toBeUndefined();
});
