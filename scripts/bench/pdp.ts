// Policy-decision benchmark: decisions per second and p50/p99 latency of `kz server start`'s POST
// /v1/decide (ES256 JWT verified, CEL policies, a hash-chained audit record per decision) side by side in
// one run with Cerbos deciding the equivalent policy via POST /api/check/resources. Both are driven by
// the same load generator (wrk, with a Lua script for the method, headers and body), at each
// concurrency: a warm-up run, then a measured run.
//   bun scripts/bench/pdp.ts [--seconds 10] [--warmup 3] [--concurrency 1,16] [--rounds 1] [--kz dist/kz] [--only kz]
// Sixteen simulated agents, each with its own token (half the pipeline agent, allowed; half the support
// agent, denied); requests rotate through them. A second kz row sends a token the server has not seen
// recently on every request (a pool larger than kz's cache of verified tokens), so every request pays
// the full ES256 verification. With --rounds N, each cell is the median of N rounds. Everything listens
// on 127.0.0.1; kz's audit log, the keys, bundle, Cerbos config and policies live in a temp dir that is
// removed at the end, with every process started here. Needs dist/kz (`npm run build`) and wrk
// (`apt-get install -y wrk`; installed here when missing and running as root); Cerbos (npm
// @cerbos/cerbos-linux-x64) is installed once into ~/.cache/kz-bench/cerbos, outside package.json.
// `--kz` may be any executable taking kz's arguments (e.g. a wrapper running src/main.ts under
// `bun --cpu-prof`); `--only kz` skips Cerbos, for profiling runs.

import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { cpus, homedir, loadavg, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey } from "jose";
import { DEFAULT_VERIFY_CACHE } from "../../src/identity/verify-cache.ts";

const CERBOS_PACKAGE = "@cerbos/cerbos-linux-x64";
const CERBOS_VERSION = "0.55.0";
const ISSUER = "https://idp.bench.test";
const AUDIENCE = "keyzero";
const AGENTS = 16;
/** Enough distinct tokens that, cycled through, each one has left kz's verify cache before it comes back. */
const COLD_TOKENS = DEFAULT_VERIFY_CACHE.maxEntries + 1024;
const SECRET = "DB_PROD";
const REF = "secret/prod/db";

type TargetName = "kz" | "kz-cold" | "Cerbos";

interface Target {
  name: TargetName;
  url: string;
  path: string;
  pid: number;
  /** One request per simulated agent, in rotation order. */
  requests: { headers: Record<string, string>; body: string }[];
}

interface LoadResult {
  requests: number;
  errors: number;
  seconds: number;
  rps: number;
  p50: number;
  p99: number;
  /** CPU use over the measured run, % of one core: the server, and wrk. */
  cpu: { server: number; wrk: number };
}

// ---------------------------------------------------------------------------------------------------
// Small helpers
// ---------------------------------------------------------------------------------------------------

