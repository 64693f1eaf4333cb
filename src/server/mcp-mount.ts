// Mounts the MCP layer (src/mcp) on the server: the Streamable HTTP handler at /mcp and the RFC 9728
// protected-resource metadata. Imported only with --mcp, so the API server never loads MCP code.

import { handleMcpHttp } from "../mcp/http.ts";
import { protectedResourceMetadataResponse } from "../mcp/resource-metadata.ts";
import { applyPreset } from "../identity/presets.ts";
import type { AccessService } from "./access.ts";
import type { BundleState } from "./bundle-state.ts";
import { statefulHost } from "./mcp-stateful.ts";
import type { ServerCore } from "./serve.ts";

/** What the MCP tools need from the server's core for captured secrets and `share`. */
export type StatefulCore = Pick<ServerCore, "state" | "stateKey" | "audit">;

/** The issuer URLs of the bundle: the authorization servers an MCP client can get a token from. */
function issuerUrls(state: BundleState): string[] {
  return state.set.bundle.issuers.flatMap((i) => applyPreset(i).issuer ?? []);
}

export function mountMcp(access: AccessService, state: () => BundleState, publicUrl: string, core?: StatefulCore) {
  if (core) access.attachStateful(statefulHost({ state: core.state, stateKey: core.stateKey, audit: core.audit, publicUrl }));
  return {
    handle: (request: Request, client: string) => handleMcpHttp(request, access, { client, publicUrl }),
    metadata: (_request: Request) => protectedResourceMetadataResponse(publicUrl, issuerUrls(state())),
  };
}
