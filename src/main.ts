// kz's entry point, kept nearly import-free: `kz --version` answers before anything else loads, and
// the rest of the CLI is pulled in with a synchronous require, which the bundler keeps in this chunk
// (a dynamic import() costs several ms in a compiled binary; measured with scripts/bench/startup.ts).
// No static import here: node:fs alone costs ~3–5 ms to load, which is what `--version` took over a
// do-nothing Bun binary; console.log is native and writes synchronously.

declare const KZ_BUILD_VERSION: string | undefined;
declare const KZ_BUILD_COMMIT: string | undefined;

const argv = process.argv.slice(2);
if (argv.length === 1 && (argv[0] === "--version" || argv[0] === "-V")) {
  // "kz 0.1.0 (abc1234)": the same line `kz version` prints (src/commands/version.ts).
  const commit = typeof KZ_BUILD_COMMIT === "string" ? ` (${KZ_BUILD_COMMIT})` : "";
  console.log(`kz ${typeof KZ_BUILD_VERSION === "string" ? KZ_BUILD_VERSION : "dev"}${commit}`);
} else {
  // Before anything is resolved: no same-user process may read kz's memory or environment.
  (require("./harden.ts") as typeof import("./harden.ts")).closeOwnProcess();
  if (argv[0] === "__sandbox-init") {
    // The first process inside the sandbox: it leaves as soon as the command has (see runner/sandbox/init.ts).
    const init = require("./runner/sandbox/init.ts") as typeof import("./runner/sandbox/init.ts");
    process.exit(await init.sandboxInit(argv.slice(1)));
  }
  if (argv[0] === "__sqlite-query") {
    // A SQLite connection of the MCP query tool, in a process the server can kill at a timeout (mcp/query-sqlite.ts).
    const child = require("./mcp/sqlite-child.ts") as typeof import("./mcp/sqlite-child.ts");
    process.exit(await child.serveSqlite(argv.slice(1)));
  }
  const cli = require("./cli.ts") as typeof import("./cli.ts");
  process.exitCode = await cli.main(argv);
}

export {}; // a module (top-level await) with nothing to import
