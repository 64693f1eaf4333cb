// MCP `fetch` benchmark: tool calls per second and p50/p99 latency of `fetch` through `kz server start
// --mcp` (a JSON-RPC tools/call POST with a JWT verified, a policy decision and audit record, the secret's
// value from the env provider, the SSRF check, a TLS connection to the upstream, the response masked),
// beside the same HTTPS request made directly to the upstream with the real credential (keep-alive, as
// an agent holding the key would). Reports both at each concurrency and what kz adds at p50.
//   bun scripts/bench/mcp.ts [--seconds 5] [--warmup 1] [--concurrency 1,16] [--kz dist/kz]
// The upstream runs in its own process (this file with --upstream DIR) so the load generator does not
// share a thread with it. Everything listens on 127.0.0.1; the temp dir and every process started here
// are removed at the end. Needs dist/kz (`npm run build`) and openssl.

import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { exportJWK, generateKeyPair, SignJWT } from "jose";

const HOST = "api.bench.test";
const VALUE = "fake-bench-api-key-0123456789abcdef";
const ISSUER = "https://idp.bench.test";

function argument(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

// ---------------------------------------------------------------------------------------------------
// Upstream mode: a small HTTPS API that echoes the Authorization it received (so kz masks it every time)
// ---------------------------------------------------------------------------------------------------

if (process.argv[2] === "--upstream") {
  const dir = process.argv[3]!;
  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    tls: { cert: Bun.file(join(dir, "server.pem")), key: Bun.file(join(dir, "server.key")) },
    fetch: (req) => Response.json({ ok: true, path: new URL(req.url).pathname, authorization: req.headers.get("authorization") }),
  });
  console.log(JSON.stringify({ port: server.port }));
  await new Promise(() => {}); // until killed
}

function run(cmd: string[], cwd: string): void {
  const r = Bun.spawnSync(cmd, { cwd, stdout: "ignore", stderr: "pipe" });
  if (r.exitCode !== 0) throw new Error(`${cmd.join(" ")} failed: ${r.stderr.toString().trim()}`);
}

function makeCertificates(dir: string): void {
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];
  run(["openssl", "req", "-x509", ...ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=kz bench CA",
    "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"], dir);
  run(["openssl", "req", ...ec, "-keyout", "server.key", "-out", "server.csr", "-subj", `/CN=${HOST}`], dir);
  writeFileSync(join(dir, "ext.cnf"), `subjectAltName=DNS:${HOST},IP:127.0.0.1\nextendedKeyUsage=serverAuth\n`);
  run(["openssl", "x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-out", "server.pem", "-days", "2", "-extfile", "ext.cnf"], dir);
}

/** Spawns a process and resolves once a stdout or stderr line matches `pattern`. */
async function spawnUntil(cmd: string[], opts: { cwd: string; env?: Record<string, string> }, stream: "stdout" | "stderr", pattern: RegExp) {
  const proc = Bun.spawn(cmd, { cwd: opts.cwd, env: { PATH: process.env.PATH ?? "/usr/bin:/bin", ...opts.env }, stdout: "pipe", stderr: "pipe", stdin: "ignore" });
  const decoder = new TextDecoder();
  let seen = "";
  for await (const chunk of proc[stream] as unknown as AsyncIterable<Uint8Array>) {
    seen += decoder.decode(chunk, { stream: true });
    const match = pattern.exec(seen);
    if (match) return { proc, match };
  }
  throw new Error(`${cmd[0]} exited before it was ready:\n${seen}`);
}

// ---------------------------------------------------------------------------------------------------
// Load generation
// ---------------------------------------------------------------------------------------------------

interface Result {
  calls: number;
  errors: number;
  seconds: number;
  rate: number;
  p50: number;
  p99: number;
}

function percentile(sorted: number[], p: number): number {
  return sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]! : NaN;
}

/** Runs `once` from `concurrency` loops for `ms` milliseconds; latencies in ms. */
async function load(once: () => Promise<boolean>, concurrency: number, ms: number): Promise<Result> {
  const latencies: number[] = [];
  let errors = 0;
  const started = performance.now();
  const until = started + ms;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < until) {
        const t = performance.now();
        const ok = await once().catch(() => false);
        latencies.push(performance.now() - t);
        if (!ok) errors++;
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  return { calls: latencies.length, errors, seconds, rate: latencies.length / seconds, p50: percentile(latencies, 50), p99: percentile(latencies, 99) };
}

// ---------------------------------------------------------------------------------------------------
// Main
// ---------------------------------------------------------------------------------------------------

const seconds = Number(argument("--seconds") ?? "5");
const warmup = Number(argument("--warmup") ?? "1");
const levels = (argument("--concurrency") ?? "1,16").split(",").map(Number);
const kzBinary = resolve(argument("--kz") ?? "dist/kz");

