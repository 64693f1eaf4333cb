// What `kz --version` and `kz run` load: the bundle is split as scripts/build.ts splits it (without
// --compile, so chunks keep their `// node_modules/…` and `// src/…` markers), and the chunks reachable
// from the entry by static imports and synchronous requires — not by a dynamic import() — are checked.
// Start-up stays small only while heavy packages (the AWS SDK, node-forge, CEL, Hono) and slow Node
// built-ins (node:crypto ~10 ms, node:os, node:fs/promises, bun:ffi's module) stay out of that set.

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

/**
 * A chunk's specifiers: static imports and top-level require()s (loaded with it); require()s on indented
 * lines, i.e. inside a function or a branch (loaded when that runs); dynamic import()s (not loaded with it).
 */
function specifiers(code: string): { loaded: string[]; lazy: string[]; dynamic: string[] } {
  const staticImports = code.matchAll(/^import\s+(?:\{[^}]*\}\s*from\s*|[\w$*]+(?:\s+as\s+[\w$]+)?\s+from\s*)?"([^"]+)"/gm);
  const topRequires = code.matchAll(/^\S.*?(?:import\.meta\.require|__require)\("([^"]+)"\)/gm);
  const lazy = [...code.matchAll(/^\s+.*?(?:import\.meta\.require|__require)\("([^"]+)"\)/gm)].map((m) => m[1]!);
  const loaded = [...staticImports, ...topRequires].map((m) => m[1]!);
  const dynamic = [...code.matchAll(/\bimport\("([^"]+)"\)/g)].map((m) => m[1]!);
  return { loaded, lazy, dynamic };
}

/** Chunks loaded with `roots` (transitively), and the built-ins they import. */
function reachable(roots: string[]): { chunks: string[]; builtins: Set<string> } {
  const chunks: string[] = [];
  const builtins = new Set<string>();
  const visit = (chunk: string) => {
    if (chunks.includes(chunk)) return;
    chunks.push(chunk);
    for (const spec of specifiers(read(chunk)).loaded) {
      if (spec.startsWith("./")) visit(spec.slice(2));
      else builtins.add(spec.replace(/^node:/, ""));
    }
  };
  roots.forEach(visit);
  return { chunks, builtins };
}

const packagesIn = (chunks: string[]) =>
  new Set(chunks.flatMap((c) => [...read(c).matchAll(/^\/\/ \S*?node_modules\/((?:@[^/]+\/)?[^/]+)\//gm)].map((m) => m[1]!)));

const heavy = ["@aws-sdk", "@smithy", "node-forge", "@bufbuild/cel", "hono", "@modelcontextprotocol/sdk", "jose"];
const isHeavy = (pkg: string) => heavy.some((h) => pkg === h || pkg.startsWith(`${h}/`));

test("kz --version: the entry chunk imports nothing before it answers", () => {
  const entry = read("main.js");
  expect(specifiers(entry).loaded).toEqual([]);
});

test("kz run: no heavy package and no slow built-in in what loads with the entry", () => {
  // main.ts requires harden.ts and cli.ts on every command; its other requires serve internal commands
  // (`kz __sandbox-init`, `kz __sqlite-query`) that kz run does not take.
  const required = specifiers(read("main.js")).lazy.filter((s) => s.startsWith("./")).map((s) => s.slice(2));
  const runPath = required.filter((chunk) => /^\/\/ src\/(harden|cli)\.ts$/m.test(read(chunk)));
  expect(runPath).toHaveLength(2);
  const { chunks, builtins } = reachable(runPath);
  const sources = chunks.flatMap((c) => [...read(c).matchAll(/^\/\/ (src\/\S+\.ts)$/gm)].map((m) => m[1]!));
  expect(sources).toContain("src/commands/run.ts");
  expect(sources).toContain("src/providers/local-store.ts");
  expect([...packagesIn(chunks)].filter(isHeavy)).toEqual([]);
  expect([...builtins].sort()).toEqual(["fs", "path"]);
});

test("the check sees what it looks for: the AWS provider's chunks, loaded dynamically, hold the SDK", () => {
  const all = new Set<string>();
  const visit = (chunk: string) => {
    if (all.has(chunk)) return;
    all.add(chunk);
    const { loaded, lazy, dynamic } = specifiers(read(chunk));
    // (a "./x.js" in a string that is not a chunk, such as the share page's script name, is passed over)
    for (const spec of [...loaded, ...lazy, ...dynamic]) if (spec.startsWith("./") && existsSync(join(out, spec))) visit(spec.slice(2));
  };
  visit("main.js");
  const packages = packagesIn([...all]);
  expect(packages.has("@aws-sdk/client-secrets-manager")).toBe(true);
  expect([...packages].some(isHeavy)).toBe(true);
});
