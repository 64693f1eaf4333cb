// Finds the line a key sits on in TOML source, so that validation errors can say "file:line".
// smol-toml gives positions only for syntax errors; this small scanner covers the shapes a
// .keyzero.toml uses: [table.headers], `key = value` lines and keys inside inline tables.
// Every secret's origin is located when a config loads (kz run's start-up), so the source's lines and
// the key patterns are made once, not once per line per key.

const header = /^\s*\[\s*([^\]]+?)\s*\]\s*(#.*)?$/;

function splitDotted(path: string): string[] {
  return path.split(".").map((part) => part.trim().replace(/^["']|["']$/g, ""));
}

const escape = (key: string) => key.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
const patterns = new Map<string, RegExp>();

function memo(id: string, make: () => RegExp): RegExp {
  let pattern = patterns.get(id);
  if (!pattern) {
    if (patterns.size >= 1000) patterns.clear(); // a long-running server loads many documents
    patterns.set(id, (pattern = make()));
  }
  return pattern;
}

/** `key =` anywhere on a line (after a space, `{` or `,`): a key inside an inline table. */
const keyPattern = (key: string) => memo(`in:${key}`, () => new RegExp(`(^|[\\s{,])(["']?)${escape(key)}\\2\\s*=`));
/** `key =` or `key.` starting a line. */
const leadingKeyPattern = (key: string) => memo(`lead:${key}`, () => new RegExp(`^\\s*(["']?)${escape(key)}\\1\\s*[=.]`));

let lastSource: { source: string; lines: string[] } | undefined;
const linesOf = (source: string) => (lastSource?.source === source ? lastSource : (lastSource = { source, lines: source.split("\n") })).lines;

/** 1-based line of `path` (e.g. ["secrets", "API", "reff"]) in TOML `source`, or undefined. */
export function locateKey(source: string, path: string[]): number | undefined {
  const lines = linesOf(source);
  let table: string[] = [];
  let fallback: number | undefined;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    const h = header.exec(line);
    if (h) {
      table = splitDotted(h[1]!.replace(/^\[|\]$/g, ""));
      if (table.length === path.length && table.every((t, k) => t === path[k])) return i + 1;
      continue;
    }
    if (table.length >= path.length || !table.every((t, k) => t === path[k])) continue;
    const rest = path.slice(table.length);
    // `a.b = …` dotted keys or `a = { b = … }` inline tables: the first key must start the line.
    if (!leadingKeyPattern(rest[0]!).test(line)) continue;
    if (rest.length === 1) return i + 1;
    fallback ??= i + 1;
    // Search this line and, for multi-line inline tables, the following ones up to the closing brace.
    for (let j = i; j < lines.length; j++) {
      if (keyPattern(rest[rest.length - 1]!).test(j === i ? line.slice(line.indexOf("=") + 1) : lines[j]!)) return j + 1;
      if (lines[j]!.includes("}")) break;
    }
  }
  return fallback;
}