function argument(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

function runQuiet(cmd: string[]): { ok: boolean; out: string } {
  const r = Bun.spawnSync(cmd, { stdout: "pipe", stderr: "pipe" });
  return { ok: r.exitCode === 0, out: `${r.stdout.toString()}${r.stderr.toString()}`.trim() };
}

async function freePort(): Promise<number> {
  const listener = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const port = listener.port;
  listener.stop(true);
  return port;
}

/** utime + stime of a process from /proc, in clock ticks (1/100 s on Linux). */
function procTicks(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return Number(fields[11]) + Number(fields[12]);
}

/** Every thread of a Go or Bun server is in its /proc/PID/stat totals; children are not (there are none). */
function cpuShare(ticks: number, seconds: number): number {
  return (ticks / 100 / seconds) * 100;
}

// ---------------------------------------------------------------------------------------------------
// Tools: wrk and Cerbos
// ---------------------------------------------------------------------------------------------------

function ensureWrk(): string {
  const found = Bun.which("wrk");
  if (found) return found;
  if (process.getuid?.() !== 0 || !Bun.which("apt-get")) {
    throw new Error("wrk is missing: install it (Debian/Ubuntu: apt-get install -y wrk)");
  }
  console.error("pdp bench: installing wrk (apt-get install -y wrk)…");
  runQuiet(["apt-get", "update", "-qq"]);
  const install = runQuiet(["apt-get", "install", "-y", "-qq", "wrk"]);
  const wrk = Bun.which("wrk");
  if (!install.ok || !wrk) throw new Error(`could not install wrk: ${install.out.split("\n").slice(-3).join(" ")}`);
  return wrk;
}

function ensureCerbos(): string {
  const cache = join(process.env.XDG_CACHE_HOME || join(homedir(), ".cache"), "kz-bench", "cerbos");
  const pkg = join(cache, "node_modules", CERBOS_PACKAGE);
  const binary = join(pkg, "cerbos-linux-x64");
  const installed = existsSync(join(pkg, "package.json")) ? (JSON.parse(readFileSync(join(pkg, "package.json"), "utf8")).version as string) : undefined;
  if (installed !== CERBOS_VERSION || !existsSync(binary)) {
    console.error(`pdp bench: installing ${CERBOS_PACKAGE}@${CERBOS_VERSION} into ${cache}…`);
    mkdirSync(cache, { recursive: true });
    const install = runQuiet(["npm", "install", "--prefix", cache, "--no-audit", "--no-fund", "--no-save", `${CERBOS_PACKAGE}@${CERBOS_VERSION}`]);
    if (!install.ok || !existsSync(binary)) throw new Error(`could not install ${CERBOS_PACKAGE}: ${install.out.split("\n").slice(-3).join(" ")}`);
  }
  return binary;
}

// ---------------------------------------------------------------------------------------------------
// The two servers
// ---------------------------------------------------------------------------------------------------

/** Starts `kz server start` on an ephemeral port; resolves with its URL once it logs "listening on". */
async function startKz(kz: string, dir: string, env: Record<string, string>): Promise<{ proc: Bun.Subprocess<"ignore", "ignore", "pipe">; url: string }> {
  const proc = Bun.spawn([kz, "server", "start", "--bundle", join(dir, "bundle.yaml"), "--listen", "127.0.0.1:0"], {
    cwd: dir,
    env,
    stdin: "ignore",
    stdout: "ignore",
    stderr: "pipe",
  });
  const decoder = new TextDecoder();
  let log = "";
  const reader = (proc.stderr as ReadableStream<Uint8Array>).getReader();
  while (true) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`kz server exited before listening:\n${log}`);
    log += decoder.decode(value, { stream: true });
    const m = /listening on (http:\/\/\S+)/.exec(log);
    if (m) {
      // Keep draining stderr (rule errors would be logged there) so the pipe never fills.
      void (async () => {
        while (!(await reader.read()).done);
      })();
      return { proc, url: m[1]! };
    }
  }
}

/** The policy both servers decide: the seed's production-database policy. */
const CERBOS_POLICY = `apiVersion: api.cerbos.dev/v1
resourcePolicy:
  version: default
  resource: secret
  rules:
    - actions: ["resolve"]
      effect: EFFECT_ALLOW
      roles: ["*"]
      condition:
        match:
          all:
            of:
              - expr: request.resource.attr.ref.startsWith("secret/prod/")
              - expr: request.principal.attr.service == "data-pipeline-agent"
    - actions: ["resolve"]
      effect: EFFECT_DENY
      roles: ["*"]
      condition:
        match:
          all:
            of:
              - expr: request.resource.attr.ref.startsWith("secret/prod/")
              - expr: request.principal.attr.service == "support-agent"
`;

