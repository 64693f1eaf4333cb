// Blind-mode proxy benchmark: small HTTPS GETs over keep-alive connections to a local HTTPS upstream,
// side by side in one run — direct; through `kz run --blind` (the compiled dist/kz with the load
// generator as its child, exactly as a user runs it, so kz's proxy has its own process), to a host a
// secret is bound to (intercepted: TLS terminated, token swapped) and to one no secret is bound to (an
// untouched tunnel: the price of the extra hop alone); and through mitmproxy (mitmdump with a
// one-line addon doing the same Authorization swap). Reports req/s and p50/p99 latency per
// concurrency, the cost of a new host's first connection through kz, CPU per process (2-core machines
// are CPU-bound), and a Markdown table for README.
//   bun scripts/bench/proxy.ts [--seconds 6] [--concurrency 1,16] [--kz dist/kz] [--client fetch|raw]
//                              [--modes direct,kz,kz-tunnel,mitmproxy]
// The load generator is Bun's fetch (what a Bun agent uses), or with --client raw a minimal HTTP/1.1
// client on Bun sockets that costs a few µs per request and the same in every mode, so that the
// client is not what limits the direct case. --modes runs a subset (for profiling; the comparison
// needs all). The same file is the load generator: `proxy.ts --client-run '<json>'` runs in a child
// process and prints one JSON line. Everything listens on 127.0.0.1; every process and temp file is
// removed at the end. Needs dist/kz (`npm run build`), openssl, and for the peer rows mitmdump
// (`apt-get install -y mitmproxy`).

import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { join, resolve } from "node:path";

// ---------------------------------------------------------------------------------------------------
// Shared shapes
// ---------------------------------------------------------------------------------------------------

interface ClientSpec {
  /** The throughput target, e.g. https://api.bench.test/ or https://127.0.0.1:PORT/. */
  url: string;
  /** Proxy URL, "env" for $HTTPS_PROXY (kz sets it), or absent for direct. */
  proxy?: string;
  /** PEM file the client trusts for the target's TLS, or "env" for $NODE_EXTRA_CA_CERTS (kz's CA). */
  caFile: string;
  /** The bearer token the client sends: a literal, or the name of an env variable (kz's token). */
  token: { literal: string } | { env: string };
  concurrency: number;
  warmupMs: number;
  measureMs: number;
  maxRequests: number;
  /** Processes whose CPU time is sampled over the measuring window ("parent": kz, the client's parent). */
  pids: { upstream: number; proxy?: number | "parent" };
  /** Instead of throughput: time the first, a later and a new-connection request to each URL (the first URL is a warm-up). */
  firstConnection?: { urls: string[] };
  /** "fetch": Bun's fetch; "raw": RawConnection below. */
  client: ClientKind;
}

type ClientKind = "fetch" | "raw";

interface LoadResult {
  requests: number;
  errors: number;
  seconds: number;
  rps: number;
  p50: number;
  p99: number;
  /** CPU use over the measuring window, in % of one core. */
  cpu: { client: number; upstream: number; proxy: number | null };
}

/** Medians over the URLs, ms. */
interface FirstConnectionResult {
  /** The first request to the URL's host (through kz: new CONNECT, upstream TCP+TLS, leaf signed, client TLS). */
  fresh: number;
  /** A later request on the open connection. */
  later: number;
  /** A request on a new connection to a host already seen (through kz: its leaf is cached). */
  again: number;
  hosts: number;
}

const CLIENT_FLAG = "--client-run";
const BENCH_DOMAIN = "bench.test";
const THROUGHPUT_HOST = `api.${BENCH_DOMAIN}`;
/** Bound to no secret: kz tunnels it untouched, and the token arrives there inert. */
const TUNNEL_HOST = "api.unbound.test";
const FRESH_HOSTS = 21; // h0 is a warm-up
const REAL_VALUE = "fake-bench-real-api-key-0000000000000001";
const MITM_TOKEN = "fake-bench-mitm-token-000000000000000001";

// ---------------------------------------------------------------------------------------------------
// Load generator (child process)
// ---------------------------------------------------------------------------------------------------

