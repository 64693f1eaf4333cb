// kz audit verify end to end through dist/kz, on logs written by the real AuditLog: an intact log, one
// record edited, one removed, two swapped, a cut-off last line, blank and non-record lines, an empty
// file, a missing file, --json, and the usage errors.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { AuditLog, lineHash } from "../../src/audit/log.ts";
import { Sandbox } from "../helpers/kz.ts";

let box: Sandbox;
/** The lines of a four-record log written by AuditLog (two instances, as two runs would). */
let lines: string[];

beforeAll(() => {
  box = new Sandbox();
  const path = join(box.dir, "written.jsonl");
  const first = new AuditLog(path);
  first.append({ event: "decision", secret: "DB_PROD", effect: "allow", subject: "agent-7" });
  first.append({ event: "decision", secret: "ZENDESK_KEY", effect: "allow", subject: "support-1" });
  first.close();
  const second = new AuditLog(path);
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

describe("kz audit verify", () => {
  test("a log written by AuditLog verifies", async () => {
    expect(lines).toHaveLength(4);
    const r = await box.kz(["audit", "verify", "written.jsonl"]);
    expect(r).toEqual({ code: 0, stdout: "written.jsonl: 4 records, chain intact\n", stderr: "" });
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
    expect((await verify("one.jsonl", asLog([lines[0]!]))).stdout).toBe("one.jsonl: 1 record, chain intact\n");
  });

  test("--json prints one document, with the head hash when intact", async () => {
    const ok = await box.kz(["audit", "verify", "written.jsonl", "--json"]);
    expect(ok.code).toBe(0);
    expect(JSON.parse(ok.stdout)).toEqual({ file: "written.jsonl", ok: true, records: 4, problem: null, head: lineHash(lines[3]!) });
    const bad = await verify("edited-json.jsonl", asLog([lines[0]!, lines[2]!]), "--json");
    expect(bad.code).toBe(1);
    expect(JSON.parse(bad.stdout)).toEqual({
      file: "edited-json.jsonl",
      ok: false,
      records: 2,
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
    expect(help.stdout).toContain("Usage: kz audit verify FILE [--json]");
    expect((await box.kz(["help", "audit"])).stdout).toContain("Usage: kz audit verify FILE [--json]");
  });
});
