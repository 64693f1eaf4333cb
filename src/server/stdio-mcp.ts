// `kz server start --mcp --stdio`: the MCP tools over stdin/stdout for a desktop client that spawns kz.
// The same core as the HTTP server (bundle with reloads, access decisions, audit) without a listener;
// the caller is the process's identity token. stdout carries only protocol messages, so the audit log
// cannot be "-" here and logs go to stderr.

import { ConfigError, ExitCode } from "../errors.ts";
import { identityTokenSource, serveMcpStdio } from "../mcp/index.ts";
import { fdSink } from "../stdio.ts";
import { Metrics } from "./metrics.ts";
import { buildCore, log } from "./serve.ts";

export interface StdioOptions {
  bundlePath: string;
  identityTokenFile?: string;
  version: string;
}

export async function serveStdio(options: StdioOptions): Promise<number> {
  const core = await buildCore(options.bundlePath, "urn:kz:stdio", new Metrics());
  if (core.audit.toStdout) {
    throw new ConfigError(`${core.holder.current.set.bundle.file}: audit.path "-" would mix audit records into the MCP stream on stdout; give a file`);
  }
  if (!options.identityTokenFile && !process.env.KZ_IDENTITY_TOKEN) {
    throw new ConfigError("--mcp --stdio needs the client's identity: set KZ_IDENTITY_TOKEN or pass --identity-token-file FILE");
  }
  core.holder.watch();
  const onHup = () => void core.holder.reload("SIGHUP");
  process.on("SIGHUP", onHup);
  const out = fdSink(1);
  const { statefulHost } = await import("./mcp-stateful.ts");
  core.access.attachStateful(statefulHost({ state: core.state, stateKey: core.stateKey, audit: core.audit, publicUrl: "urn:kz:stdio" }));
  log(`serving MCP on stdio — bundle ${core.holder.current.set.bundle.file}; audit → ${core.audit.path}`);
  try {
    await serveMcpStdio(
      core.access,
      identityTokenSource({ env: process.env, file: options.identityTokenFile }),
      Bun.stdin.stream() as unknown as AsyncIterable<Uint8Array>,
      (line: string) => {
        out.write(line);
        out.flush();
      },
      { serverVersion: options.version },
    );
  } finally {
    process.off("SIGHUP", onHup);
    core.holder.close();
    await out.end();
    core.audit.close();
    await core.closeState();
  }
  return ExitCode.ok;
}