async function runClient(spec: ClientSpec): Promise<void> {
  // A hard stop: the loops are bounded by time and count, this only guards against a hung connection.
  setTimeout(() => process.exit(3), spec.warmupMs + spec.measureMs + 30_000).unref();
  const ca = readFileSync(spec.caFile === "env" ? process.env.NODE_EXTRA_CA_CERTS! : spec.caFile, "utf8");
  const proxy = spec.proxy === "env" ? process.env.HTTPS_PROXY : spec.proxy;
  const token = "literal" in spec.token ? spec.token.literal : process.env[spec.token.env];
  if (!token) throw new Error("client: no token");
  const init = { headers: { authorization: `Bearer ${token}` }, proxy, tls: { ca } };

  if (spec.firstConnection) {
    console.log(JSON.stringify(await timeFirstConnections(spec.firstConnection.urls, init)));
    return;
  }

  const proxyPid = spec.pids.proxy === "parent" ? process.ppid : spec.pids.proxy;
  const startAt = performance.now();
  const measureAt = startAt + spec.warmupMs;
  const endAt = measureAt + spec.measureMs;
  const latencies: number[] = [];
  let errors = 0;
  let lastEnd = measureAt;
  let cpuStart: ReturnType<typeof sampleCpu> | null = null;
  const sample = () => sampleCpu(spec.pids.upstream, proxyPid);
  const startSampling = setTimeout(() => (cpuStart = sample()), spec.warmupMs);

  // One worker = one request in flight at a time = one keep-alive connection (fetch's pool, or its own).
  const worker = async () => {
    let raw: RawConnection | null = null;
    for (let issued = 0; issued < spec.maxRequests; issued++) {
      const t0 = performance.now();
      if (t0 >= endAt) break;
      let ok = false;
      try {
        if (spec.client === "raw") {
          raw ??= await RawConnection.open(new URL(spec.url), proxy, ca, token);
          ok = (await raw.get()) === 200;
        } else {
          const response = await fetch(spec.url, init);
          await response.arrayBuffer();
          ok = response.status === 200;
        }
      } catch {
        ok = false;
        raw?.close();
        raw = null;
      }
      const t1 = performance.now();
      if (t0 < measureAt) continue;
      if (!ok) errors++;
      latencies.push(t1 - t0);
      if (t1 > lastEnd) lastEnd = t1;
    }
    raw?.close();
  };
  await Promise.all(Array.from({ length: spec.concurrency }, worker));
  clearTimeout(startSampling);
  const cpuEnd = sample();
  const seconds = (lastEnd - measureAt) / 1000;
  latencies.sort((a, b) => a - b);
  const cpu = cpuStart ? cpuPercent(cpuStart, cpuEnd) : { client: NaN, upstream: NaN, proxy: null };
  const result: LoadResult = {
    requests: latencies.length,
    errors,
    seconds,
    rps: latencies.length / seconds,
    p50: quantile(latencies, 0.5),
    p99: quantile(latencies, 0.99),
    cpu,
  };
  console.log(JSON.stringify(result));
}

/**
 * A minimal HTTP/1.1 keep-alive client on one Bun socket — TLS straight to the target, or CONNECT
 * through a proxy and TLS in place — for the raw load generator. It sends the same small GET every
 * time and reads responses framed by Content-Length (or chunked, read to the last chunk); anything
 * else is an error. Enough for a benchmark against a known server, and nowhere near a real client.
 */
class RawConnection {
  #socket: { write(data: Uint8Array): number; end(): void } | null = null;
  #pending: Buffer = Buffer.alloc(0);
  #waiter: { resolve: (status: number) => void; reject: (error: Error) => void } | null = null;
  readonly #request: Buffer;

