// Mounts the MCP layer (src/mcp) on the server: the Streamable HTTP handler at /mcp and the RFC 9728
// protected-resource metadata. Imported only with --mcp, so the API server never loads MCP code.

import type { AccessService } from "./access.ts";
import type { BundleState } from "./bundle-state.ts";

export function mountMcp(access: AccessService, state: () => BundleState, publicUrl: string) {
  void access;
  void state;
  void publicUrl;
  return {
    handle: async (_request: Request, _client: string) => new Response("MCP is not wired yet", { status: 501 }),
    metadata: (_request: Request) => new Response("{}", { status: 501 }),
  };
}
