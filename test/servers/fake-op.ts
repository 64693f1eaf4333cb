// The fake 1Password CLI (test/servers/op) as an executable that runs whatever PATH a test sets: a copy
// whose shebang names the very Bun running the tests (process.execPath), so neither the suite's runner
// (`bun test`, CI's script, an IDE) nor the PATH a test gives kz needs to hold a `bun`.

import { chmodSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

let dir: string | undefined;

/** A directory holding `op` (created once per test process; the OS's temp cleanup removes it). */
export function fakeOpDir(): string {
  if (dir) return dir;
  dir = mkdtempSync(join(tmpdir(), "kz-fake-op-"));
  const script = readFileSync(join(import.meta.dir, "op"), "utf8").replace(/^#!.*\n/, "");
  const op = join(dir, "op");
  writeFileSync(op, `#!${process.execPath}\n${script}`);
  chmodSync(op, 0o755);
  return dir;
}