  private constructor(url: URL, token: string) {
    this.#request = Buffer.from(`GET ${url.pathname}${url.search} HTTP/1.1\r\nHost: ${url.host}\r\nUser-Agent: kz-bench\r\n` +
      `Accept: */*\r\nAuthorization: Bearer ${token}\r\n\r\n`);
  }

  static async open(url: URL, proxy: string | undefined, ca: string, token: string): Promise<RawConnection> {
    const connection = new RawConnection(url, token);
    await connection.#connect(url, proxy, ca);
    return connection;
  }

  /** One request; resolves with the response status once its body is complete. */
  get(): Promise<number> {
    return new Promise((resolve, reject) => {
      this.#waiter = { resolve, reject };
      if (!this.#socket || this.#socket.write(this.#request) !== this.#request.length) this.#fail(new Error("raw client: write failed"));
    });
  }

  close(): void {
    this.#socket?.end();
    this.#socket = null;
  }

  #connect(url: URL, proxy: string | undefined, ca: string): Promise<void> {
    const port = Number(url.port || 443);
    const tls = { ca, serverName: url.hostname };
    return new Promise<void>((resolve, reject) => {
      const handlers = {
        open() {},
        handshake: (socket: { write(d: Uint8Array): number; end(): void }, verified: boolean, error: Error | null) => {
          if (!verified) return reject(error ?? new Error("raw client: TLS not verified"));
          this.#socket = socket;
          resolve();
        },
        data: (_socket: unknown, chunk: Buffer) => this.#received(chunk),
        close: () => this.#fail(new Error("raw client: connection closed")),
        error: (_socket: unknown, error: Error) => this.#fail(error),
        connectError: (_socket: unknown, error: Error) => reject(error),
      };
      if (!proxy) {
        Bun.connect({ hostname: url.hostname, port, tls, socket: handlers }).catch(reject);
        return;
      }
      const via = new URL(proxy);
      const auth = via.username
        ? `Proxy-Authorization: Basic ${Buffer.from(`${decodeURIComponent(via.username)}:${decodeURIComponent(via.password)}`).toString("base64")}\r\n`
        : "";
      let answer = "";
      let upgraded = false;
      Bun.connect({
        hostname: via.hostname,
        port: Number(via.port),
        socket: {
          open: (socket) => void socket.write(`CONNECT ${url.hostname}:${port} HTTP/1.1\r\nHost: ${url.hostname}:${port}\r\n${auth}\r\n`),
          data: (socket, chunk: Buffer) => {
            if (upgraded) return; // the ciphertext: the TLS socket reads it
            answer += chunk.toString("latin1");
            if (!answer.includes("\r\n\r\n")) return;
            if (!answer.startsWith("HTTP/1.1 200")) return reject(new Error(`raw client: CONNECT answered ${answer.split("\r\n")[0]}`));
            upgraded = true;
            socket.upgradeTLS({ tls, socket: handlers } as Parameters<typeof socket.upgradeTLS>[0]);
          },
          close: () => reject(new Error("raw client: proxy closed the connection")),
          error: (_socket, error) => reject(error),
          connectError: (_socket, error) => reject(error),
        },
      }).catch(reject);
    });
  }

  #received(chunk: Buffer): void {
    this.#pending = this.#pending.length === 0 ? chunk : Buffer.concat([this.#pending, chunk]);
    const end = this.#pending.indexOf("\r\n\r\n");
    if (end < 0 || !this.#waiter) return;
    const head = this.#pending.subarray(0, end).toString("latin1");
    const status = Number(head.slice(9, 12));
    const length = /\r\ncontent-length:[ \t]*(\d+)/i.exec(head);
    let bodyEnd: number;
    if (length) bodyEnd = end + 4 + Number(length[1]);
    else if (/\r\ntransfer-encoding:[ \t]*chunked/i.test(head)) {
      const last = this.#pending.indexOf("\r\n0\r\n\r\n", end + 2);
      bodyEnd = last < 0 ? Infinity : last + 7;
    } else return this.#fail(new Error("raw client: response without Content-Length"));
    if (this.#pending.length < bodyEnd) return;
    this.#pending = this.#pending.subarray(bodyEnd);
    const waiter = this.#waiter;
    this.#waiter = null;
    waiter.resolve(status);
  }

  #fail(error: Error): void {
    const waiter = this.#waiter;
    this.#waiter = null;
    this.#socket = null;
    waiter?.reject(error);
  }
}

async function timeFirstConnections(
  urls: string[],
  init: { headers: Record<string, string>; proxy?: string; tls: { ca: string } },
): Promise<FirstConnectionResult> {
  const timed = async (url: string, options: RequestInit & { proxy?: string; tls?: { ca: string } }) => {
    const t0 = performance.now();
    const response = await fetch(url, options);
    await response.arrayBuffer();
    if (response.status !== 200) throw new Error(`client: ${url} answered ${response.status}`);
    return performance.now() - t0;
  };
  const fresh: number[] = [];
  const later: number[] = [];
  const again: number[] = [];
  // Warm-up on the first URL: JIT in this client and in the proxy, first handshakes, fetch's first tunnel.
  for (let k = 0; k < 300; k++) await timed(urls[0]!, init);
  for (let k = 0; k < 5; k++) await timed(urls[0]!, { ...init, keepalive: false });
  for (const [i, url] of urls.entries()) {
    const first = await timed(url, init);
    const laters = [];
    for (let k = 0; k < 5; k++) laters.push(await timed(url, init)); // the same kept-alive connection
    const reconnect = await timed(url, { ...init, keepalive: false }); // a new connection (Connection: close)
    if (i === 0) continue; // the warm-up URL
    fresh.push(first);
    later.push(...laters);
    again.push(reconnect);
  }
  for (const list of [fresh, later, again]) list.sort((a, b) => a - b);
  return { fresh: quantile(fresh, 0.5), later: quantile(later, 0.5), again: quantile(again, 0.5), hosts: fresh.length };
}

function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * q))]!;
}

interface CpuSample {
  at: number;
  client: number; // µs
  upstream: number; // clock ticks
  proxy: number | null;
}

function sampleCpu(upstreamPid: number, proxyPid: number | undefined): CpuSample {
  const usage = process.cpuUsage();
  return {
    at: performance.now(),
    client: usage.user + usage.system,
    upstream: procTicks(upstreamPid) ?? NaN,
    proxy: proxyPid ? procTicks(proxyPid) : null,
  };
}

/** utime + stime of a process from /proc, in clock ticks (1/100 s on Linux). */
function procTicks(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return Number(fields[11]) + Number(fields[12]);
  } catch {
    return null;
  }
}

