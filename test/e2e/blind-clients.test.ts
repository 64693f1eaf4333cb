// The client matrix: common HTTP clients, unchanged, as the command of the compiled `kz run --blind`
// (sandboxed, as by default), each calling a bound HTTPS API with its token. A client works when the
// upstream received the real value, the client got its 200 (or the SDK its parsed reply), and stderr
// holds no proxy warning. Node 20 is the machine's; Node 18, 22.20, 22 latest and 24, the JS packages
// and Deno come from the cache scripts/test-clients.sh fills (KZ_TEST_CLIENTS, ~/.cache/kz-test-clients
// by default); aiohttp, wget, Ruby and PHP from Debian's packages. A client whose toolchain is missing
// is skipped under its own name, never passed.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { homedir, tmpdir } from "node:os";
import { join } from "node:path";
import { Sandbox, type KzResult } from "../helpers/kz.ts";
import { makeCertificates } from "../servers/https-upstream.ts";

const API_KEY = "sk-fake-clients-api-key-0000000001";
const API = "api.example.test";
const CACHE = process.env.KZ_TEST_CLIENTS || join(homedir(), ".cache", "kz-test-clients");
const JS = join(CACHE, "js");
const NODE_SCRIPT = join(import.meta.dir, "fixtures", "blind-clients", "node-clients.cjs");
const PROXY_WARNING = /UNDICI-EHPA|EnvHttpProxyAgent|ExperimentalWarning/;

/** What the upstream saw: path and Authorization of each request. */
const seen: { path: string; authorization: string }[] = [];
let server: ReturnType<typeof Bun.serve> | undefined;
let certDir: string;
let box: Sandbox;

const completion = {
  id: "chatcmpl-kz",
  object: "chat.completion",
  created: 1_700_000_000,
  model: "gpt-4o-mini",
  choices: [{ index: 0, message: { role: "assistant", content: "pong" }, finish_reason: "stop", logprobs: null }],
  usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 },
};

beforeAll(async () => {
  certDir = mkdtempSync(join(tmpdir(), "kz-clients-upstream-"));
  await makeCertificates(certDir, [API]);
  server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    tls: { cert: readFileSync(join(certDir, "server.pem"), "utf8"), key: readFileSync(join(certDir, "server.key"), "utf8") },
    async fetch(req) {
      const url = new URL(req.url);
      await req.arrayBuffer();
      seen.push({ path: url.pathname, authorization: req.headers.get("authorization") ?? "", ...(req.headers.get("x-wgetrc") ? { wgetrc: req.headers.get("x-wgetrc") } : {}) });
      if (url.pathname.endsWith("/chat/completions")) return Response.json(completion);
      return Response.json({ ok: true, path: url.pathname });
    },
  });
  box = new Sandbox({ API_HOST: API, KZ_TEST_JS: JS });
  box.write(
    ".keyzero.toml",
    `[blind]
upstream_ca = "${join(certDir, "ca.pem")}"
resolve = { "${API}:443" = "127.0.0.1:${server.port}" }

[secrets]
API_KEY = { provider = "local", hosts = ["${API}"] }
`,
  );
  await box.put("API_KEY", API_KEY);
  expect((await box.kz(["allow"])).code).toBe(0);
});

afterAll(() => {
  server?.stop(true);
  box?.cleanup();
  if (certDir) rmSync(certDir, { recursive: true, force: true });
});

function blind(cmd: string[], env?: Record<string, string>, flags: string[] = []): Promise<KzResult> {
  return box.kz(["run", "--blind", ...flags, "--", ...cmd], { env });
}

/** The upstream received the real value from `client` (its requests' paths start with /<client>/). */
function expectRealValueReached(client: string) {
  const mine = seen.filter((r) => r.path.startsWith(`/${client}/`));
  expect(mine.length).toBeGreaterThan(0);
  for (const r of mine) expect(r.authorization).toBe(`Bearer ${API_KEY}`);
}

function expectQuiet(result: KzResult) {
  expect(result.stderr).not.toMatch(PROXY_WARNING);
  expect(result.stdout).not.toContain(API_KEY);
}

// ---- Node: every version × every client ------------------------------------------------------------

const NODE_CLIENTS = ["fetch", "https", "own-agent", "got", "node-fetch", "axios", "openai", "ai", "langchain"];
/** What each client prints on success: an HTTP status, or the SDK's parsed reply. */
const EXPECTED: Record<string, string> = { fetch: "200", https: "200", "own-agent": "200", got: "200", "node-fetch": "200", axios: "200", openai: "pong", ai: "pong", langchain: "pong" };
/** got 14 and node-fetch 3 and today's SDKs need Node 20+; Node 18 is checked with the built-ins. */
const NODE18_CLIENTS = ["fetch", "https"];

