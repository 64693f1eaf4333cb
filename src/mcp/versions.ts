// MCP protocol revisions kz speaks, and what differs between them for a server this simple: which
// version an `initialize` settles on, and whether JSON-RPC batches are allowed (2025-03-26 only — they
// were added there and removed in 2025-06-18).

/** Newest first. */
export const SUPPORTED_VERSIONS = ["2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05"] as const;
export const LATEST_VERSION = SUPPORTED_VERSIONS[0];
/** What an HTTP request without MCP-Protocol-Version is taken to speak (the spec's backwards-compatible default). */
export const DEFAULT_HTTP_VERSION = "2025-03-26";

export function isSupportedVersion(version: string): boolean {
  return (SUPPORTED_VERSIONS as readonly string[]).includes(version);
}

/** The version to answer an initialize with: the client's when kz speaks it, else kz's latest. */
export function negotiateVersion(requested: unknown): string {
  return typeof requested === "string" && isSupportedVersion(requested) ? requested : LATEST_VERSION;
}

export function allowsBatches(version: string): boolean {
  return version === "2025-03-26";
}