function cpuPercent(a: CpuSample, b: CpuSample): LoadResult["cpu"] {
  const wall = (b.at - a.at) / 1000;
  const ticks = (x: number | null, y: number | null) => (x === null || y === null ? null : ((y - x) / 100 / wall) * 100);
  return {
    client: ((b.client - a.client) / 1e6 / wall) * 100,
    upstream: ticks(a.upstream, b.upstream) ?? NaN,
    proxy: ticks(a.proxy, b.proxy),
  };
}

// ---------------------------------------------------------------------------------------------------
// Orchestrator
// ---------------------------------------------------------------------------------------------------

interface Upstream {
  port: number;
  caFile: string;
  caPem: string;
  stats: { requests: number; real: number; other: number; connections: Set<string> };
  reset(): void;
  stop(): void;
}

type Mode = "direct" | "kz" | "kz-tunnel" | "mitmproxy";
const MODES: Mode[] = ["direct", "kz", "kz-tunnel", "mitmproxy"];

interface Row {
  mode: Mode;
  concurrency: number;
  result: LoadResult;
  connections: number;
  realSeen: number;
  otherSeen: number;
}

function argument(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

function run(cmd: string[], cwd: string): void {
  const result = Bun.spawnSync(cmd, { cwd, stdout: "ignore", stderr: "pipe" });
  if (result.exitCode !== 0) throw new Error(`${cmd.slice(0, 2).join(" ")} failed: ${result.stderr.toString().trim()}`);
}

/** A test CA and a P-256 server certificate for the bench hostnames, 127.0.0.1 and localhost. */
function makeCertificates(dir: string, hostnames: string[]): void {
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];
  run(["openssl", "req", "-x509", ...ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=kz bench upstream CA",
    "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"], dir);
  run(["openssl", "req", ...ec, "-keyout", "server.key", "-out", "server.csr", "-subj", `/CN=${hostnames[0]}`], dir);
  const san = [...hostnames, "localhost"].map((h) => `DNS:${h}`).concat("IP:127.0.0.1").join(",");
  writeFileSync(join(dir, "ext.cnf"), `subjectAltName=${san}\nextendedKeyUsage=serverAuth\n`);
  run(["openssl", "x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
    "-out", "server.pem", "-days", "2", "-extfile", "ext.cnf"], dir);
}

/**
 * A lean HTTPS upstream in this process: answers "ok", and records only what the benchmark checks —
 * which connection carried each request, and whether its Authorization held the real value.
 */
function startUpstream(dir: string, hostnames: string[]): Upstream {
  makeCertificates(dir, hostnames);
  const expected = `Bearer ${REAL_VALUE}`;
  const stats = { requests: 0, real: 0, other: 0, connections: new Set<string>() };
  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    tls: { cert: readFileSync(join(dir, "server.pem"), "utf8"), key: readFileSync(join(dir, "server.key"), "utf8") },
    fetch(req, srv) {
      stats.requests++;
      if (req.headers.get("authorization") === expected) stats.real++;
      else stats.other++;
      stats.connections.add(String(srv.requestIP(req)?.port));
      return new Response("ok");
    },
  });
  return {
    port: server.port!,
    caFile: join(dir, "ca.pem"),
    caPem: readFileSync(join(dir, "ca.pem"), "utf8"),
    stats,
    reset() {
      stats.requests = stats.real = stats.other = 0;
      stats.connections.clear();
    },
    stop: () => server.stop(true),
  };
}

/** The client process running now, ended on Ctrl-C. */
let runningClient: Bun.Subprocess | null = null;

/** Runs the client (optionally under a wrapper such as `kz run --blind --`) and parses its JSON line. */
async function runClientProcess<T>(wrapper: string[], spec: ClientSpec, opts: { cwd: string; env: Record<string, string> }): Promise<T> {
  const cmd = [...wrapper, process.execPath, import.meta.path, CLIENT_FLAG, JSON.stringify(spec)];
  const proc = Bun.spawn(cmd, { cwd: opts.cwd, env: opts.env, stdout: "pipe", stderr: "pipe" });
  runningClient = proc;
  const limit = setTimeout(() => proc.kill(), spec.warmupMs + spec.measureMs + 60_000);
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  clearTimeout(limit);
  runningClient = null;
  const line = stdout.trim().split("\n").at(-1) ?? "";
  if (code !== 0 || !line.startsWith("{")) throw new Error(`client failed (exit ${code}): ${stderr.trim() || stdout.trim()}`);
  return JSON.parse(line) as T;
}

async function freePort(): Promise<number> {
  const listener = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const port = listener.port;
  listener.stop(true);
  return port;
}

async function waitForPort(port: number, proc: Bun.Subprocess, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (proc.exitCode !== null) throw new Error(`mitmdump exited early (code ${proc.exitCode})`);
    const open = await Bun.connect({ hostname: "127.0.0.1", port, socket: { data() {} } }).then(
      (socket) => (socket.end(), true),
      () => false,
    );
    if (open) return;
    await Bun.sleep(50);
  }
  throw new Error(`mitmdump did not listen on 127.0.0.1:${port} within ${timeoutMs} ms`);
}

