// Things an MCP tool holds open for a host (database pools of `query`) and closes when the server stops.
// A tool registers a closer on first use; closeMcpConnections (index.ts) runs them. Kept apart so the
// tools that hold something load lazily and the server needs no knowledge of them.

import type { McpHost } from "./host.ts";

const closers = new WeakMap<McpHost, Set<() => Promise<void> | void>>();

export function onClose(host: McpHost, close: () => Promise<void> | void): void {
  let set = closers.get(host);
  if (!set) closers.set(host, (set = new Set()));
  set.add(close);
}

export async function runClosers(host: McpHost): Promise<void> {
  const set = closers.get(host);
  closers.delete(host);
  await Promise.all([...(set ?? [])].map(async (close) => {
    try {
      await close();
    } catch {
      // closing is best effort at shutdown
    }
  }));
}
