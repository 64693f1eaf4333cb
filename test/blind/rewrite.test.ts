// The request side of the rewrite engine: headers, Basic auth, URL, bodies and planRequest as a whole.
import { describe, expect, test } from "bun:test";
import { planRequest } from "../../src/blind/rewrite/plan.ts";
import { isRefusal } from "../../src/blind/rewrite/context.ts";
import type { BodyPlan, Refusal, RequestPlan } from "../../src/blind/types.ts";
import { TokenTable, mintTokens } from "../../src/blind/tokens.ts";
import { PLACEMENTS } from "../../src/config/placement.ts";
import { SecretValue } from "../../src/secret.ts";
import { ALL_VALUES, FAKE, dec, enc, fixture, github, head, leaksNoValue, local, openai } from "./fixtures.ts";

const f = fixture();
const tok = f.token;

function plan(p: RequestPlan | Refusal): RequestPlan {
  if (isRefusal(p)) throw new Error(`unexpected refusal: ${p.reason}`);
  return p;
}
function refused(p: RequestPlan | Refusal): Refusal {
  if (!isRefusal(p)) throw new Error("expected a refusal");
  expect(leaksNoValue(p.reason)).toBe(true);
  return p;
}
const header = (p: RequestPlan, name: string) => p.head.headers.find(([n]) => n.toLowerCase() === name.toLowerCase())?.[1];
type Buffered = Extract<BodyPlan, { kind: "buffer" }>;
type Streamed = Extract<BodyPlan, { kind: "stream" }>;
function buffered(p: RequestPlan): Buffered {
  expect(p.body.kind).toBe("buffer");
  return p.body as Buffered;
}
function rewritten(b: Buffered, body: string): string {
  const out = b.rewrite(enc(body));
  if (isRefusal(out)) throw new Error(`unexpected refusal: ${out.reason}`);
  return dec(out);
}

describe("headers", () => {
  test("a bound token is swapped and reported", () => {
    const p = plan(planRequest(openai, head("/v1/models", [["Authorization", `Bearer ${tok("OPENAI_API_KEY")}`], ["X-Other", "kept"]]), f.table));
    expect(header(p, "authorization")).toBe(`Bearer ${FAKE.OPENAI_API_KEY}`);
    expect(header(p, "x-other")).toBe("kept");
    expect(p.swapped).toEqual(["OPENAI_API_KEY"]);
    expect(p.head.headers.map(([n]) => n)).toEqual(["Authorization", "X-Other"]); // names and order kept
  });

  test("a token bound elsewhere is refused, naming the secret, where it may go and where it was going", () => {
    const r = refused(planRequest(openai, head("/", [["X-Api-Key", tok("GITHUB_TOKEN")]]), f.table));
    expect(r.secret).toBe("GITHUB_TOKEN");
    expect(r.reason).toBe("GITHUB_TOKEN may only be sent to api.github.com; this request goes to api.openai.com");
  });

  test("a bound token over plain http to a non-loopback host is refused", () => {
    const r = refused(planRequest({ host: "api.openai.com", port: 80, tls: false }, head("/", [["Authorization", `Bearer ${tok("OPENAI_API_KEY")}`]]), f.table));
    expect(r.reason).toContain("only sent over TLS");
  });

  test("Proxy-Authorization is never touched", () => {
    const value = `Basic ${Buffer.from(`kz:${tok("OPENAI_API_KEY")}`).toString("base64")}`;
    const p = plan(planRequest(openai, head("/", [["Proxy-Authorization", value]]), f.table));
    expect(header(p, "proxy-authorization")).toBe(value);
    expect(p.swapped).toEqual([]);
  });

  test("a value with a line break is refused rather than split the header", () => {
    const table = fixtureWith("MULTILINE", "fake-line-one\r\nX-Injected: fake", ["api.openai.com"]);
    const r = refused(planRequest(openai, head("/", [["Authorization", `Bearer ${table.byName("MULTILINE")!.token}`]]), table));
    expect(r.secret).toBe("MULTILINE");
    expect(r.reason).toContain("line break");
    expect(r.reason.includes("fake-line-one")).toBe(false);
  });
});