/** mitmdump on 127.0.0.1 with an addon that swaps the token in Authorization for the real value. */
async function startMitmdump(dir: string, upstreamCaFile: string): Promise<{ port: number; caFile: string; proc: Bun.Subprocess }> {
  const confdir = join(dir, "mitmproxy");
  const addon = join(dir, "mitm-swap.py");
  writeFileSync(addon, `import os
T, R = os.environ["BENCH_TOKEN"], os.environ["BENCH_REAL"]
def request(flow): flow.request.headers["authorization"] = flow.request.headers.get("authorization", "").replace(T, R)
`);
  const port = await freePort();
  const proc = Bun.spawn(
    ["mitmdump", "-q", "--listen-host", "127.0.0.1", "--listen-port", String(port), "--set", `confdir=${confdir}`,
      "--set", `ssl_verify_upstream_trusted_ca=${upstreamCaFile}`, "-s", addon],
    { env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: dir, BENCH_TOKEN: MITM_TOKEN, BENCH_REAL: REAL_VALUE }, stdout: "ignore", stderr: "inherit" },
  );
  await waitForPort(port, proc, 20_000);
  return { port, caFile: join(confdir, "mitmproxy-ca-cert.pem"), proc };
}

/** Source files changed after dist/kz was built. */
function newerSources(srcDir: string, builtAt: number): string[] {
  return [...new Bun.Glob("**/*.ts").scanSync(srcDir)].filter((file) => statSync(join(srcDir, file)).mtimeMs > builtAt);
}

function version(cmd: string[]): string {
  try {
    const r = Bun.spawnSync(cmd, { stdout: "pipe", stderr: "pipe" });
    return r.stdout.toString().split("\n")[0]!.trim();
  } catch {
    return "?";
  }
}