async function startCerbos(binary: string, dir: string): Promise<{ proc: Bun.Subprocess<"ignore", "ignore", "pipe">; url: string }> {
  const policies = join(dir, "cerbos-policies");
  mkdirSync(policies, { recursive: true });
  writeFileSync(join(policies, "secret.yaml"), CERBOS_POLICY);
  const httpPort = await freePort();
  const grpcPort = await freePort();
  const config = join(dir, "cerbos.yaml");
  writeFileSync(
    config,
    `server:
  httpListenAddr: "127.0.0.1:${httpPort}"
  grpcListenAddr: "127.0.0.1:${grpcPort}"
storage:
  driver: disk
  disk:
    directory: ${JSON.stringify(policies)}
    watchForChanges: false
telemetry:
  disabled: true
`,
  );
  const proc = Bun.spawn([binary, "server", "--config", config, "--log-level", "warn"], {
    cwd: dir,
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: dir, CERBOS_NO_TELEMETRY: "1" },
    stdin: "ignore",
    stdout: "ignore",
    stderr: "pipe",
  });
  let log = "";
  void (async () => {
    for await (const chunk of proc.stderr as unknown as AsyncIterable<Uint8Array>) log = (log + new TextDecoder().decode(chunk)).slice(-4000);
  })();
  const url = `http://127.0.0.1:${httpPort}`;
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if (proc.exitCode !== null) throw new Error(`cerbos exited early (code ${proc.exitCode}):\n${log}`);
    const healthy = await fetch(`${url}/_cerbos/health`).then(
      (r) => r.ok,
      () => false,
    );
    if (healthy) return { proc, url };
    await Bun.sleep(50);
  }
  throw new Error(`cerbos did not become healthy on ${url} within 30 s:\n${log}`);
}

// ---------------------------------------------------------------------------------------------------
// Requests
// ---------------------------------------------------------------------------------------------------

function agentService(i: number): string {
  return i % 2 === 0 ? "data-pipeline-agent" : "support-agent";
}

interface Signer {
  sign(i: number, now: number): Promise<string>;
}

/** Writes the JWKS and bundle into `dir`; returns a signer of agent tokens for the bundle's issuer. */
async function writeKzBundle(dir: string): Promise<Signer> {
  const { privateKey, publicKey } = await generateKeyPair("ES256");
  const kid = "bench-es256";
  writeFileSync(join(dir, "jwks.json"), JSON.stringify({ keys: [{ ...(await exportJWK(publicKey)), kid, alg: "ES256", use: "sig" }] }));
  writeFileSync(
    join(dir, "bundle.yaml"),
    `issuers:
- name: bench
  issuer: ${ISSUER}
  audience: ${AUDIENCE}
  jwks_file: ./jwks.json
  algorithms: [ES256]
providers:
  env: {}
secrets:
  ${SECRET}: { provider: env, ref: ${REF} }
  ZENDESK_KEY: { provider: env, ref: secret/support/zendesk }
audit: { path: ./audit/audit.jsonl }
policies:
- match: "secret/prod/**"
  rules:
  - cel: "identity.service == 'data-pipeline-agent'"
    effect: allow
  - cel: "identity.service == 'support-agent'"
    effect: deny
- match: "secret/support/*"
  rules:
  - cel: "identity.service == 'support-agent'"
    effect: allow
`,
  );
  return { sign: (i, now) => agentToken(privateKey as CryptoKey, kid, i, now) };
}

/** Agent i's token: what an identity provider issues (sub, service and env claims, a jti, one hour). */
function agentToken(key: CryptoKey, kid: string, i: number, now: number): Promise<string> {
  const claims = { iss: ISSUER, aud: AUDIENCE, sub: `agent-${i % AGENTS}`, service: agentService(i), env: "prod", iat: now, exp: now + 3600, jti: `bench-${i}-${crypto.randomUUID()}` };
  return new SignJWT(claims).setProtectedHeader({ alg: "ES256", kid, typ: "JWT" }).sign(key);
}

async function signMany(signer: Signer, count: number): Promise<string[]> {
  const now = Math.floor(Date.now() / 1000);
  const tokens: string[] = [];
  for (let i = 0; i < count; i += 256) {
    tokens.push(...(await Promise.all(Array.from({ length: Math.min(256, count - i) }, (_, j) => signer.sign(i + j, now)))));
  }
  return tokens;
}

function kzRequests(tokens: string[]): Target["requests"] {
  return tokens.map((token) => ({
    headers: { "Content-Type": "application/json", Authorization: `Bearer ${token}` },
    body: JSON.stringify({ secret: SECRET, action: "resolve" }),
  }));
}