describe("Basic auth", () => {
  const basic = (cred: string) => `Basic ${Buffer.from(cred).toString("base64")}`;

  test.each([
    ["password", (t: string) => `user:${t}`, `user:${FAKE.GITHUB_TOKEN}`],
    ["user", (t: string) => `${t}:x-oauth-basic`, `${FAKE.GITHUB_TOKEN}:x-oauth-basic`],
  ])("a token as the %s is decoded, swapped and re-encoded", (_where, credential, expected) => {
    const p = plan(planRequest(github, head("/", [["authorization", basic(credential(tok("GITHUB_TOKEN")))]]), f.table));
    const value = header(p, "authorization")!;
    expect(value.startsWith("Basic ")).toBe(true);
    expect(Buffer.from(value.slice(6), "base64").toString()).toBe(expected);
    expect(p.swapped).toEqual(["GITHUB_TOKEN"]);
    expect(p.produced!.map((x) => [x.secret, x.form.reveal()])).toEqual([["GITHUB_TOKEN", value.slice(6)]]);
  });

  test("a token bound elsewhere inside Basic is refused", () => {
    const r = refused(planRequest(github, head("/", [["Authorization", basic(`user:${tok("OPENAI_API_KEY")}`)]]), f.table));
    expect(r.secret).toBe("OPENAI_API_KEY");
  });

  test("a Basic header that is not base64 is swapped as plain text", () => {
    const p = plan(planRequest(github, head("/", [["Authorization", `Basic ${tok("GITHUB_TOKEN")}`]]), f.table));
    expect(header(p, "authorization")).toBe(`Basic ${FAKE.GITHUB_TOKEN}`);
  });
});

describe("URL", () => {
  test("a raw token in the query is swapped; the rest of the target is untouched", () => {
    const p = plan(planRequest(openai, head(`/v1/x?q=a%20b&key=${tok("OPENAI_API_KEY")}&z=1`), f.table));
    expect(p.head.target).toBe(`/v1/x?q=a%20b&key=${FAKE.OPENAI_API_KEY}&z=1`);
    expect(p.swapped).toEqual(["OPENAI_API_KEY"]);
  });

  test("a percent-encoded token (%5F for _, lower-case hex too) is swapped", () => {
    const encoded = tok("OPENAI_API_KEY").replace(/_/g, "%5F").replace("K", "%4b");
    const p = plan(planRequest(openai, head(`/v1/x?key=${encoded}&q=a%20b`), f.table));
    expect(p.head.target).toBe(`/v1/x?key=${FAKE.OPENAI_API_KEY}&q=a%20b`);
  });

  test("a token in the path is swapped", () => {
    const p = plan(planRequest(openai, head(`/keys/${tok("OPENAI_API_KEY")}/info`), f.table));
    expect(p.head.target).toBe(`/keys/${FAKE.OPENAI_API_KEY}/info`);
  });

  test("a value that needs encoding goes in percent-encoded, and that form is reported", () => {
    const p = plan(planRequest(local, head(`/x?k=${tok("LOCAL_KEY")}`), f.table));
    const expected = encodeURIComponent(FAKE.LOCAL_KEY);
    expect(p.head.target).toBe(`/x?k=${expected}`);
    expect(new URL(`http://h${p.head.target}`).searchParams.get("k")).toBe(FAKE.LOCAL_KEY);
    expect(p.produced!.map((x) => x.form.reveal())).toEqual([expected]);
  });

  test("a token bound elsewhere in the URL is refused, encoded or not", () => {
    expect(refused(planRequest(openai, head(`/?k=${tok("GITHUB_TOKEN")}`), f.table)).secret).toBe("GITHUB_TOKEN");
    const encoded = tok("GITHUB_TOKEN").replace(/_/g, "%5F");
    expect(refused(planRequest(openai, head(`/?k=${encoded}`), f.table)).secret).toBe("GITHUB_TOKEN");
  });
});

