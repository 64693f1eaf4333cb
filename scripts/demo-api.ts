// The demo's stand-in for a real API (scripts/demo.sh): HTTPS on 127.0.0.1 with a certificate for
// api.demo.test from a throwaway CA (kz's own CA code, node:crypto), so `[blind] upstream_ca` and
// `resolve` can point kz at it. It writes its CA to $1/demo-api-ca.pem and its port to $1/demo-api.port,
// answers every request with 200, and logs one line to stderr with the Authorization it received — so
// the demo can show that the API got the real key while the agent only ever held a token.

import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { createCertificateAuthority } from "../src/blind/ca.ts";

const dir = process.argv[2];
if (!dir) throw new Error("usage: bun scripts/demo-api.ts DIR");
const ca = createCertificateAuthority();
const leaf = ca.leafFor("api.demo.test");
writeFileSync(join(dir, "demo-api-ca.pem"), ca.certPem);
const server = Bun.serve({
  hostname: "127.0.0.1",
  port: 0,
  tls: { cert: leaf.certPem, key: leaf.keyPem },
  fetch(request) {
    const auth = request.headers.get("authorization") ?? "(none)";
    process.stderr.write(`  [api.demo.test] received Authorization: ${auth}\n`);
    return Response.json({ ok: true });
  },
});
writeFileSync(join(dir, "demo-api.port"), String(server.port));
