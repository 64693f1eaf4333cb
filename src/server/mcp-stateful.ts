// The server's side of src/mcp/stateful.ts: captured secrets in the server state (sealed with the state
// key, bound to owner and name), audit records, and shares stored the way POST /v1/shares stores them
// (src/server/shares.ts: the same id, limits, audit reference and link) for the MCP `share` tool.

import type { AuditFields, AuditLog } from "../audit/log.ts";
import type { CallerIdentity } from "../mcp/host.ts";
import type { ShareRequest, StatefulHost } from "../mcp/stateful.ts";
import { SecretValue } from "../secret.ts";
import { shareUrl } from "../share/envelope.ts";
import { newShareId } from "../share/limits.ts";
import { capturedAad, seal, unseal } from "../state/seal.ts";
import type { ServerState } from "../state/types.ts";
import { shareRef } from "./shares.ts";

export interface StatefulParts {
  state: ServerState;
  stateKey: Buffer;
  audit: Pick<AuditLog, "append">;
  publicUrl: string;
  now?: () => number;
}

export function statefulHost(parts: StatefulParts): StatefulHost {
  const now = parts.now ?? Date.now;
  const { state, stateKey } = parts;
  const audit = (fields: AuditFields) => parts.audit.append(fields);
  return {
    captured: {
      put: (secret) => state.putCaptured(secret),
      get: (owner, name) => state.getCaptured(owner, name, now()),
      list: (owner) => state.listCaptured(owner, now()),
      take: (owner, name) => state.takeCaptured(owner, name, now()),
    },
    seal: async (value, owner, name) => seal(stateKey, value.reveal(), capturedAad(owner, name)),
    unseal: async (sealed, owner, name) => new SecretValue(unseal(stateKey, sealed, capturedAad(owner, name))),
    audit,
    async createShare(identity: CallerIdentity, share: ShareRequest, client: string) {
      const id = newShareId();
      const createdAt = now();
      const creator = identity.subject !== "" ? identity.subject : identity.issuer;
      // Recorded before it is stored (as POST /v1/shares does): a share the audit log does not know never exists.
      audit({
        event: "share.created",
        share: shareRef(id),
        issuer: identity.issuer,
        creator,
        secret: share.secret,
        views: share.views,
        passphrase: share.passphrase,
        expires_at: new Date(share.expiresAt).toISOString(),
        via: "mcp",
        client,
      });
      await state.putShare({ id, ciphertext: share.ciphertext, views: share.views, expiresAt: share.expiresAt, createdAt, creator, passphrase: share.passphrase });
      return { id, url: shareUrl(parts.publicUrl, id) };
    },
    publicUrl: parts.publicUrl,
    now,
  };
}
