// A Bun macro, run when kz is built (and when tests load the server from source): src/share/envelope.ts
// transpiled for the browser, inlined into the binary as a string. The page's decrypt is therefore the
// envelope code itself, not a hand-kept copy. (A plain `with { type: "text" }` import of envelope.ts does
// not work: the bundler folds it into the code import of the same file.)

import { readFileSync } from "node:fs";

export function envelopeBrowserJs(): string {
  const source = readFileSync(new URL("../share/envelope.ts", import.meta.url), "utf8");
  return new Bun.Transpiler({ loader: "ts", target: "browser" }).transformSync(source);
}
