// Placement: where in a request a secret's token may be swapped for its value (`swap = [...]` per secret).
// A header is where credentials belong; a URL or a body is where an API keeps what it is sent, so a value
// placed there can be stored and read back later (a gist, a file, a chat message) — out of reach of echo
// masking. So "header" is the default and the others are opt-in, per secret, for APIs that need them
// (Telegram's bot token in the path, Google keys in the query, some Slack methods in a form body).
//
// The secret half of an AWS key pair (<P>SECRET_ACCESS_KEY) is never sent at all — kz signs with it — so
// its default is [] (swapped nowhere); its <P>ACCESS_KEY_ID sits in the Authorization header: "header".

export type Placement = "header" | "query" | "path" | "body";

export const PLACEMENTS: readonly Placement[] = ["header", "query", "path", "body"];

export const DEFAULT_SWAP: readonly Placement[] = ["header"];

/** What each placement covers, for messages and `kz validate`. */
export const PLACEMENT_MEANING: Record<Placement, string> = {
  header: "a request header", // Basic auth included
  query: "the URL's query string",
  path: "the URL's path",
  body: "the request body",
};

/** The placements a secret gets when its config says nothing. */
export function defaultSwap(name: string): Placement[] {
  return name.endsWith("SECRET_ACCESS_KEY") ? [] : [...DEFAULT_SWAP];
}

/** The secret's placements: as configured, else its default. */
export function swapOf(secret: { name: string; swap?: readonly Placement[] }): readonly Placement[] {
  return secret.swap ?? defaultSwap(secret.name);
}

export function isPlacement(value: string): value is Placement {
  return (PLACEMENTS as readonly string[]).includes(value);
}

/** `swap = […]` as TOML shows it: ["header", "body"]. */
export function formatSwap(swap: readonly Placement[]): string {
  return `[${swap.map((p) => `"${p}"`).join(", ")}]`;
}
