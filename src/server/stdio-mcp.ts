// `kz server start --mcp --stdio`: placeholder until the MCP layer lands.
import { UsageError } from "../errors.ts";
export async function serveStdio(_opts: { bundlePath: string; identityTokenFile?: string; version: string }): Promise<number> {
  throw new UsageError("--mcp --stdio is not available yet");
}
