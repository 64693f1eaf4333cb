// What `kz --version` and `kz run` load: the bundle is split as scripts/build.ts splits it (without
// --compile, so chunks keep their `// node_modules/…` and `// src/…` markers), and the chunks reachable
// from the entry by static imports and synchronous requires — not by a dynamic import() — are checked.
// Start-up stays small only while heavy packages (the AWS SDK, node-forge, CEL, Hono) and slow Node
// built-ins (node:crypto ~10 ms, node:os, node:fs/promises) stay out of that set.

import { afterAll, beforeAll, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

const root = resolve(import.meta.dir, "../..");
const out = mkdtempSync(join(tmpdir(), "kz-chunks-"));
afterAll(() => rmSync(out, { recursive: true, force: true }));

beforeAll(() => {
  const build = Bun.spawnSync([process.execPath, "build", "src/main.ts", "--splitting", "--format=esm", "--target=bun", `--outdir=${out}`], {
    cwd: root,
    stdout: "ignore",
    stderr: "pipe",
  });
  if (build.exitCode !== 0) throw new Error(`bun build failed: ${build.stderr}`);
});

const read = (chunk: string) => readFileSync(join(out, chunk), "utf8");

/** A chunk's specifiers: static imports and import.meta.require() calls (loaded with it), and dynamic import()s (not). */
function specifiers(code: string): { loaded: string[]; dynamic: string[] } {
  const loaded = [...code.matchAll(/^import\s+(?:[\s\S]*?\sfrom\s*)?"([^"]+)"/gm), ...code.matchAll(/import\.meta\.require\("([^"]+)"\)/g)].map((m) => m[1]!);
  const dynamic = [...code.matchAll(/\bimport\("([^"]+)"\)/g)].map((m) => m[1]!);
  return { loaded, dynamic };
}

/** Chunks loaded with `entry` (transitively), skipping those `skip` names, and the built-ins they import. */
function reachable(entry: string, skip: (chunk: string) => boolean = () => false): { chunks: string[]; builtins: Set<string> } {
  const chunks: string[] = [];
  const builtins = new Set<string>();
  const visit = (chunk: string) => {
    if (chunks.includes(chunk) || skip(chunk)) return;
    chunks.push(chunk);
    for (const spec of specifiers(read(chunk)).loaded) {
      if (spec.startsWith("./")) visit(spec.slice(2));
      else builtins.add(spec.replace(/^node:/, ""));
    }
  };
  visit(entry);
  return { chunks, builtins };
}

const packagesIn = (chunks: string[]) =>
  new Set(chunks.flatMap((c) => [...read(c).matchAll(/^\/\/ \S*?node_modules\/((?:@[^/]+\/)?[^/]+)\//gm)].map((m) => m[1]!)));

const heavy = ["@aws-sdk", "@smithy", "node-forge", "@bufbuild/cel", "hono", "@modelcontextprotocol/sdk", "jose"];
const isHeavy = (pkg: string) => heavy.some((h) => pkg === h || pkg.startsWith(`${h}/`));

test("kz --version: the entry chunk imports nothing before it answers", () => {
  const entry = read("main.js");
  expect(specifiers(entry).loaded.filter((s) => !entry.includes(`import.meta.require("${s}")`))).toEqual([]);
});

test("kz run: no heavy package and no slow built-in in what loads with the entry", () => {
  // The sandbox's first process (`kz __sandbox-init`) is the one other synchronous require; kz run does not load it.
  const init = specifiers(read("main.js")).loaded.find((s) => /^\.\/init-[^/]+\.js$/.test(s));
  expect(init).toBeDefined();
  const { chunks, builtins } = reachable("main.js", (chunk) => `./${chunk}` === init);
  const sources = chunks.flatMap((c) => [...read(c).matchAll(/^\/\/ (src\/\S+\.ts)$/gm)].map((m) => m[1]!));
  expect(sources).toContain("src/commands/run.ts");
  expect(sources).toContain("src/providers/local-store.ts");
  expect([...packagesIn(chunks)].filter(isHeavy)).toEqual([]);
  expect([...builtins].sort()).toEqual(["bun:ffi", "fs", "path"]);
});

test("the check sees what it looks for: the AWS provider's chunks, loaded dynamically, hold the SDK", () => {
  const all = new Set<string>();
  const visit = (chunk: string) => {
    if (all.has(chunk)) return;
    all.add(chunk);
    const { loaded, dynamic } = specifiers(read(chunk));
    // (a "./x.js" in a string that is not a chunk, such as the share page's script name, is passed over)
    for (const spec of [...loaded, ...dynamic]) if (spec.startsWith("./") && existsSync(join(out, spec))) visit(spec.slice(2));
  };
  visit("main.js");
  const packages = packagesIn([...all]);
  expect(packages.has("@aws-sdk/client-secrets-manager")).toBe(true);
  expect([...packages].some(isHeavy)).toBe(true);
});