function cerbosRequests(): Target["requests"] {
  return Array.from({ length: AGENTS }, (_, i) => ({
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({
      requestId: `bench-${i}`,
      principal: { id: `agent-${i}`, roles: ["agent"], attr: { service: agentService(i), env: "prod" } },
      resources: [{ actions: ["resolve"], resource: { kind: "secret", id: SECRET, attr: { ref: REF } } }],
    }),
  }));
}

/** One request per agent kind, checked: the pipeline agent allowed, the support agent denied. */
async function checkDecisions(target: Target): Promise<void> {
  for (const i of [0, 1]) {
    const { headers, body } = target.requests[i]!;
    const response = await fetch(`${target.url}${target.path}`, { method: "POST", headers, body });
    const json = (await response.json()) as Record<string, any>;
    const allowed = target.name === "Cerbos" ? json.results?.[0]?.actions?.resolve === "EFFECT_ALLOW" : json.allow === true;
    if (response.status !== 200 || allowed !== (i === 0)) {
      throw new Error(`${target.name}: ${agentService(i)} should be ${i === 0 ? "allowed" : "denied"}; got HTTP ${response.status} ${JSON.stringify(json)}`);
    }
  }
}

// ---------------------------------------------------------------------------------------------------
// Load generation (wrk)
// ---------------------------------------------------------------------------------------------------

function luaString(text: string): string {
  return JSON.stringify(text); // JSON string escapes are valid Lua for this ASCII content
}

/** A wrk script: rotate through the prepared requests; print one JSON line of results at the end. */
function wrkScript(requests: Target["requests"]): string {
  const entries = requests
    .map(({ headers, body }) => {
      const h = Object.entries(headers)
        .map(([k, v]) => `[${luaString(k)}] = ${luaString(v)}`)
        .join(", ");
      return `  { headers = { ${h} }, body = ${luaString(body)} }`;
    })
    .join(",\n");
  return `local specs = {
${entries}
}
local prepared = {}
local next_index = 0
init = function(args)
  for i, s in ipairs(specs) do prepared[i] = wrk.format("POST", nil, s.headers, s.body) end
  next_index = math.random(#prepared) - 1
end
request = function()
  next_index = next_index % #prepared + 1
  return prepared[next_index]
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('BENCH {"requests":%d,"duration_us":%d,"errors":%d,"p50_us":%d,"p99_us":%d}\\n',
    summary.requests, summary.duration, e.connect + e.read + e.write + e.status + e.timeout,
    latency:percentile(50), latency:percentile(99)))
end
`;
}

async function runWrk(wrk: string, target: Target, script: string, concurrency: number, seconds: number): Promise<LoadResult> {
  const cmd = [wrk, "-t", "1", "-c", String(concurrency), "-d", `${seconds}s`, "--timeout", "5s", "-s", script, `${target.url}${target.path}`];
  const serverBefore = procTicks(target.pid);
  const started = performance.now();
  const proc = Bun.spawn(cmd, { stdout: "pipe", stderr: "pipe" });
  // wrk's own CPU, sampled just before it exits (it is our child until reaped).
  let wrkTicks = 0;
  const sampler = setInterval(() => {
    try {
      wrkTicks = procTicks(proc.pid);
    } catch {}
  }, 200);
  const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  clearInterval(sampler);
  const wall = (performance.now() - started) / 1000;
  const serverTicks = procTicks(target.pid) - serverBefore;
  const line = out.split("\n").find((l) => l.startsWith("BENCH "));
  if (code !== 0 || !line) throw new Error(`wrk failed (exit ${code}): ${err.trim() || out.trim()}`);
  const r = JSON.parse(line.slice(6)) as { requests: number; duration_us: number; errors: number; p50_us: number; p99_us: number };
  const measured = r.duration_us / 1e6;
  return {
    requests: r.requests,
    errors: r.errors,
    seconds: measured,
    rps: r.requests / measured,
    p50: r.p50_us / 1000,
    p99: r.p99_us / 1000,
    cpu: { server: cpuShare(serverTicks, wall), wrk: cpuShare(wrkTicks, wall) },
  };
}

