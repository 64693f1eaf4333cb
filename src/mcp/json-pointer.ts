// RFC 6901 JSON Pointers, for `fetch … capture`: parse "/a/b~1c/0" into reference tokens ("~1" is "/",
// "~0" is "~", decoded in that order) and look one up in a parsed JSON document. Pure; a lookup that
// finds nothing says where it stopped and what was there (member names only — never a value), so the
// agent can correct its pointer without being shown the response.

export type PointerLookup =
  | { found: true; value: unknown }
  | { found: false; reason: string };

/** The reference tokens of `pointer`, or why it is not a JSON Pointer. "" is the whole document. */
export function parsePointer(pointer: string): string[] | string {
  if (pointer === "") return [];
  if (!pointer.startsWith("/")) return 'a JSON Pointer starts with "/" (e.g. "/password" or "/data/0/key")';
  const tokens = pointer.slice(1).split("/");
  for (const token of tokens) {
    if (/~(?![01])/.test(token)) return 'in a JSON Pointer "~" must be followed by 0 ("~0" is "~") or 1 ("~1" is "/")';
  }
  return tokens.map((t) => t.replace(/~1/g, "/").replace(/~0/g, "~"));
}

/** How a token is written back into a pointer (for messages). */
export function escapeToken(token: string): string {
  return token.replace(/~/g, "~0").replace(/\//g, "~1");
}

const ARRAY_INDEX = /^(0|[1-9][0-9]*)$/;
const MAX_LISTED = 20;

function describe(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return `an array of ${value.length}`;
  if (typeof value === "object") {
    const keys = Object.keys(value as object);
    if (keys.length === 0) return "an empty object";
    const shown = keys.slice(0, MAX_LISTED).map((k) => JSON.stringify(k.length > 40 ? `${k.slice(0, 40)}…` : k));
    return `an object with members ${shown.join(", ")}${keys.length > MAX_LISTED ? `, … (${keys.length} in all)` : ""}`;
  }
  return `a ${typeof value}`;
}

/** Looks `tokens` up in `document` (a JSON.parse result). Own members only: "__proto__" is data, not a path out. */
export function lookup(document: unknown, tokens: readonly string[]): PointerLookup {
  let current = document;
  let at = "";
  for (const token of tokens) {
    const here = at === "" ? "the document" : at;
    if (Array.isArray(current)) {
      if (!ARRAY_INDEX.test(token) || Number(token) >= current.length) {
        return { found: false, reason: `${here} is ${describe(current)}, which has no element ${JSON.stringify(token.slice(0, 40))}` };
      }
      current = current[Number(token)];
    } else if (current !== null && typeof current === "object") {
      if (!Object.prototype.hasOwnProperty.call(current, token)) {
        return { found: false, reason: `${here} is ${describe(current)}; none is ${JSON.stringify(token.slice(0, 40))}` };
      }
      current = (current as Record<string, unknown>)[token];
    } else {
      return { found: false, reason: `${here} is ${describe(current)}, not an object or array` };
    }
    at += `/${escapeToken(token)}`;
  }
  return { found: true, value: current };
}