async function runBenchmark(): Promise<void> {
  const loadAtStart = loadavg()[0]!;
  const seconds = Number(argument("--seconds")) || 6;
  const concurrencies = (argument("--concurrency") ?? "1,16").split(",").map(Number).filter((n) => n > 0);
  // All by default (the comparison is the point); a subset is for quick profiling runs.
  const modes = new Set((argument("--modes") ?? MODES.join(",")).split(",") as Mode[]);
  const unknownMode = [...modes].find((m) => !MODES.includes(m));
  if (unknownMode) throw new Error(`--modes: unknown mode ${unknownMode} (known: ${MODES.join(", ")})`);
  const client = (argument("--client") ?? "fetch") as ClientKind;
  if (client !== "fetch" && client !== "raw") throw new Error(`--client must be fetch or raw, not ${client}`);
  const warmupMs = Math.min(2000, Math.max(500, seconds * 250));
  const measureMs = seconds * 1000;
  const maxRequests = 5_000_000;
  const kz = resolve(argument("--kz") ?? resolve(import.meta.dir, "../../dist/kz"));
  if (!(await Bun.file(kz).exists())) throw new Error(`${kz} is missing — run \`npm run build\` first`);
  const stale = newerSources(resolve(import.meta.dir, "../../src"), statSync(kz).mtimeMs);
  if (stale.length > 0) console.error(`warning: ${kz} is older than ${stale.length} file(s) in src/ (e.g. ${stale[0]}) — run \`npm run build\` to measure them.`);
  const mitmdump = modes.has("mitmproxy") ? Bun.which("mitmdump") : null;
  if (!mitmdump && modes.has("mitmproxy")) {
    console.error("mitmdump not found: install the peer with `apt-get install -y mitmproxy` (Debian); the mitmproxy rows are skipped.");
  }

  const dir = mkdtempSync(join(tmpdir(), "kz-bench-proxy-"));
  const freshHosts = Array.from({ length: FRESH_HOSTS }, (_, i) => `h${i}.${BENCH_DOMAIN}`);
  let upstream: Upstream | undefined;
  let mitm: Awaited<ReturnType<typeof startMitmdump>> | undefined;
  const cleanup = () => {
    runningClient?.kill();
    mitm?.proc.kill();
    upstream?.stop();
    rmSync(dir, { recursive: true, force: true });
  };
  process.on("SIGINT", () => {
    cleanup();
    process.exit(130);
  });

  try {
    upstream = startUpstream(dir, [THROUGHPUT_HOST, TUNNEL_HOST, ...freshHosts]);
    const up = upstream;
    const pin = `127.0.0.1:${up.port}`;
    const resolveMap = [THROUGHPUT_HOST, TUNNEL_HOST, ...freshHosts].map((h) => `"${h}:443" = "${pin}"`).join(", ");
    writeFileSync(
      join(dir, ".keyzero.toml"),
      `[blind]\nupstream_ca = "${up.caFile}"\nresolve = { ${resolveMap} }\n\n[secrets]\nBENCH_API_KEY = { provider = "env", ref = "BENCH_REAL_KEY", hosts = ["*.${BENCH_DOMAIN}"] }\n`,
    );
    const kzEnv: Record<string, string> = {
      PATH: process.env.PATH ?? "/usr/bin:/bin",
      HOME: dir,
      XDG_DATA_HOME: join(dir, "data"),
      XDG_CONFIG_HOME: join(dir, "config"),
      XDG_STATE_HOME: join(dir, "state"),
      NO_COLOR: "1",
      BENCH_REAL_KEY: REAL_VALUE,
    };
    // Blind runs use approved bindings only.
    const allowed = Bun.spawnSync([kz, "allow"], { cwd: dir, env: kzEnv, stdout: "ignore", stderr: "pipe" });
    if (allowed.exitCode !== 0) throw new Error(`kz allow failed: ${allowed.stderr.toString().trim()}`);
    const plainEnv = { PATH: kzEnv.PATH!, HOME: dir };
    const directUrl = `https://127.0.0.1:${up.port}/`;
    const base = { warmupMs, measureMs, maxRequests, client };

    const rows: Row[] = [];
    const measure = async (mode: Row["mode"], concurrency: number, go: () => Promise<LoadResult>) => {
      up.reset();
      const result = await go();
      rows.push({ mode, concurrency, result, connections: up.stats.connections.size, realSeen: up.stats.real, otherSeen: up.stats.other });
      process.stderr.write(`  ${mode} c=${concurrency}: ${result.rps.toFixed(0)} req/s\n`);
    };

    process.stderr.write(`measuring ${seconds} s per case after ${warmupMs} ms warm-up…\n`);
    if (mitmdump) mitm = await startMitmdump(dir, up.caFile);
    // Cases compared with each other run back to back, so that drifting background load hits them alike.
    for (const c of concurrencies) {
      if (modes.has("direct")) await measure("direct", c, () =>
        runClientProcess<LoadResult>([], { ...base, url: directUrl, caFile: up.caFile, token: { literal: REAL_VALUE }, concurrency: c, pids: { upstream: process.pid } },
          { cwd: dir, env: plainEnv }),
      );
      if (modes.has("kz")) await measure("kz", c, () =>
        runClientProcess<LoadResult>([kz, "run", "--blind", "--no-sandbox", "--"], {
          ...base, url: `https://${THROUGHPUT_HOST}/`, proxy: "env", caFile: "env", token: { env: "BENCH_API_KEY" }, concurrency: c,
          pids: { upstream: process.pid, proxy: "parent" },
        }, { cwd: dir, env: kzEnv }),
      );
      // The same kz, to a host no secret is bound to: an untouched TCP tunnel, TLS end to end between
      // the client and the upstream. The token goes along and arrives inert.
      if (modes.has("kz-tunnel")) await measure("kz-tunnel", c, () =>
        runClientProcess<LoadResult>([kz, "run", "--blind", "--no-sandbox", "--"], {
          ...base, url: `https://${TUNNEL_HOST}/`, proxy: "env", caFile: up.caFile, token: { env: "BENCH_API_KEY" }, concurrency: c,
          pids: { upstream: process.pid, proxy: "parent" },
        }, { cwd: dir, env: kzEnv }),
      );
      const m = mitm;
      if (m) {
        await measure("mitmproxy", c, () =>
          runClientProcess<LoadResult>([], {
            ...base, url: directUrl, proxy: `http://127.0.0.1:${m.port}`, caFile: m.caFile, token: { literal: MITM_TOKEN }, concurrency: c,
            pids: { upstream: process.pid, proxy: m.proc.pid },
          }, { cwd: dir, env: plainEnv }),
        );
      }
    }
    up.reset();
    if (!modes.has("kz") || !modes.has("direct")) return report({ rows, seconds, warmupMs, concurrencies, kz, mitmdump, client, stale: stale.length, loadAtStart });
    const first = await runClientProcess<FirstConnectionResult>([kz, "run", "--blind", "--no-sandbox", "--"], {
      ...base, url: "", proxy: "env", caFile: "env", token: { env: "BENCH_API_KEY" }, concurrency: 1, pids: { upstream: process.pid },
      firstConnection: { urls: freshHosts.map((h) => `https://${h}/`) },
    }, { cwd: dir, env: kzEnv });
    const firstRealSeen = up.stats.real;
    const firstDirect = await runClientProcess<FirstConnectionResult>([], {
      ...base, url: "", caFile: up.caFile, token: { literal: REAL_VALUE }, concurrency: 1, pids: { upstream: process.pid },
      firstConnection: { urls: freshHosts.map(() => directUrl) },
    }, { cwd: dir, env: plainEnv });
    report({ rows, first, firstDirect, firstRealSeen, seconds, warmupMs, concurrencies, kz, mitmdump, client, stale: stale.length, loadAtStart });
  } finally {
    cleanup();
  }
}