const dir = mkdtempSync(join(tmpdir(), "kz-bench-mcp-"));
const children: Bun.Subprocess[] = [];
try {
  makeCertificates(dir);
  const caPem = readFileSync(join(dir, "ca.pem"), "utf8");
  const upstream = await spawnUntil([process.execPath, import.meta.path, "--upstream", dir], { cwd: dir }, "stdout", /\{"port":(\d+)\}/);
  children.push(upstream.proc);
  const upstreamPort = Number(upstream.match[1]);

  const { privateKey, publicKey } = await generateKeyPair("ES256");
  writeFileSync(join(dir, "jwks.json"), JSON.stringify({ keys: [{ ...(await exportJWK(publicKey)), kid: "bench", alg: "ES256", use: "sig" }] }));
  writeFileSync(
    join(dir, "bundle.yaml"),
    `issuers:
- name: bench
  issuer: ${ISSUER}
  audience: keyzero
  jwks_file: ./jwks.json
  algorithms: [ES256]
providers:
  env: {}
secrets:
  API_KEY: { provider: env, ref: KZ_BENCH_API_KEY, hosts: [${HOST}] }
fetch:
  upstream_ca: ./ca.pem
  resolve: { "${HOST}:443": "127.0.0.1:${upstreamPort}" }
  allow_private: true
audit: { path: ./audit.jsonl }
policies:
- match: "**"
  rules:
  - cel: "identity.service == 'bench-agent'"
    effect: allow
`,
  );
  const kz = await spawnUntil([kzBinary, "server", "start", "--bundle", join(dir, "bundle.yaml"), "--mcp", "--listen", "127.0.0.1:0"], { cwd: dir, env: { KZ_BENCH_API_KEY: VALUE, HOME: dir } }, "stderr", /listening on (\S+)/);
  children.push(kz.proc);
  const mcpUrl = `${kz.match[1]}/mcp`;

  const now = Math.floor(Date.now() / 1000);
  const jwt = await new SignJWT({ iss: ISSUER, aud: "keyzero", sub: "bench", service: "bench-agent", iat: now, exp: now + 3600 })
    .setProtectedHeader({ alg: "ES256", kid: "bench", typ: "JWT" })
    .sign(privateKey);
  const mcpHeaders = { "Content-Type": "application/json", Accept: "application/json, text/event-stream", Authorization: `Bearer ${jwt}`, "MCP-Protocol-Version": "2025-11-25" };
  let id = 0;
  const viaKz = async () => {
    const body = JSON.stringify({ jsonrpc: "2.0", id: ++id, method: "tools/call", params: { name: "fetch", arguments: { url: `https://${HOST}/echo`, secret: "API_KEY" } } });
    const response = await fetch(mcpUrl, { method: "POST", headers: mcpHeaders, body });
    const answer = (await response.json()) as { result?: { isError?: boolean; structuredContent?: { status: number; body: string } } };
    const result = answer.result;
    if (!result || result.isError || result.structuredContent?.status !== 200) return false;
    if (result.structuredContent.body.includes(VALUE)) throw new Error("the value came back unmasked");
    return true;
  };
  const direct = async () => {
    const response = await fetch(`https://127.0.0.1:${upstreamPort}/echo`, { headers: { Authorization: `Bearer ${VALUE}`, Host: HOST }, tls: { ca: caPem } });
    await response.text();
    return response.status === 200;
  };
  if (!(await viaKz())) throw new Error("a fetch through kz failed; see the server log");

  const rows: { concurrency: number; direct: Result; kz: Result }[] = [];
  for (const concurrency of levels) {
    await load(direct, concurrency, warmup * 1000);
    const d = await load(direct, concurrency, seconds * 1000);
    await load(viaKz, concurrency, warmup * 1000);
    const k = await load(viaKz, concurrency, seconds * 1000);
    rows.push({ concurrency, direct: d, kz: k });
  }

  const f = (n: number, digits = 2) => n.toFixed(digits);
  console.log(`MCP fetch benchmark — ${cpus().length} CPUs (${cpus()[0]?.model ?? "?"}), load ${loadavg().map((l) => l.toFixed(2)).join(" ")}, ${seconds}s per run`);
  console.log("| concurrency | path | calls/s | p50 ms | p99 ms | errors |");
  console.log("|---|---|---|---|---|---|");
  for (const row of rows) {
    for (const [name, r] of [["direct (keep-alive)", row.direct], ["kz MCP fetch", row.kz]] as const) {
      console.log(`| ${row.concurrency} | ${name} | ${f(r.rate, 0)} | ${f(r.p50)} | ${f(r.p99)} | ${r.errors} |`);
    }
  }
  for (const row of rows) console.log(`c=${row.concurrency}: kz adds ${f(row.kz.p50 - row.direct.p50)} ms at p50 (target < 2 ms)`);
} finally {
  for (const child of children) child.kill();
  await Promise.all(children.map((c) => c.exited));
  rmSync(dir, { recursive: true, force: true });
}
