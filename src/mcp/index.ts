// The MCP layer's surface for the server that hosts it (src/server, src/commands/server.ts): the
// Streamable HTTP handler for /mcp, the RFC 9728 metadata for /.well-known/oauth-protected-resource[/mcp],
// and the stdio loop for --mcp --stdio. The host implements McpHost (host.ts); nothing else is needed.

export type { AccessDecision, AccessRequest, AuthResult, CallerIdentity, McpHost } from "./host.ts";
export { handleMcpHttp, type McpHttpContext } from "./http.ts";
export {
  MCP_PATH,
  METADATA_PATH,
  bearerChallenge,
  protectedResourceMetadata,
  protectedResourceMetadataResponse,
  resourceMetadataUrl,
} from "./resource-metadata.ts";
export { identityTokenSource, serveMcpStdio, type IdentitySource, type McpOutput } from "./stdio.ts";
export type { McpOptions } from "./state.ts";

import type { McpHost } from "./host.ts";
import { runClosers } from "./shutdown.ts";
import { stateOf } from "./state.ts";

/** Closes the idle keep-alive connections `fetch` holds for `host`, and `query`'s database pools (call when the server stops). */
export function closeMcpConnections(host: McpHost): Promise<void> {
  stateOf(host).upstreams.closeIdle();
  return runClosers(host);
}
