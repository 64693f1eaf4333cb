// The `WWW-Authenticate: Bearer …` challenge of a 401 (RFC 6750 §3), for every front door: the JSON API
// names its realm, MCP points at its resource metadata (RFC 9728). Parameter values are quoted-strings
// of printable ASCII — a rejection reason can quote token claims (any Unicode), and a header value
// outside Latin-1 would not be sent at all.

/** RFC 6750 quoted-string content: printable ASCII without `"` and `\`, bounded. */
export function quotable(text: string): string {
  return text.replace(/["\\]/g, "'").replace(/[^\x20-\x7e]/g, "?").slice(0, 300);
}

/**
 * The challenge. Without a rejection (no token was presented) it carries no error code (§3.1); with
 * one, error="invalid_token" and why.
 */
export function bearerChallenge(params: { realm?: string; resourceMetadata?: string }, rejection?: string): string {
  const parts: string[] = [];
  if (params.realm !== undefined) parts.push(`realm="${quotable(params.realm)}"`);
  if (params.resourceMetadata !== undefined) parts.push(`resource_metadata="${quotable(params.resourceMetadata)}"`);
  if (rejection !== undefined) parts.push('error="invalid_token"', `error_description="${quotable(rejection)}"`);
  return `Bearer ${parts.join(", ")}`;
}
