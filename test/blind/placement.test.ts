// Placement (`swap`): a token is swapped only in the parts of a request its secret names — a header by
// default — and refused anywhere else on a bound host, because a body, a query or a path is what an API
// stores and gives back. The attacker's moves: the token in a JSON body, a form, a query, a path segment,
// percent-encoded, inside Basic, in a chunked body; the AWS secret key's token anywhere.
import { describe, expect, test } from "bun:test";
import { planRequest } from "../../src/blind/rewrite/plan.ts";
import { isRefusal } from "../../src/blind/rewrite/context.ts";
import { TokenTable, mintTokens } from "../../src/blind/tokens.ts";
import type { BodyPlan, Refusal, RequestPlan } from "../../src/blind/types.ts";
import { type Placement, defaultSwap, swapOf } from "../../src/config/placement.ts";
import { SecretValue } from "../../src/secret.ts";
import { dec, enc, head } from "./fixtures.ts";

const HOST = { host: "api.store.test", port: 443, tls: true };
const VALUE = "fake-placement-value-0001-abcdefghijklmnop";

function tableWith(swap?: Placement[], name = "STORE_TOKEN"): { table: TokenTable; token: string } {
  const [secret] = mintTokens([{ name, value: new SecretValue(VALUE), hosts: [HOST.host], tokenFormat: "opaque", ...(swap ? { swap } : {}) }]);
  return { table: new TokenTable([secret!]), token: secret!.token };
}

function planned(p: RequestPlan | Refusal): RequestPlan {
  if (isRefusal(p)) throw new Error(`unexpected refusal: ${p.reason}`);
  return p;
}

function refusedFor(p: RequestPlan | Refusal | Uint8Array): Refusal {
  if (!isRefusal(p)) throw new Error("expected a refusal");
  expect(p.reason).not.toContain(VALUE);
  return p;
}

const jsonPut = (body: string) =>
  head("/repos/o/r/contents/notes.txt", [["Content-Type", "application/json"], ["Content-Length", String(enc(body).length)]], "PUT");

function bufferedBody(p: RequestPlan): Extract<BodyPlan, { kind: "buffer" }> {
  expect(p.body.kind).toBe("buffer");
  return p.body as Extract<BodyPlan, { kind: "buffer" }>;
}

describe("the default: header only", () => {
  const { table, token } = tableWith();

  test("a token in a header or inside Basic is swapped", () => {
    const p = planned(planRequest(HOST, head("/", [["Authorization", `Bearer ${token}`], ["X-Api-Key", token]]), table));
    expect(p.head.headers).toEqual([["Authorization", `Bearer ${VALUE}`], ["X-Api-Key", VALUE]]);
    const basic = planned(planRequest(HOST, head("/", [["Authorization", `Basic ${Buffer.from(`x:${token}`).toString("base64")}`]]), table));
    expect(Buffer.from(basic.head.headers[0]![1].slice(6), "base64").toString()).toBe(`x:${VALUE}`);
  });

  test("a token in a JSON body (store and read back) is refused, naming the secret, the place and the fix", () => {
    const body = JSON.stringify({ message: "notes", content: token });
    const out = bufferedBody(planned(planRequest(HOST, jsonPut(body), table))).rewrite(enc(body));
    const r = refusedFor(out);
    expect(r.secret).toBe("STORE_TOKEN");
    expect(r.reason).toContain('swap = ["header"]');
    expect(r.reason).toContain("the request body");
    expect(r.reason).toContain('add "body" to its swap');
  });

  test.each([
    ["form", "application/x-www-form-urlencoded", (t: string) => `text=${t}`],
    ["text", "text/plain", (t: string) => `note: ${t}`],
    ["multipart", "multipart/form-data; boundary=b", (t: string) => `--b\r\nContent-Disposition: form-data; name="f"\r\n\r\n${t}\r\n--b--\r\n`],
    ["untyped", undefined, (t: string) => t],
  ] as const)("a token in a %s body is refused", (_label, type, make) => {
    const body = make(token);
    const headers: [string, string][] = [["Content-Length", String(body.length)]];
    if (type) headers.push(["Content-Type", type]);
    const out = bufferedBody(planned(planRequest(HOST, head("/", headers, "POST"), table))).rewrite(enc(body));
    expect(refusedFor(out).secret).toBe("STORE_TOKEN");
  });

  test("a token in the query or the path is refused, raw or percent-encoded", () => {
    expect(refusedFor(planRequest(HOST, head(`/notes?content=${token}`), table)).reason).toContain("the URL's query string");
    expect(refusedFor(planRequest(HOST, head(`/kv/${token}`), table)).reason).toContain("the URL's path");
    expect(refusedFor(planRequest(HOST, head(`/kv/${token.replace(/_/g, "%5F")}?x=1`), table)).reason).toContain("the URL's path");
    expect(refusedFor(planRequest(HOST, head(`/q?a=${token.replace(/_/g, "%5f")}`), table)).reason).toContain("query");
  });

  test("a token in a chunked body is left inert (never the value) and reported", () => {
    const p = planned(planRequest(HOST, head("/", [["Content-Type", "application/json"], ["Transfer-Encoding", "chunked"]], "POST"), table));
    expect(p.body.kind).toBe("stream");
    const s = p.body as Extract<BodyPlan, { kind: "stream" }>;
    const body = JSON.stringify({ content: token });
    const out = dec(Buffer.concat([s.rewriter.push(enc(body.slice(0, 12))), s.rewriter.push(enc(body.slice(12))), s.rewriter.end()]));
    expect(out).toBe(body);
    expect(out).not.toContain(VALUE);
    expect(s.audit!()).toEqual({ swapped: [], inert: ["STORE_TOKEN"] });
  });
});

