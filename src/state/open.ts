// Opens the server's state backend named by the bundle's `state:` — bun:sqlite (the default) or Redis —
// loading only the one it needs, and only when the server asks (so `kz run` loads neither).

import type { ServerState, StateConfig } from "./types.ts";

export interface OpenStateOptions {
  /** Clock in milliseconds; tests pass a fake one. */
  now?: () => number;
  /** One-line log for the server (e.g. Redis unreachable at start). */
  log?: (line: string) => void;
}

export async function openState(config: StateConfig, options: OpenStateOptions = {}): Promise<ServerState> {
  if (config.kind === "sqlite") {
    const { SqliteState } = await import("./sqlite.ts");
    return new SqliteState(config.path, { now: options.now });
  }
  const { RedisState } = await import("./redis.ts");
  return RedisState.open(config.url, options);
}

/** A Redis URL fit for messages and logs: its userinfo (password) removed. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    parsed.username = "";
    parsed.password = "";
    return parsed.toString().replace(/\/$/, "");
  } catch {
    return "(not a URL)";
  }
}
