// What the MCP layer needs from a server that keeps state (src/state) — for captured secrets (`fetch …
// capture`) and for `share`: the store, sealing with the state key, audit records for events that are
// not policy decisions, and storing a share the way POST /v1/shares does. The server implements it
// (src/server/mcp-stateful.ts); src/mcp never imports the server. A host without it refuses both.

import type { AuditFields } from "../audit/log.ts";
import type { SecretValue } from "../secret.ts";
import type { CapturedSecret } from "../state/types.ts";
import type { CallerIdentity } from "./host.ts";

/** A share as the MCP `share` tool asks the server to store it: the envelope only, never a key. */
export interface ShareRequest {
  ciphertext: string;
  views: number;
  expiresAt: number;
  passphrase: boolean;
  /** What is shared, for the audit record (a secret's name; never its value). */
  secret: string;
}

export interface StatefulHost {
  /** The captured-secret part of the server state. Methods may throw StateUnavailableError. */
  captured: {
    put(secret: CapturedSecret): Promise<void>;
    get(owner: string, name: string): Promise<CapturedSecret | undefined>;
    list(owner: string): Promise<CapturedSecret[]>;
    /** Removes and returns it atomically (of concurrent takes, on any replica, one gets it). */
    take(owner: string, name: string): Promise<CapturedSecret | undefined>;
  };
  /** Seals a captured value with the state key, bound to its owner and name (src/state/seal.ts). */
  seal(value: SecretValue, owner: string, name: string): Promise<string>;
  /** Opens a sealed value; throws when it was not sealed for this owner and name (or was altered). */
  unseal(sealed: string, owner: string, name: string): Promise<SecretValue>;
  /** Appends one audit record; throws when it cannot be written (the caller then refuses). */
  audit(fields: AuditFields): void;
  /** Stores a share exactly as POST /v1/shares does (limits, audit); returns its id and page URL (no key). */
  createShare(identity: CallerIdentity, share: ShareRequest, client: string): Promise<{ id: string; url: string }>;
  /** The URL people reach this server at, which share links are built on ("urn:…" over stdio: no links). */
  publicUrl: string;
  /** The server's clock (ms); tests may move it. */
  now(): number;
}