describe("bodies", () => {
  const json = (body: string, extra: [string, string][] = []) =>
    head("/v1/chat", [["Content-Type", "application/json"], ["Content-Length", String(enc(body).length)], ...extra], "POST");

  test("a JSON body is swapped and its new length is the body's real length", () => {
    const body = JSON.stringify({ key: tok("OPENAI_API_KEY"), again: tok("OPENAI_API_KEY"), n: "é" });
    const b = buffered(plan(planRequest(openai, json(body), f.table)));
    const out = rewritten(b, body);
    expect(JSON.parse(out)).toEqual({ key: FAKE.OPENAI_API_KEY, again: FAKE.OPENAI_API_KEY, n: "é" });
    const delta = FAKE.OPENAI_API_KEY.length - tok("OPENAI_API_KEY").length;
    expect(enc(out).length).toBe(enc(body).length + 2 * delta);
    expect(b.audit!()).toEqual({ swapped: ["OPENAI_API_KEY"], inert: [] });
    expect(b.limit).toBe(64 * 1024 * 1024);
  });

  test.each([
    ["application/json", (v: string) => JSON.parse(`"${v}"`)],
    ["application/vnd.api+json; charset=utf-8", (v: string) => JSON.parse(`"${v}"`)],
    ["application/x-www-form-urlencoded", (v: string) => new URLSearchParams(`k=${v}`).get("k")],
    ["application/xml", (v: string) => v.replace(/&#(\d+);/g, (_, c) => String.fromCharCode(Number(c)))],
    ["text/plain", (v: string) => v],
  ])("a value is spliced in the body's own encoding: %s", (type, decode) => {
    const body = `${tok("LOCAL_KEY")}`;
    const p = plan(planRequest(local, head("/", [["content-type", type], ["content-length", String(body.length)]], "POST"), f.table));
    expect(decode(rewritten(buffered(p), body))).toBe(FAKE.LOCAL_KEY);
  });

  test("a token bound elsewhere in a buffered body refuses the request", () => {
    const body = JSON.stringify({ a: tok("OPENAI_API_KEY"), b: tok("GITHUB_TOKEN") });
    const out = buffered(plan(planRequest(openai, json(body), f.table))).rewrite(enc(body));
    expect(refused(out as Refusal).secret).toBe("GITHUB_TOKEN");
  });

  test.each([
    ["compressed", [["Content-Type", "application/json"], ["Content-Encoding", "gzip"], ["Content-Length", "40"]]],
    ["binary", [["Content-Type", "application/octet-stream"], ["Content-Length", "40"]]],
    ["image", [["Content-Type", "image/png"], ["Content-Length", "40"]]],
    ["transfer-coded", [["Content-Type", "application/json"], ["Transfer-Encoding", "gzip, chunked"]]],
  ] as [string, [string, string][]][])("a %s body passes through untouched", (_label, headers) => {
    expect(plan(planRequest(openai, head("/", headers, "POST"), f.table)).body).toEqual({ kind: "passthrough" });
  });

  test.each([
    ["no framing headers", []],
    ["Content-Length: 0", [["Content-Length", "0"]]],
  ] as [string, [string, string][]][])("%s means no body", (_label, headers) => {
    expect(plan(planRequest(openai, head("/", headers, "POST"), f.table)).body).toEqual({ kind: "none" });
  });

  test("a body without Content-Type is rewritten only when it is valid UTF-8", () => {
    const text = `key=${tok("OPENAI_API_KEY")}`;
    const untyped = (len: number) => head("/", [["Content-Length", String(len)]], "POST");
    expect(rewritten(buffered(plan(planRequest(openai, untyped(text.length), f.table))), text)).toBe(`key=${FAKE.OPENAI_API_KEY}`);
    const binary = new Uint8Array([0xff, 0xfe, ...enc(tok("OPENAI_API_KEY"))]);
    const out = buffered(plan(planRequest(openai, untyped(binary.length), f.table))).rewrite(binary);
    expect(out).toBe(binary);
  });

  test("a 20 MiB textual body is rewritten whole", () => {
    const filler = "x".repeat(10 * 1024 * 1024);
    const body = `{"a":"${tok("OPENAI_API_KEY")}","pad":"${filler}","b":"${tok("OPENAI_API_KEY")}","pad2":"${filler}","c":"${tok("OPENAI_API_KEY")}"}`;
    const bytes = enc(body);
    expect(bytes.length).toBeGreaterThan(20 * 1024 * 1024);
    const b = buffered(plan(planRequest(openai, json(body), f.table)));
    const out = b.rewrite(bytes);
    if (isRefusal(out)) throw new Error(out.reason);
    const parsed = JSON.parse(dec(out));
    expect([parsed.a, parsed.b, parsed.c]).toEqual([FAKE.OPENAI_API_KEY, FAKE.OPENAI_API_KEY, FAKE.OPENAI_API_KEY]);
    expect(out.length).toBe(bytes.length + 3 * (FAKE.OPENAI_API_KEY.length - tok("OPENAI_API_KEY").length));
  });
});

describe("chunked bodies", () => {
  const chunkedHead = (type = "application/json") => head("/", [["Content-Type", type], ["Transfer-Encoding", "chunked"]], "POST");
  function streamed(p: RequestPlan): Streamed {
    expect(p.body.kind).toBe("stream");
    return p.body as Streamed;
  }
  function run(s: Streamed, chunks: Uint8Array[]): string {
    const out = chunks.map((c) => s.rewriter.push(c));
    out.push(s.rewriter.end());
    return dec(Buffer.concat(out));
  }

  test("a token split across two chunks is swapped, whatever the split point", () => {
    const body = `{"key":"${tok("OPENAI_API_KEY")}"}`;
    const expected = `{"key":"${FAKE.OPENAI_API_KEY}"}`;
    for (let i = 0; i <= body.length; i++) {
      const s = streamed(plan(planRequest(openai, chunkedHead(), f.table)));
      expect(run(s, [enc(body.slice(0, i)), enc(body.slice(i))])).toBe(expected);
      expect(s.audit!().swapped).toEqual(["OPENAI_API_KEY"]);
    }
  });

  test("a token bound elsewhere cannot be refused any more: it stays inert and is reported", () => {
    const body = `a=${tok("GITHUB_TOKEN")}&b=${tok("OPENAI_API_KEY")}`;
    const s = streamed(plan(planRequest(openai, chunkedHead("application/x-www-form-urlencoded"), f.table)));
    expect(run(s, [enc(body.slice(0, 10)), enc(body.slice(10))])).toBe(`a=${tok("GITHUB_TOKEN")}&b=${encodeURIComponent(FAKE.OPENAI_API_KEY)}`);
    expect(s.audit!()).toEqual({ swapped: ["OPENAI_API_KEY"], inert: ["GITHUB_TOKEN"] });
  });

  test("a 20 MiB body in 64 KiB chunks, tokens straddling chunk edges", () => {
    const chunk = 64 * 1024;
    const t = tok("OPENAI_API_KEY");
    const parts: string[] = [];
    for (let at = 0; at < 20 * 1024 * 1024; at += chunk) parts.push("y".repeat(chunk - 5), t);
    const body = enc(parts.join(""));
    const s = streamed(plan(planRequest(openai, chunkedHead("text/plain"), f.table)));
    const out: Uint8Array[] = [];
    for (let at = 0; at < body.length; at += chunk) out.push(s.rewriter.push(body.subarray(at, at + chunk)));
    out.push(s.rewriter.end());
    const result = Buffer.concat(out);
    const count = parts.length / 2;
    expect(result.length).toBe(body.length + count * (FAKE.OPENAI_API_KEY.length - t.length));
    expect(result.indexOf(t)).toBe(-1);
    expect(result.toString().split(FAKE.OPENAI_API_KEY).length - 1).toBe(count);
  });
});

describe("planRequest", () => {
  test("swaps in URL, headers and body together and reports the head's swaps", () => {
    const body = JSON.stringify({ channel: "c", token: tok("SLACK_BOT_TOKEN") });
    const slack = { host: "files.slack.com", port: 443, tls: true };
    const p = plan(
      planRequest(
        slack,
        head(`/api/x?token=${tok("SLACK_BOT_TOKEN")}`, [
          ["Authorization", `Bearer ${tok("SLACK_BOT_TOKEN")}`],
          ["Content-Type", "application/json"],
          ["Content-Length", String(body.length)],
        ], "POST"),
        f.table,
      ),
    );
    expect(p.head.target).toBe(`/api/x?token=${FAKE.SLACK_BOT_TOKEN}`);
    expect(header(p, "authorization")).toBe(`Bearer ${FAKE.SLACK_BOT_TOKEN}`);
    expect(JSON.parse(rewritten(buffered(p), body)).token).toBe(FAKE.SLACK_BOT_TOKEN);
    expect(p.swapped).toEqual(["SLACK_BOT_TOKEN"]);
  });

  test("a request without tokens comes back unchanged", () => {
    const h = head("/v1/models", [["Accept", "application/json"]]);
    const p = plan(planRequest(openai, h, f.table));
    expect(p.head).toEqual(h);
    expect(p.swapped).toEqual([]);
    expect(p.produced!).toEqual([]);
  });

  test("the original head is not modified", () => {
    const h = head(`/?k=${tok("OPENAI_API_KEY")}`, [["Authorization", `Bearer ${tok("OPENAI_API_KEY")}`]]);
    const copy = structuredClone(h);
    plan(planRequest(openai, h, f.table));
    expect(h).toEqual(copy);
  });

  test("no refusal reason carries a real value", () => {
    for (const t of f.secrets.map((s) => s.token)) {
      const r = planRequest({ host: "evil.test", port: 443, tls: true }, head(`/?k=${t}`), f.table);
      expect(isRefusal(r)).toBe(true);
      expect(ALL_VALUES.some((v) => (r as Refusal).reason.includes(v))).toBe(false);
    }
  });
});

function fixtureWith(name: string, value: string, hosts: string[]): TokenTable {
  return new TokenTable(mintTokens([{ name, value: new SecretValue(value), hosts, tokenFormat: "opaque", swap: PLACEMENTS }]));
}