// ---------------------------------------------------------------------------------------------------
// Report
// ---------------------------------------------------------------------------------------------------

function report(r: {
  rows: Row[];
  /** Absent when --modes leaves out kz or direct. */
  first?: FirstConnectionResult;
  firstDirect?: FirstConnectionResult;
  firstRealSeen?: number;
  seconds: number;
  warmupMs: number;
  concurrencies: number[];
  kz: string;
  mitmdump: string | null;
  client: ClientKind;
  /** Source files newer than dist/kz. */
  stale: number;
  /** 1-minute load average when the run started. */
  loadAtStart: number;
}): void {
  const find = (mode: Mode, c: number) => r.rows.find((row) => row.mode === mode && row.concurrency === c);
  const ms = (x: number) => x.toFixed(2);
  const pct = (x: number) => (Number.isFinite(x) ? `${x.toFixed(0)}%` : "—");
  const times = (x: number) => `${x.toFixed(x < 10 ? 1 : 0)}×`;
  const args = process.argv.slice(2).join(" ");
  const names: Record<Mode, string> = {
    direct: "direct",
    kz: "kz run --blind",
    "kz-tunnel": "kz run --blind, untouched tunnel",
    mitmproxy: "mitmdump",
  };
  const clientName = r.client === "raw" ? "a minimal HTTP/1.1 client on Bun sockets (--client raw)" : "Bun fetch";

  console.log(`\nCommand: \`bun scripts/bench/proxy.ts${args ? ` ${args}` : ""}\``);
  console.log(
    `Machine: ${cpus().length} cores, 1-minute load ${r.loadAtStart.toFixed(2)} at start, ${loadavg()[0]!.toFixed(2)} at end; bun ${Bun.version}; ` +
      `${version([r.kz, "--version"])}${r.stale ? ` (the binary predates ${r.stale} changed source files)` : ""}; ` +
      `${r.mitmdump ? version([r.mitmdump, "--version"]) : "mitmdump not run"}`,
  );
  console.log(
    `Small HTTPS GETs (2-byte body, Authorization: Bearer <token> swapped for the real value), one keep-alive connection per ` +
      `concurrent worker, ${clientName} as the client; ${r.seconds} s per case after ${r.warmupMs} ms warm-up on the same connections. ` +
      `Upstream: a lean Bun.serve (TLS, P-256) in the benchmark process, not the recording test server. The untouched-tunnel row ` +
      `goes through the same kz to a host no secret is bound to: TCP relayed, TLS end to end, the token arriving inert — the cost ` +
      `of the extra hop alone.\n`,
  );
  console.log("| mode | concurrency | req/s | p50 ms | p99 ms | vs direct | kz vs mitmproxy | CPU % client / proxy / upstream | upstream conns | real value seen |");
  console.log("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
  for (const c of r.concurrencies) {
    for (const mode of MODES) {
      const row = find(mode, c);
      if (!row) continue;
      const res = row.result;
      const direct = find("direct", c)?.result;
      const mitm = find("mitmproxy", c)?.result;
      const vsDirect = mode !== "direct" && direct ? pct((res.rps / direct.rps) * 100) : "";
      const vsMitm = mode === "kz" && mitm ? times(res.rps / mitm.rps) : "";
      const cpu = [res.cpu.client, res.cpu.proxy ?? NaN, res.cpu.upstream].map((x) => (Number.isFinite(x) ? x.toFixed(0) : "—")).join(" / ");
      const errors = res.errors ? ` (${res.errors} errors)` : "";
      console.log(
        `| ${names[mode]} | ${c} | ${res.rps.toFixed(0)}${errors} | ${ms(res.p50)} | ${ms(res.p99)} | ${vsDirect} | ${vsMitm} | ${cpu} | ${row.connections} | ${row.realSeen}/${row.realSeen + row.otherSeen} |`,
      );
    }
  }

  // Every swapping mode must deliver the real value on every request; the tunnel must deliver none.
  const tunnel = (row: Row) => row.mode === "kz-tunnel";
  const wrongValue = r.rows.filter((row) =>
    row.result.errors > 0 || (tunnel(row) ? row.realSeen > 0 || row.otherSeen === 0 : row.realSeen === 0 || row.otherSeen > 0),
  );
  const churned = r.rows.filter((row) => row.connections !== row.concurrency);
  const swapping = r.rows.some((row) => !tunnel(row));
  console.log(
    `\nChecks: ${wrongValue.length === 0 ? `${swapping ? "every request in every swapping mode reached the upstream with the real value, none with the token" : ""}${swapping && r.rows.some(tunnel) ? "; " : ""}${r.rows.some(tunnel) ? "through the untouched tunnel every request arrived with the inert token, none with the value" : ""}; no errors` : `FAILED — wrong value or errors in ${wrongValue.map((x) => `${x.mode} c=${x.concurrency}`).join(", ")}`}; ` +
      `${churned.length === 0 ? "keep-alive held (the upstream saw exactly one connection per worker in every case)" : `KEEP-ALIVE NOT HELD in ${churned.map((x) => `${x.mode} c=${x.concurrency} (${x.connections} connections)`).join(", ")}`}.` +
      (r.firstRealSeen !== 0 ? "" : " FAILED — the first-connection requests did not carry the real value."),
  );
  if (wrongValue.length > 0 || churned.length > 0 || r.firstRealSeen === 0) process.exitCode = 1;
  if (r.rows.length === 0) return;

  const upstreamPeak = Math.max(...r.rows.map((row) => row.result.cpu.upstream).filter(Number.isFinite));
  console.log(
    `The upstream used at most ${upstreamPeak.toFixed(0)}% of a core in any case${upstreamPeak < 90 ? ", so it is not the bottleneck" : " — it may be the bottleneck"}. kz's row includes ` +
      `everything \`kz run --blind\` does per request, the audit-log line for each swap included. On a ${cpus().length}-core machine the three ` +
      `processes of a proxied case share two cores: a proxy near 100% CPU is the limit.`,
  );

  const f = r.first;
  const d = r.firstDirect;
  if (f && d) {
    const signing = f.fresh - f.again < 0.5 ? "not measurable, within noise" : `≈ ${ms(f.fresh - f.again)} ms`;
    console.log(
      `\nFirst request to a new host through kz (new CONNECT, upstream TCP+TLS, leaf signed, client TLS; median over ${f.hosts} fresh hostnames, Bun fetch): ` +
        `${ms(f.fresh)} ms vs ${ms(f.later)} ms for a later request on the open connection (+${ms(f.fresh - f.later)} ms). ` +
        `A new connection to a host already seen: ${ms(f.again)} ms through kz, ${ms(d.again)} ms direct — so kz's extra on a new connection is ` +
        `+${ms(f.again - d.again)} ms, and +${ms(f.fresh - d.again)} ms when the host is new (signing its leaf: ${signing}). ` +
        `The upstream saw the real value on ${r.firstRealSeen} of those requests. These few-millisecond figures move most with background load.`,
    );
  }

  console.log("\n| target (from the issue) | " + r.concurrencies.map((c) => `c=${c}`).join(" | ") + " | met |");
  console.log("|---|" + r.concurrencies.map(() => "---:").join("|") + "|---|");
  const each = (fn: (c: number) => number | null) => r.concurrencies.map(fn);
  const line = (name: string, values: (number | null)[], show: (x: number) => string, ok: (x: number) => boolean) => {
    const metAt = r.concurrencies.filter((_, i) => values[i] !== null && ok(values[i]!));
    const met = values.some((v) => v === null) ? "n/a" : metAt.length === values.length ? "yes" : metAt.length === 0 ? "no" : `at c=${metAt.join(", ")} only`;
    console.log(`| ${name} | ${values.map((v) => (v === null ? "—" : show(v))).join(" | ")} | ${met} |`);
  };
  const kzOf = (c: number) => find("kz", c)?.result;
  line("kz ≥ 60% of direct throughput", each((c) => (kzOf(c) && find("direct", c) ? (kzOf(c)!.rps / find("direct", c)!.result.rps) * 100 : null)), pct, (x) => x >= 60);
  line("kz ≥ 10× mitmproxy throughput", each((c) => (kzOf(c) && find("mitmproxy", c) ? kzOf(c)!.rps / find("mitmproxy", c)!.result.rps : null)), times, (x) => x >= 10);
  line("kz adds < 1 ms at p50", each((c) => (kzOf(c) && find("direct", c) ? kzOf(c)!.p50 - find("direct", c)!.result.p50 : null)), (x) => `+${ms(x)} ms`, (x) => x < 1);
  if (f) console.log(`| first connection to a new host < 10 ms extra (vs a later request) | +${ms(f.fresh - f.later)} ms${" | ".repeat(r.concurrencies.length - 1)} | ${f.fresh - f.later < 10 ? "yes" : "no"} |`);
  const tunnelOf = (c: number) => find("kz-tunnel", c)?.result;
  if (r.concurrencies.some((c) => tunnelOf(c) && find("direct", c))) {
    line(
      "(reference) untouched tunnel through kz, % of direct",
      each((c) => (tunnelOf(c) && find("direct", c) ? (tunnelOf(c)!.rps / find("direct", c)!.result.rps) * 100 : null)),
      pct,
      (x) => x >= 60,
    );
  }
}

// ---------------------------------------------------------------------------------------------------

if (process.argv[2] === CLIENT_FLAG) await runClient(JSON.parse(process.argv[3]!) as ClientSpec);
else await runBenchmark();
