// How an MCP client learns where its token comes from (MCP authorization, RFC 9728): the Protected
// Resource Metadata document the server serves at /.well-known/oauth-protected-resource (and at
// /.well-known/oauth-protected-resource/mcp, the form for a resource at /mcp), and the
// `WWW-Authenticate: Bearer resource_metadata="…"` challenge every 401 from /mcp carries.

import { bearerChallenge as challenge } from "../identity/challenge.ts";

export const MCP_PATH = "/mcp";
export const METADATA_PATH = "/.well-known/oauth-protected-resource";

function base(publicUrl: string): string {
  return publicUrl.replace(/\/+$/, "");
}

/** The URL of the metadata document for the MCP endpoint of the server at `publicUrl`. */
export function resourceMetadataUrl(publicUrl: string): string {
  return `${base(publicUrl)}${METADATA_PATH}${MCP_PATH}`;
}

/** RFC 9728 metadata: the MCP endpoint is the resource; the bundle's issuers are its authorization servers. */
export function protectedResourceMetadata(publicUrl: string, issuers: readonly string[]): Record<string, unknown> {
  return {
    resource: `${base(publicUrl)}${MCP_PATH}`,
    authorization_servers: [...issuers],
    bearer_methods_supported: ["header"],
    resource_name: "kz (KeyZero)",
  };
}

/** The metadata document as a response, for the server to mount at both well-known paths. */
export function protectedResourceMetadataResponse(publicUrl: string, issuers: readonly string[]): Response {
  return Response.json(protectedResourceMetadata(publicUrl, issuers), {
    headers: { "Cache-Control": "public, max-age=300", "X-Content-Type-Options": "nosniff" },
  });
}

/**
 * The challenge for a 401. Without a token presented it carries only the metadata URL (RFC 6750 §3.1: no
 * error code when the request had no credentials); with a rejected one, error="invalid_token" and why.
 */
export function bearerChallenge(publicUrl: string, rejection?: string): string {
  return challenge({ resourceMetadata: resourceMetadataUrl(publicUrl) }, rejection);
}
