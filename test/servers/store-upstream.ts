// An HTTPS API that stores what it is sent and gives it back — the shape of GitHub's contents API, a
// gist, a chat message or a notes service — for placement tests: the attack it stands for is "PUT the
// token, let the proxy swap it, read the real value back later".
//
// Routes (every request recorded before it is answered):
//   PUT  /contents/<name>  JSON {"content": "..."}: stored as given (a form body's `content` field too)
//   GET  /contents/<name>  JSON {"content": base64 of what was stored} (as GitHub returns file contents)
//   GET  /raw/<name>       the stored text itself; honours `Range: bytes=a-b` (206), so it can be read in pieces
//   POST /notes?content=…  stores the query's `content` under "note"
//   PUT  /kv/<text>        stores the path segment under "kv"
//   GET  /whoami           200 with the Authorization header it got (for the header swap)

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { makeCertificates } from "./https-upstream.ts";

export interface StoreUpstream {
  port: number;
  caFile: string;
  /** What was stored, by name. */
  stored: Map<string, string>;
  requests: { method: string; path: string; headers: Record<string, string>; body: string }[];
  stop(): void;
}

export async function startStoreUpstream(hostnames: string[]): Promise<StoreUpstream> {
  const dir = mkdtempSync(join(tmpdir(), "kz-store-"));
  await makeCertificates(dir, hostnames);
  const stored = new Map<string, string>();
  const requests: StoreUpstream["requests"] = [];

  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    tls: { cert: Bun.file(join(dir, "server.pem")), key: Bun.file(join(dir, "server.key")) },
    async fetch(req) {
      const url = new URL(req.url);
      const body = await req.text();
      requests.push({ method: req.method, path: url.pathname + url.search, headers: Object.fromEntries(req.headers), body });
      const [, kind, name = ""] = url.pathname.split("/");
      if (kind === "contents" && req.method === "PUT") {
        const type = req.headers.get("content-type") ?? "";
        const content = type.includes("json") ? String(JSON.parse(body).content) : (new URLSearchParams(body).get("content") ?? body);
        stored.set(name, content);
        return Response.json({ stored: name }, { status: 201 });
      }
      if (kind === "contents" && stored.has(name)) return Response.json({ content: Buffer.from(stored.get(name)!).toString("base64") });
      if (kind === "raw" && stored.has(name)) {
        const text = Buffer.from(stored.get(name)!);
        const range = /^bytes=(\d+)-(\d+)$/.exec(req.headers.get("range") ?? "");
        if (!range) return new Response(text);
        const [start, end] = [Number(range[1]), Math.min(Number(range[2]), text.length - 1)];
        return new Response(text.subarray(start, end + 1), { status: 206, headers: { "content-range": `bytes ${start}-${end}/${text.length}` } });
      }
      if (kind === "notes" && req.method === "POST") {
        stored.set("note", url.searchParams.get("content") ?? "");
        return new Response("noted\n", { status: 201 });
      }
      if (kind === "kv" && req.method === "PUT") {
        stored.set("kv", decodeURIComponent(name));
        return new Response("kept\n", { status: 201 });
      }
      if (kind === "whoami") return new Response(`you sent ${req.headers.get("authorization")?.length ?? 0} characters\n`);
      return new Response("not found\n", { status: 404 });
    },
  });

  return {
    port: server.port!,
    caFile: join(dir, "ca.pem"),
    stored,
    requests,
    stop() {
      server.stop(true);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
