// kz audit verify end to end through dist/kz, on logs written by the real AuditLog under the sandbox's
// local audit key: an intact log, one record edited, one removed, two swapped, records removed and the
// chain re-computed (as SHA-256 and under another key), a wrong or missing key, legacy logs, a cut-off
// last line, blank and non-record lines, an empty file, a missing file, --json, and the usage errors.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { randomBytes } from "node:crypto";
import { chmodSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { AuditKey, loadOrCreateAuditKey } from "../../src/audit/key.ts";
import { AuditLog, GENESIS, keyedLink, lineHash, recordLine } from "../../src/audit/log.ts";
import { Sandbox } from "../helpers/kz.ts";

let box: Sandbox;
/** The lines of a four-record log written by AuditLog (two instances, as two runs would). */
let lines: string[];
/** The sandbox's local audit key ($XDG_CONFIG_HOME/keyzero/audit.key): kz audit verify's default --key. */
let key: AuditKey;

beforeAll(() => {
  box = new Sandbox();
  key = loadOrCreateAuditKey(join(box.dir, "config", "keyzero", "audit.key"));
  const path = join(box.dir, "written.jsonl");
  const first = new AuditLog(path, key);
  first.append({ event: "decision", secret: "DB_PROD", effect: "allow", subject: "agent-7" });
  first.append({ event: "decision", secret: "ZENDESK_KEY", effect: "allow", subject: "support-1" });
  first.close();
  const second = new AuditLog(path, key);
  second.append({ event: "decision", secret: "DB_PROD", effect: "deny", subject: "support-1" });
  second.append({ event: "swap", host: "api.example.test", secrets: ["A", "B"] });
  second.close();
  lines = readFileSync(path, "utf8").split("\n").slice(0, -1);
});
afterAll(() => box.cleanup());

/** Writes `text` as NAME and runs `kz audit verify NAME [...flags]`. */
async function verify(name: string, text: string, ...flags: string[]) {
  box.write(name, text);
  return box.kz(["audit", "verify", name, ...flags]);
}

const asLog = (records: string[]) => `${records.join("\n")}\n`;

/** A tamperer's re-chain of `records`: each prev re-computed, as SHA-256 (`other` absent) or under `other`. */
function rechain(records: string[], other?: AuditKey): string[] {
  const out: string[] = [];
  for (const line of records) {
    const { prev: _drop, time, ...fields } = JSON.parse(line);
    const prev = other ? keyedLink(other, out.at(-1)) : out.length ? lineHash(out.at(-1)!) : GENESIS;
    out.push(recordLine(time, fields, prev));
  }
  return out;
}

describe("kz audit verify", () => {
  test("a log written by AuditLog verifies", async () => {
    expect(lines).toHaveLength(4);
    const r = await box.kz(["audit", "verify", "written.jsonl"]);
    expect(r).toEqual({ code: 0, stdout: `written.jsonl: 4 records, chain intact (keyed, key ${key.id})\n`, stderr: "" });
  });

  test("removing the deny and re-computing the chain is detected, whichever way it is re-computed", async () => {
    const kept = lines.filter((l) => !l.includes('"effect":"deny"'));
    expect(kept).toHaveLength(3);
    const sha = await verify("rechained-sha.jsonl", asLog(rechain(kept)));
    expect(sha.code).toBe(1);
    expect(sha.stdout).toStartWith("rechained-sha.jsonl: line 1: unkeyed (legacy SHA-256) record");
    const forger = new AuditKey(randomBytes(32));
    const other = await verify("rechained-key.jsonl", asLog(rechain(kept, forger)));
    expect(other).toEqual({ code: 1, stdout: `rechained-key.jsonl: line 1: written under audit key ${forger.id}, not the key given (${key.id}): pass the log's own --key FILE\n`, stderr: "" });
    // Even --legacy does not accept the SHA-256 re-chain silently: it says what it is.
    const legacy = await verify("rechained-sha2.jsonl", asLog(rechain(kept)), "--legacy");
    expect(legacy.code).toBe(0);
    expect(legacy.stdout).toBe("rechained-sha2.jsonl: 3 records, chain intact — 3 records unkeyed (legacy SHA-256), which anyone able to write the file could have re-chained\n");
  });

  test("--key FILE: the right key verifies, a wrong key fails with one clear line, a missing key is exit 3", async () => {
    writeFileSync(join(box.dir, "server-audit.key"), readFileSync(join(box.dir, "config", "keyzero", "audit.key")), { mode: 0o600 });
    expect((await box.kz(["audit", "verify", "written.jsonl", "--key", "server-audit.key"])).code).toBe(0);
    box.write("wrong.key", `${"11".repeat(32)}\n`);
    const wrong = await box.kz(["audit", "verify", "written.jsonl", "--key", "wrong.key"]);
    expect(wrong.code).toBe(3); // 0644: refused before use
    expect(wrong.stderr).toBe("kz: error: audit key wrong.key is readable by other users (mode 644) — run: chmod 600 wrong.key\n");
    chmodSync(join(box.dir, "wrong.key"), 0o600);
    const mismatch = await box.kz(["audit", "verify", "written.jsonl", "--key", "wrong.key"]);
    expect(mismatch.code).toBe(1);
    expect(mismatch.stdout).toMatch(new RegExp(`^written.jsonl: line 1: written under audit key ${key.id}, not the key given \\([0-9a-f]{8}\\): pass the log's own --key FILE\n$`));
    const missing = await box.kz(["audit", "verify", "written.jsonl", "--key", "nope.key"]);
    expect(missing).toEqual({ code: 3, stdout: "", stderr: "kz: error: cannot read audit key nope.key (it does not exist)\n" });
    const noLocal = await box.kz(["audit", "verify", "written.jsonl"], { env: { XDG_CONFIG_HOME: join(box.dir, "elsewhere") } });
    expect(noLocal.code).toBe(3);
    expect(noLocal.stderr).toBe(
      `kz: error: cannot read audit key ${join(box.dir, "elsewhere", "keyzero", "audit.key")} (it does not exist) — pass the log's key with --key FILE (kz server keeps audit.key beside its audit log)\n`,
    );
  });

  test("--head: a head taken earlier is found; once the records up to it are cut off the end, verify fails", async () => {
    const earlier = JSON.parse((await verify("early.jsonl", asLog(lines.slice(0, 2)), "--json")).stdout).head as string;
    const found = await box.kz(["audit", "verify", "written.jsonl", "--head", earlier]);
    expect(found).toEqual({ code: 0, stdout: `written.jsonl: 4 records, chain intact, expected head found after record 2 (keyed, key ${key.id})\n`, stderr: "" });
    const cut = await verify("truncated.jsonl", asLog(lines.slice(0, 1)), "--head", earlier);
    expect(cut.code).toBe(1);
    expect(cut.stdout).toBe("truncated.jsonl: line 1: the expected head is not in this log: records were removed from its end since it was taken (or it is another log's head)\n");
    const emptied = await verify("emptied.jsonl", "", "--head", earlier);
    expect(emptied.stdout).toStartWith("emptied.jsonl: the expected head is not in this log");
  });

  test("editing one field of record 2 breaks the chain at line 3 (the record after it)", async () => {
    const edited = [...lines];
    edited[1] = edited[1]!.replace('"effect":"allow"', '"effect":"deny"');
    expect(edited[1]).not.toBe(lines[1]);
    const r = await verify("edited.jsonl", asLog(edited));
    expect(r.code).toBe(1);
    expect(r.stdout).toBe("edited.jsonl: line 3: chain broken: prev does not match the line before (edited, removed or reordered)\n");
  });

  test("deleting a line breaks the chain at the line that followed it", async () => {
    const r = await verify("deleted.jsonl", asLog([lines[0]!, lines[2]!, lines[3]!]));
    expect(r.code).toBe(1);
    expect(r.stdout).toStartWith("deleted.jsonl: line 2: chain broken");
    const headless = await verify("headless.jsonl", asLog(lines.slice(1)));
    expect(headless.stdout).toStartWith("headless.jsonl: line 1: chain broken");
  });

  test("reordering two records breaks the chain at the first moved line", async () => {
    const r = await verify("reordered.jsonl", asLog([lines[0]!, lines[2]!, lines[1]!, lines[3]!]));
    expect(r.code).toBe(1);
    expect(r.stdout).toStartWith("reordered.jsonl: line 2: chain broken");
  });

  test("a cut-off last line is named, whether or not what is left parses", async () => {
    const cut = `${lines.slice(0, 3).join("\n")}\n${lines[3]!.slice(0, 30)}`;
    const r = await verify("cut.jsonl", cut);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe("cut.jsonl: line 4: incomplete last record: no newline at the end (the write was cut short or the file truncated)\n");
    const noNewline = await verify("no-newline.jsonl", lines.join("\n"));
    expect(noNewline.code).toBe(1);
    expect(noNewline.stdout).toStartWith("no-newline.jsonl: line 4: incomplete last record");
  });

  test("an earlier break is reported before a cut-off last line", async () => {
    const r = await verify("both.jsonl", `${[lines[0]!, lines[2]!].join("\n")}\n${lines[3]!.slice(0, 10)}`);
    expect(r.stdout).toStartWith("both.jsonl: line 2: chain broken");
  });

  test("blank lines and lines that are not records are named with their file line", async () => {
    const blank = await verify("blank.jsonl", `${lines[0]}\n${lines[1]}\n\n${lines[2]}\n`);
    expect(blank.code).toBe(1);
    expect(blank.stdout).toBe("blank.jsonl: line 3: blank line (the writer never leaves one: the file was edited)\n");
    const notRecord = await verify("null.jsonl", `${lines[0]}\nnull\n`);
    expect(notRecord.code).toBe(1);
    expect(notRecord.stdout).toBe("null.jsonl: line 2: not a JSON object record\n");
    const garbled = await verify("garbled.jsonl", `${lines[0]}\n{"time": oops}\n`);
    expect(garbled.stdout).toBe("garbled.jsonl: line 2: not valid JSON\n");
  });

  test("an empty file is an intact log of 0 records", async () => {
    expect(await verify("empty.jsonl", "")).toEqual({ code: 0, stdout: "empty.jsonl: 0 records, chain intact\n", stderr: "" });
    expect((await verify("one.jsonl", asLog([lines[0]!]))).stdout).toBe(`one.jsonl: 1 record, chain intact (keyed, key ${key.id})\n`);
  });

  test("--json prints one document, with the head hash when intact", async () => {
    const ok = await box.kz(["audit", "verify", "written.jsonl", "--json"]);
    expect(ok.code).toBe(0);
    expect(JSON.parse(ok.stdout)).toEqual({ file: "written.jsonl", ok: true, records: 4, keyed: 4, legacy: 0, key_id: key.id, problem: null, head: keyedLink(key, lines[3]!) });
    const bad = await verify("edited-json.jsonl", asLog([lines[0]!, lines[2]!]), "--json");
    expect(bad.code).toBe(1);
    expect(JSON.parse(bad.stdout)).toEqual({
      file: "edited-json.jsonl",
      ok: false,
      records: 2,
      keyed: 1,
      legacy: 0,
      key_id: key.id,
      problem: { line: 2, reason: expect.stringContaining("chain broken") },
      head: null,
    });
  });

  test("a missing or unreadable file is exit 3 with one line naming it", async () => {
    const missing = await box.kz(["audit", "verify", "nope.jsonl"]);
    expect(missing).toEqual({ code: 3, stdout: "", stderr: "kz: error: cannot read audit log nope.jsonl (it does not exist)\n" });
    const dir = await box.kz(["audit", "verify", "."]);
    expect(dir.code).toBe(3);
    expect(dir.stderr).toBe("kz: error: cannot read audit log . (it is a directory)\n");
  });

  test("usage errors exit 2; --help exits 0", async () => {
    for (const args of [["audit"], ["audit", "check", "x"], ["audit", "verify"], ["audit", "verify", "a", "b"], ["audit", "verify", "x", "--jsn"]]) {
      const r = await box.kz(args);
      expect({ args, code: r.code }).toEqual({ args, code: 2 });
      expect(r.stderr).toStartWith("kz: error: ");
      expect(r.stderr.trim().split("\n")).toHaveLength(1);
    }
    const help = await box.kz(["audit", "--help"]);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain("Usage: kz audit verify FILE [--key FILE] [--legacy] [--head HEAD] [--json]");
    expect((await box.kz(["help", "audit"])).stdout).toContain("Usage: kz audit verify FILE [--key FILE] [--legacy] [--head HEAD] [--json]");
  });
});
