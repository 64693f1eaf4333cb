// Finds the line each key sits on in YAML source, so that bundle errors can say "file:line" (Bun.YAML
// gives no positions), and finds keys written twice in one mapping (Bun.YAML silently keeps the last).
// A line scanner for the shapes a bundle uses: block mappings, block sequences (`- ` items, indexed from
// 0 in paths), flow collections (`{ a: 1 }`, `[x, y]`, possibly over several lines) and block scalars.

export interface YamlKeyLine {
  /** Key path; sequence items appear as their index, e.g. ["policies", "0", "rules", "1", "cel"]. */
  path: string[];
  line: number; // 1-based
}

interface Frame {
  indent: number;
  segment: string;
  item: boolean;
}

/** The content of a quoted scalar ("…" with JSON-like escapes, '…' with '' for '). */
function unquote(quoted: string): string {
  if (quoted.startsWith("'")) return quoted.slice(1, -1).replaceAll("''", "'");
  try {
    return JSON.parse(quoted) as string;
  } catch {
    return quoted.slice(1, -1);
  }
}

/** Reads a quoted or plain key at the start of `text`; returns it and the text after its colon. */
function readKey(text: string): { key: string; rest: string } | undefined {
  let key: string;
  let after: string;
  const quote = text[0];
  if (quote === '"' || quote === "'") {
    let i = 1;
    for (; i < text.length; i++) {
      if (quote === '"' && text[i] === "\\") i++;
      else if (text[i] === quote) {
        if (quote === "'" && text[i + 1] === "'") i++;
        else break;
      }
    }
    if (i >= text.length) return undefined;
    key = unquote(text.slice(0, i + 1));
    after = text.slice(i + 1).trimStart();
    if (!after.startsWith(":")) return undefined;
  } else {
    if (/^[{[\]}#&*!|>%@`,?]/.test(text)) return undefined;
    const m = /:(\s|$)/.exec(text);
    if (!m || /\s#/.test(text.slice(0, m.index))) return undefined;
    key = text.slice(0, m.index).trimEnd();
    after = text.slice(m.index);
  }
  return { key, rest: after.slice(1).trim() };
}

interface FlowContainer {
  path: string[];
  seq: boolean;
  index: number;
  key?: string;
}

/**
 * Scans a flow collection starting at `lines[start]` column `col`, emitting keys under `base`.
 * Returns the index of the line where the collection closes.
 */
function scanFlow(lines: string[], start: number, col: number, base: string[], emit: (path: string[], line: number) => void): number {
  const stack: FlowContainer[] = [];
  const valuePath = (): string[] => {
    const top = stack[stack.length - 1];
    if (!top) return base;
    return top.seq ? [...top.path, String(top.index)] : [...top.path, top.key ?? ""];
  };
  for (let ln = start; ln < lines.length; ln++) {
    const text = lines[ln]!;
    let i = ln === start ? col : 0;
    while (i < text.length) {
      const c = text[i]!;
      if (c === " " || c === "\t") {
        i++;
      } else if (c === "#" && (i === 0 || /\s/.test(text[i - 1]!))) {
        break;
      } else if (c === "{" || c === "[") {
        stack.push({ path: valuePath(), seq: c === "[", index: 0 });
        i++;
      } else if (c === "}" || c === "]") {
        stack.pop();
        i++;
        if (stack.length === 0) return ln;
      } else if (c === ",") {
        const top = stack[stack.length - 1];
        if (top?.seq) top.index++;
        else if (top) top.key = undefined;
        i++;
      } else if (c === ":") {
        i++;
      } else {
        // A scalar: quoted, or plain up to a flow indicator or ": ".
        let end = i;
        let token: string;
        if (c === '"' || c === "'") {
          end = i + 1;
          while (end < text.length && !(text[end] === c && !(c === "'" && text[end + 1] === "'"))) {
            end += (text[end] === "\\" && c === '"') || (c === "'" && text[end] === "'") ? 2 : 1;
          }
          end++;
          token = unquote(text.slice(i, end));
        } else {
          while (end < text.length && !/[,{}[\]]/.test(text[end]!) && !(text[end] === ":" && /[\s,{}[\]]|^$/.test(text[end + 1] ?? ""))) end++;
          token = text.slice(i, end).trim();
        }
        const top = stack[stack.length - 1];
        if (top && !top.seq && top.key === undefined && /^\s*:/.test(text.slice(end))) {
          top.key = token;
          emit([...top.path, token], ln + 1);
        }
        i = end;
      }
    }
  }
  return lines.length - 1;
}

/** Every key (and sequence item) in `source` with its line, in document order. */
export function scanYamlKeys(source: string): YamlKeyLine[] {
  const out: YamlKeyLine[] = [];
  const emit = (path: string[], line: number) => out.push({ path, line });
  const lines = source.split("\n").map((l) => l.replace(/\r$/, ""));
  const stack: Frame[] = [];
  let scalarIndent: number | undefined; // inside a block scalar: skip lines indented more than this

  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i]!;
    const indent = raw.length - raw.trimStart().length;
    const content = raw.trimStart();
    if (content === "" || content.startsWith("#")) continue;
    if (scalarIndent !== undefined) {
      if (indent > scalarIndent) continue;
      scalarIndent = undefined;
    }
    if (indent === 0 && (content.startsWith("---") || content.startsWith("..."))) {
      stack.length = 0;
      continue;
    }

    let col = indent;
    let rest = content;
    while (rest === "-" || rest.startsWith("- ")) {
      while (stack.length && stack[stack.length - 1]!.indent > col) stack.pop();
      const top = stack[stack.length - 1];
      let index = 0;
      if (top && top.item && top.indent === col) {
        index = Number(top.segment) + 1;
        stack.pop();
      }
      stack.push({ indent: col, segment: String(index), item: true });
      emit(stack.map((f) => f.segment), i + 1);
      const after = rest.slice(1);
      const spaces = after.length - after.trimStart().length;
      col += 1 + spaces;
      rest = after.trimStart();
    }
    if (rest === "") continue;

    const parentPath = () => stack.map((f) => f.segment);
    if (rest.startsWith("{") || rest.startsWith("[")) {
      while (stack.length && !stack[stack.length - 1]!.item && stack[stack.length - 1]!.indent >= col) stack.pop();
      i = scanFlow(lines, i, raw.length - rest.length, parentPath(), emit);
      continue;
    }
    const key = readKey(rest);
    if (!key) continue; // a scalar item or a continuation line
    while (stack.length && stack[stack.length - 1]!.indent >= col) stack.pop();
    stack.push({ indent: col, segment: key.key, item: false });
    const path = parentPath();
    emit(path, i + 1);
    const value = key.rest.replace(/^&\S+\s*/, "");
    if (/^[|>]/.test(value)) scalarIndent = col;
    else if (value.startsWith("{") || value.startsWith("[")) i = scanFlow(lines, i, raw.trimEnd().length - value.length, path, emit);
  }
  return out;
}

let cache: { source: string; keys: YamlKeyLine[] } | undefined;

function keysOf(source: string): YamlKeyLine[] {
  if (cache?.source !== source) cache = { source, keys: scanYamlKeys(source) };
  return cache.keys;
}

/** 1-based line of `path` in YAML `source`; else the line of its nearest enclosing key; else undefined. */
export function locateYamlKey(source: string, path: string[]): number | undefined {
  let best: YamlKeyLine | undefined;
  for (const entry of keysOf(source)) {
    if (entry.path.length > path.length || !entry.path.every((s, k) => s === path[k])) continue;
    if (entry.path.length === path.length) return entry.line;
    if (!best || entry.path.length > best.path.length) best = entry;
  }
  return best?.line;
}

/** Keys that appear a second time in the same mapping (each later occurrence). */
export function duplicateYamlKeys(source: string): YamlKeyLine[] {
  const seen = new Set<string>();
  const dups: YamlKeyLine[] = [];
  for (const entry of keysOf(source)) {
    const id = entry.path.join("\u0000");
    if (seen.has(id)) dups.push(entry);
    else seen.add(id);
  }
  return dups;
}