const NODES: { label: string; bin: string; clients: string[] }[] = [
  { label: "Node 18", bin: join(CACHE, "node-18", "node_modules", ".bin", "node"), clients: NODE18_CLIENTS },
  { label: "Node 20 (/usr/bin/node)", bin: "/usr/bin/node", clients: NODE_CLIENTS },
  { label: "Node 22.20", bin: join(CACHE, "node-22.20.0", "node_modules", ".bin", "node"), clients: NODE_CLIENTS },
  { label: "Node 22 latest", bin: join(CACHE, "node-22", "node_modules", ".bin", "node"), clients: NODE_CLIENTS },
  { label: "Node 24", bin: join(CACHE, "node-24", "node_modules", ".bin", "node"), clients: NODE_CLIENTS },
];
const haveJs = existsSync(join(JS, "node_modules", "openai"));

for (const node of NODES) {
  const haveNode = existsSync(node.bin);
  describe(node.label, () => {
    // One kz run per Node version runs every client (each in its own try), then each client is its own test.
    let run: Promise<{ result: KzResult; lines: Map<string, string> }> | undefined;
    const results = () =>
      (run ??= blind([node.bin, NODE_SCRIPT, ...node.clients]).then((result) => {
        const lines = new Map<string, string>();
        for (const line of result.stdout.split("\n")) {
          const m = /^RESULT (\S+) (.*)$/.exec(line);
          if (m) lines.set(m[1]!, m[2]!);
        }
        return { result, lines };
      }));
    for (const client of node.clients) {
      const needsPackages = !["fetch", "https", "own-agent"].includes(client);
      const missing = !haveNode ? `${node.bin} not installed` : needsPackages && !haveJs ? `${JS} not installed` : "";
      test.skipIf(Boolean(missing))(`${client}${missing ? ` — skipped: ${missing} (run scripts/test-clients.sh)` : ""}`, async () => {
        const { result, lines } = await results();
        expect(lines.get(client)).toBe(EXPECTED[client]);
        expect(result.code).toBe(0);
        expectQuiet(result);
        expect(result.stderr).toBe("");
        expectRealValueReached(client);
      }, 60_000);
    }
  });
}

// ---- Other languages ----------------------------------------------------------------------------------

const python = "/usr/bin/python3";
const havePython = (module: string) => Bun.spawnSync([python, "-c", `import ${module}`], { stdout: "ignore", stderr: "ignore" }).exitCode === 0;
const which = (bin: string) => Bun.which(bin) ?? undefined;
const deno = join(CACHE, "deno", "node_modules", ".bin", "deno");

const aiohttpScript = (path: string) => `import asyncio, os, aiohttp
async def main():
    async with aiohttp.ClientSession() as session:
        async with session.get("https://${API}${path}", headers={"Authorization": "Bearer " + os.environ["API_KEY"]}) as r:
            await r.read()
            print(r.status)
asyncio.run(main())`;