describe("opting in", () => {
  test('swap = ["body"]: the body is swapped, a header is now refused', () => {
    const { table, token } = tableWith(["body"]);
    const body = JSON.stringify({ content: token });
    const out = bufferedBody(planned(planRequest(HOST, jsonPut(body), table))).rewrite(enc(body));
    if (isRefusal(out)) throw new Error(out.reason);
    expect(JSON.parse(dec(out))).toEqual({ content: VALUE });
    expect(refusedFor(planRequest(HOST, head("/", [["Authorization", `Bearer ${token}`]]), table)).reason).toContain("a request header");
  });

  test('swap = ["query"] swaps the query, not the path; swap = ["path"] the path, not the query', () => {
    const query = tableWith(["query"]);
    expect(planned(planRequest(HOST, head(`/v1/models?key=${query.token}`), query.table)).head.target).toBe(`/v1/models?key=${VALUE}`);
    expect(refusedFor(planRequest(HOST, head(`/bot${query.token}/getMe`), query.table)).reason).toContain("the URL's path");

    const path = tableWith(["path"]);
    expect(planned(planRequest(HOST, head(`/bot${path.token}/getMe?x=1`), path.table)).head.target).toBe(`/bot${VALUE}/getMe?x=1`);
    expect(refusedFor(planRequest(HOST, head(`/getMe?token=${path.token}`), path.table)).reason).toContain("query");
  });

  test("a refusal for placement still comes after the host rule: a token bound elsewhere names its hosts", () => {
    const { table, token } = tableWith(["body"]);
    const r = refusedFor(planRequest({ host: "evil.test", port: 443, tls: true }, head("/", [["X-Key", token]]), table));
    expect(r.reason).toContain("may only be sent to api.store.test");
  });
});

describe("defaults by name", () => {
  test("an AWS secret access key is swapped nowhere; every other secret in a header", () => {
    expect(defaultSwap("AWS_SECRET_ACCESS_KEY")).toEqual([]);
    expect(defaultSwap("PROD_SECRET_ACCESS_KEY")).toEqual([]);
    expect(defaultSwap("AWS_ACCESS_KEY_ID")).toEqual(["header"]);
    expect(defaultSwap("AWS_SESSION_TOKEN")).toEqual(["header"]);
    expect(swapOf({ name: "AWS_SECRET_ACCESS_KEY", swap: ["header"] })).toEqual(["header"]);
  });

  test("the AWS secret key's token in any header is refused", () => {
    const { table, token } = tableWith(undefined, "AWS_SECRET_ACCESS_KEY");
    const r = refusedFor(planRequest(HOST, head("/bucket/key", [["x-note", token]], "PUT"), table));
    expect(r.reason).toContain("nowhere (it only signs requests)");
  });
});

describe("stored headers", () => {
  test("object-store metadata headers never get a value, whatever swap says", () => {
    const { table, token } = tableWith(["header", "query", "path", "body"]);
    for (const name of ["x-amz-meta-note", "X-Goog-Meta-Owner", "x-ms-meta-a", "X-Object-Meta-Color"]) {
      expect(refusedFor(planRequest(HOST, head("/bucket/key", [[name, `v ${token}`]], "PUT"), table)).reason).toContain(`${name} is object metadata`);
    }
    expect(planned(planRequest(HOST, head("/", [["x-amz-metadata-directive", "COPY"], ["X-Api-Key", token]]), table)).head.headers[1]).toEqual(["X-Api-Key", VALUE]);
  });
});
