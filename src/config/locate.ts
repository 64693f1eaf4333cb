// Finds the line a key sits on in TOML source, so that validation errors can say "file:line".
// smol-toml gives positions only for syntax errors; this small scanner covers the shapes a
// .keyzero.toml uses: [table.headers], `key = value` lines and keys inside inline tables.

const header = /^\s*\[\s*([^\]]+?)\s*\]\s*(#.*)?$/;

function splitDotted(path: string): string[] {
  return path.split(".").map((part) => part.trim().replace(/^["']|["']$/g, ""));
}

function keyPattern(key: string): RegExp {
  const escaped = key.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  return new RegExp(`(^|[\\s{,])(["']?)${escaped}\\2\\s*=`);
}

/** 1-based line of `path` (e.g. ["secrets", "API", "reff"]) in TOML `source`, or undefined. */
export function locateKey(source: string, path: string[]): number | undefined {
  const lines = source.split("\n");
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
    if (!new RegExp(`^\\s*(["']?)${rest[0]!.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}\\1\\s*[=.]`).test(line)) continue;
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