describe("other languages", () => {
  test.skipIf(!havePython("aiohttp"))("Python aiohttp: a bare ClientSession() uses the proxy", async () => {
    const r = await blind([python, "-c", aiohttpScript("/aiohttp/echo")]);
    expect(r.stdout.trim()).toBe("200");
    expect(r.stderr).toBe("");
    expectRealValueReached("aiohttp");
  });

  test.skipIf(!havePython("aiohttp"))("Python: the user's own sitecustomize on PYTHONPATH still runs, and aiohttp still works", async () => {
    const own = join(box.dir, "own-site");
    mkdirSync(own, { recursive: true });
    box.write("own-site/sitecustomize.py", `import os\nos.environ["KZ_TEST_OWN_SITE"] = "ran"\n`);
    const script = `${aiohttpScript("/aiohttp-chained/echo")}\nprint(os.environ.get("KZ_TEST_OWN_SITE"))`;
    const r = await blind([python, "-c", script], { PYTHONPATH: own });
    expect(r.stdout.trim().split("\n")).toEqual(["200", "ran"]);
    expect(r.stderr).toBe("");
    expectRealValueReached("aiohttp-chained");
  });

  test.skipIf(!which("wget"))("wget: trusts the run's CA; the user's ~/.wgetrc is kept", async () => {
    box.write(".wgetrc", "header = X-Wgetrc: kept\n");
    const r = await blind(["sh", "-c", `wget -q -O - --header "Authorization: Bearer $API_KEY" https://${API}/wget/echo`]);
    rmSync(join(box.dir, ".wgetrc"));
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ ok: true, path: "/wget/echo" });
    expectQuiet(r);
    expectRealValueReached("wget");
    expect(seen.filter((s) => s.path === "/wget/echo").at(-1)).toMatchObject({ wgetrc: "kept" });
  });

  test.skipIf(!which("ruby"))("Ruby Net::HTTP", async () => {
    const script = `require "net/http"
uri = URI("https://${API}/ruby/echo")
r = Net::HTTP.start(uri.host, uri.port, use_ssl: true) { |h| h.get(uri.path, "Authorization" => "Bearer #{ENV["API_KEY"]}") }
puts r.code`;
    const r = await blind(["ruby", "-e", script]);
    expect(r.stdout.trim()).toBe("200");
    expectQuiet(r);
    expectRealValueReached("ruby");
  });

  test.skipIf(!which("php") || Bun.spawnSync(["php", "-r", "exit(function_exists('curl_init') ? 0 : 1);"]).exitCode !== 0)("PHP curl extension", async () => {
    const script = `$c = curl_init("https://${API}/php/echo");
curl_setopt($c, CURLOPT_HTTPHEADER, ["Authorization: Bearer " . getenv("API_KEY")]);
curl_setopt($c, CURLOPT_RETURNTRANSFER, true);
if (curl_exec($c) === false) { fwrite(STDERR, curl_error($c)); exit(1); }
echo curl_getinfo($c, CURLINFO_HTTP_CODE);`;
    const r = await blind(["php", "-r", script]);
    expect(r.stdout.trim()).toBe("200");
    expectQuiet(r);
    expectRealValueReached("php");
  });

  test.skipIf(!existsSync(deno))("Deno fetch", async () => {
    const script = `const r = await fetch("https://${API}/deno/echo", { headers: { authorization: "Bearer " + Deno.env.get("API_KEY") } }); await r.text(); console.log(r.status);`;
    const r = await blind([deno, "eval", script], { DENO_NO_UPDATE_CHECK: "1" });
    expect(r.stdout.trim()).toBe("200");
    expectQuiet(r);
    expectRealValueReached("deno");
  });

  test.skipIf(!which("java") || !which("keytool"))("Java HttpURLConnection with README's recipe (Java does not work unchanged)", async () => {
    const java = join(import.meta.dir, "fixtures", "blind-clients", "KzProxyAuth.java");
    const recipe = `set -e
store="$(mktemp -d)/cacerts"
cp /etc/ssl/certs/java/cacerts "$store"
keytool -importcert -noprompt -alias kz-run -file "$NODE_EXTRA_CA_CERTS" -keystore "$store" -storepass changeit >/dev/null
java -Djavax.net.ssl.trustStore="$store" -Djavax.net.ssl.trustStorePassword=changeit -Djdk.http.auth.tunneling.disabledSchemes= "${java}" https://${API}/java/echo`;
    const r = await blind(["sh", "-c", recipe]);
    expect(r.stdout.trim()).toBe("200");
    expectQuiet(r);
    expectRealValueReached("java");
  }, 60_000);
});

describe("--network proxy (the proxy is the sandbox's only way out)", () => {
  test.skipIf(!havePython("aiohttp"))("Node 20 fetch and https.request, and a bare aiohttp session, still reach the API", async () => {
    const node = await blind(["/usr/bin/node", NODE_SCRIPT, "fetch", "https"], undefined, ["--network", "proxy"]);
    expect(node.stdout).toContain("RESULT fetch 200\nRESULT https 200\n");
    expect(node.stderr).toBe("");
    const py = await blind([python, "-c", aiohttpScript("/aiohttp-netproxy/echo")], undefined, ["--network", "proxy"]);
    expect(py.stdout.trim()).toBe("200");
    expectRealValueReached("aiohttp-netproxy");
  });
});

describe("--print-env", () => {
  test("shows the shims' variables, the user's NODE_OPTIONS and PYTHONPATH kept after kz's part", async () => {
    const r = await box.kz(["run", "--blind", "--print-env"], { env: { NODE_OPTIONS: "--max-old-space-size=300", PYTHONPATH: "/opt/mine" } });
    expect(r.code).toBe(0);
    const env = Object.fromEntries(r.stdout.trim().split("\n").map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]));
    expect(env.NODE_OPTIONS).toMatch(/^--require "[^"]*kz-blind-[^"]*\/node-proxy\.cjs" --max-old-space-size=300$/);
    const dir = /^--require "(.*)\/node-proxy\.cjs"/.exec(env.NODE_OPTIONS!)![1]!;
    expect(dir).toMatch(/\/kz-blind-[^/]+$/);
    expect(env.PYTHONPATH).toBe(`${dir}:/opt/mine`);
    expect(env.WGETRC).toBe(`${dir}/wgetrc`);
    expect(env.PHP_INI_SCAN_DIR).toBe(`:${dir}`);
    expect(r.stdout).not.toContain(API_KEY);
  });

  test("an inherited NODE_OPTIONS or PYTHONPATH holding a real value is not carried into the child", async () => {
    const r = await box.kz(["run", "--blind", "--no-masking", "--", "/usr/bin/env"], { env: { NODE_OPTIONS: `--title=${API_KEY}`, PYTHONPATH: `/x/${API_KEY}` } });
    expect(r.code).toBe(0);
    expect(r.stdout).not.toContain(API_KEY);
    expect(r.stdout).toMatch(/^NODE_OPTIONS=--require "[^"]+"$/m);
  });
});