// ---------------------------------------------------------------------------------------------------
// Orchestrator
// ---------------------------------------------------------------------------------------------------

function version(cmd: string[]): string {
  const r = runQuiet(cmd);
  return r.ok ? (r.out.split("\n")[0] ?? "?") : "?";
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** Each metric's median over the rounds. */
function medianResult(rounds: LoadResult[]): LoadResult {
  const m = (pick: (r: LoadResult) => number) => median(rounds.map(pick));
  return {
    requests: m((r) => r.requests),
    errors: m((r) => r.errors),
    seconds: m((r) => r.seconds),
    rps: m((r) => r.rps),
    p50: m((r) => r.p50),
    p99: m((r) => r.p99),
    cpu: { server: m((r) => r.cpu.server), wrk: m((r) => r.cpu.wrk) },
  };
}

function cells(r: LoadResult | undefined): string[] {
  return r ? [r.rps.toFixed(0), `${r.p50.toFixed(2)} ms`, `${r.p99.toFixed(2)} ms`] : ["–", "–", "–"];
}

function printTables(results: Map<string, LoadResult>, levels: number[]): void {
  const get = (name: TargetName, c: number) => results.get(`${name}@${c}`);
  console.log("| concurrency | kz req/s | kz p50 | kz p99 | Cerbos req/s | Cerbos p50 | Cerbos p99 | kz / Cerbos |");
  console.log("|---:|---:|---:|---:|---:|---:|---:|---:|");
  for (const c of levels) {
    const k = get("kz", c);
    const b = get("Cerbos", c);
    console.log(`| ${c} | ${[...cells(k), ...cells(b), k && b ? `${(k.rps / b.rps).toFixed(2)}×` : "–"].join(" | ")} |`);
  }
  console.log(`\nkz with a token it has not verified recently on every request (${COLD_TOKENS} tokens in rotation, each a full ES256 verification):\n`);
  console.log("| concurrency | req/s | p50 | p99 | kz / Cerbos |");
  console.log("|---:|---:|---:|---:|---:|");
  for (const c of levels) {
    const k = get("kz-cold", c);
    const b = get("Cerbos", c);
    console.log(`| ${c} | ${[...cells(k), k && b ? `${(k.rps / b.rps).toFixed(2)}×` : "–"].join(" | ")} |`);
  }
  const cpu = levels.map((c) => {
    const here = [...results.entries()].filter(([key]) => key.endsWith(`@${c}`));
    const servers = here.map(([key, r]) => `${key.split("@")[0]} ${r.cpu.server.toFixed(0)}%`);
    return `c=${c}: ${servers.join(", ")}, wrk ≤ ${Math.max(...here.map(([, r]) => r.cpu.wrk)).toFixed(0)}%`;
  });
  console.log(`\nCPU during the measured runs (% of one core): ${cpu.join("; ")}`);
}

function parseOptions() {
  const seconds = Number(argument("--seconds") ?? 10);
  const warmup = Number(argument("--warmup") ?? 3);
  const rounds = Number(argument("--rounds") ?? 1);
  const levels = (argument("--concurrency") ?? "1,16").split(",").map(Number);
  const only = argument("--only");
  const kz = resolve(argument("--kz") ?? resolve(import.meta.dir, "../../dist/kz"));
  const valid =
    seconds > 0 && warmup >= 0 && Number.isInteger(rounds) && rounds >= 1 && levels.every((c) => Number.isInteger(c) && c >= 1) && (only === undefined || only === "kz");
  if (!valid) throw new Error("usage: bun scripts/bench/pdp.ts [--seconds N] [--warmup N] [--concurrency 1,16] [--rounds N] [--kz PATH] [--only kz]");
  if (!existsSync(kz)) throw new Error(`${kz} is missing — run \`npm run build\` first`);
  return { seconds, warmup, rounds, levels, withCerbos: only !== "kz", kz };
}

async function main(): Promise<void> {
  const { seconds, warmup, rounds, levels, withCerbos, kz } = parseOptions();
  const wrk = ensureWrk();
  const cerbosBinary = withCerbos ? ensureCerbos() : undefined;

  const dir = mkdtempSync(join(tmpdir(), "kz-bench-pdp-"));
  const procs: Bun.Subprocess[] = [];
  const onSignal = () => {
    for (const p of procs) p.kill();
    rmSync(dir, { recursive: true, force: true });
    process.exit(130);
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);

  try {
    const loadBefore = loadavg()[0]!;
    const signer = await writeKzBundle(dir);
    const [agentTokens, coldTokens] = [await signMany(signer, AGENTS), await signMany(signer, COLD_TOKENS)];
    const kzServer = await startKz(kz, dir, { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: dir, NO_COLOR: "1", [REF]: "fake-bench-db-password-000" });
    procs.push(kzServer.proc);
    const kzTarget = { url: kzServer.url, path: "/v1/decide", pid: kzServer.proc.pid };
    const targets: Target[] = [
      { name: "kz", ...kzTarget, requests: kzRequests(agentTokens) },
      { name: "kz-cold", ...kzTarget, requests: kzRequests(coldTokens) },
    ];
    if (cerbosBinary) {
      const cerbos = await startCerbos(cerbosBinary, dir);
      procs.push(cerbos.proc);
      targets.push({ name: "Cerbos", url: cerbos.url, path: "/api/check/resources", pid: cerbos.proc.pid, requests: cerbosRequests() });
    }
    const scripts = new Map<TargetName, string>();
    for (const target of targets) {
      await checkDecisions(target);
      scripts.set(target.name, join(dir, `${target.name}.lua`));
      writeFileSync(scripts.get(target.name)!, wrkScript(target.requests));
    }

    const runs = new Map<string, LoadResult[]>();
    for (let round = 1; round <= rounds; round++) {
      for (const c of levels) {
        for (const target of targets) {
          const script = scripts.get(target.name)!;
          if (warmup > 0) await runWrk(wrk, target, script, c, warmup);
          const r = await runWrk(wrk, target, script, c, seconds);
          if (r.errors > 0) throw new Error(`${target.name} at c=${c}: ${r.errors} failed requests out of ${r.requests}`);
          runs.set(`${target.name}@${c}`, [...(runs.get(`${target.name}@${c}`) ?? []), r]);
          console.error(
            `  ${rounds > 1 ? `round ${round} ` : ""}${target.name.padEnd(7)} c=${String(c).padEnd(3)} ${r.rps.toFixed(0).padStart(6)} req/s  p50 ${r.p50.toFixed(2)} ms  p99 ${r.p99.toFixed(2)} ms  (server CPU ${r.cpu.server.toFixed(0)}%, wrk CPU ${r.cpu.wrk.toFixed(0)}%)`,
          );
        }
      }
    }
    const results = new Map([...runs].map(([key, list]) => [key, medianResult(list)] as const));

    const auditRecords = readFileSync(join(dir, "audit", "audit.jsonl"), "utf8").split("\n").length - 1;
    const cpu = cpus();
    console.log(`\nPolicy decisions: ${version([kz, "--version"])} POST /v1/decide (ES256 JWT verified, CEL, hash-chained audit record per decision)`);
    if (cerbosBinary) console.log(`vs Cerbos ${CERBOS_VERSION} POST /api/check/resources (the same rules as CEL conditions; principal attributes in the body, no JWT, no audit log)`);
    console.log(`${AGENTS} agents with a token each (half allowed, half denied); wrk, 1 thread; ${warmup} s warm-up + ${seconds} s measured per cell${rounds > 1 ? `, median of ${rounds} rounds` : ""}`);
    console.log(`${cpu.length} × ${cpu[0]?.model ?? "cpu"}; load average ${loadBefore.toFixed(2)} before, ${loadavg()[0]!.toFixed(2)} after; kz wrote ${auditRecords} audit records (to a temp dir)\n`);
    printTables(results, levels);
  } finally {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
    for (const p of procs) p.kill();
    await Promise.all(procs.map((p) => p.exited));
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
