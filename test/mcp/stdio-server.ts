// A stdio MCP server process for test/mcp/stdio.test.ts, independent of a built dist/kz (test/e2e/mcp.test.ts
// runs the real `kz server start --mcp --stdio`): the fixture's real-parts host for the bundle given as
// argv[2], served by serveMcpStdio on this process's stdin and stdout, with the identity from
// KZ_IDENTITY_TOKEN or the token file given as argv[3].

import { writeStdout, writeStderr } from "../../src/stdio.ts";
import { identityTokenSource, serveMcpStdio } from "../../src/mcp/index.ts";
import { buildHost } from "./fixture.ts";

const host = await buildHost(process.argv[2]!);
try {
  await serveMcpStdio(host, identityTokenSource({ env: process.env, file: process.argv[3] }), Bun.stdin.stream(), writeStdout);
} catch (error) {
  writeStderr(`kz: ${(error as Error).message}\n`);
  process.exit(1);
}
