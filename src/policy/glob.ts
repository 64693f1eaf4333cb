// A policy's `match`: a glob over a secret's ref, split on "/". A segment `*` matches exactly one
// (non-empty) segment, `**` any number of segments including none; every other segment is literal.
// Anchored at both ends. A segment mixing `*` with text ("prod-*") is refused rather than read as a
// literal that would silently never match.

export interface RefGlob {
  pattern: string;
  segments: string[];
}

export class GlobError extends Error {
  override name = "GlobError";
}

/** Parses a pattern; throws GlobError when a segment mixes `*` with other characters. */
export function parseGlob(pattern: string): RefGlob {
  if (pattern === "") throw new GlobError(`an empty pattern matches nothing; use "**" to match every ref`);
  const segments = pattern.split("/");
  for (const segment of segments) {
    if (segment.includes("*") && segment !== "*" && segment !== "**") {
      throw new GlobError(`segment "${segment}": "*" and "**" must stand alone between slashes ("*" is one segment, "**" any number)`);
    }
  }
  return { pattern, segments };
}

/** Whether `ref` matches: greedy matching with backtracking to the last `**`. */
export function globMatches(glob: RefGlob, ref: string): boolean {
  const pat = glob.segments;
  const parts = ref.split("/");
  let p = 0;
  let r = 0;
  let starP = -1; // index of the last `**` seen
  let starR = 0; // the part it is currently extended to
  while (r < parts.length) {
    const seg = pat[p];
    if (seg === "**") {
      starP = p++;
      starR = r;
    } else if (seg !== undefined && (seg === "*" ? parts[r] !== "" : seg === parts[r])) {
      p++;
      r++;
    } else if (starP >= 0) {
      p = starP + 1;
      r = ++starR;
    } else {
      return false;
    }
  }
  while (pat[p] === "**") p++;
  return p === pat.length;
}

/** Convenience for one-off checks: parse and match. */
export function matchGlob(pattern: string, ref: string): boolean {
  return globMatches(parseGlob(pattern), ref);
}
