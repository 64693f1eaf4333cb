// Echo protection: real values (and the encoded forms kz produced) coming back in a response are
// replaced by a same-length mask derived from the token.
import { describe, expect, test } from "bun:test";
import { echoRewriter, maskFor } from "../../src/blind/rewrite/echo.ts";
import { planRequest } from "../../src/blind/rewrite/plan.ts";
import { isRefusal } from "../../src/blind/rewrite/context.ts";
import { SecretValue } from "../../src/secret.ts";
import { FAKE, dec, enc, fixture, github, head, leaksNoValue } from "./fixtures.ts";

const f = fixture();

function runStream(chunks: Uint8Array[], produced = [] as Parameters<typeof echoRewriter>[1]) {
  const echo = echoRewriter(f.secrets, produced);
  const out = chunks.map((c) => echo.body.push(c));
  out.push(echo.body.end());
  return { text: dec(Buffer.concat(out)), bytes: Buffer.concat(out), masked: echo.masked() };
}

describe("maskFor", () => {
  test.each([
    ["KZ_TOK_abcdef", 13, "KZ_TOK_abcdef"],
    ["KZ_TOK_abcdef", 5, "KZ_TO"],
    ["KZ_TOK_abcdef", 16, "KZ_TOK_abcdef___"],
  ])("maskFor(%p, %p) = %p", (token, length, mask) => {
    expect(maskFor(token, length)).toBe(mask);
  });
});

describe("echo masking", () => {
  test("a raw value in a response body becomes a same-length mask from its token", () => {
    const body = `{"echo":"${FAKE.GITHUB_TOKEN}","ok":true}`;
    const { text, masked } = runStream([enc(body)]);
    expect(text).toBe(`{"echo":"${maskFor(f.token("GITHUB_TOKEN"), FAKE.GITHUB_TOKEN.length)}","ok":true}`);
    expect(enc(text).length).toBe(enc(body).length);
    expect(leaksNoValue(text)).toBe(true);
    expect(masked).toEqual(["GITHUB_TOKEN"]);
  });

  test("a value split across two chunks is masked at every split point, length unchanged", () => {
    const body = `before ${FAKE.OPENAI_API_KEY} after ${FAKE.SHORT_KEY}.`;
    const whole = runStream([enc(body)]).text;
    expect(leaksNoValue(whole)).toBe(true);
    for (let i = 0; i <= body.length; i++) {
      const { bytes, text } = runStream([enc(body.slice(0, i)), enc(body.slice(i))]);
      expect(text).toBe(whole);
      expect(bytes.length).toBe(enc(body).length);
    }
  });

  test("values shorter than 6 characters are masked too", () => {
    expect(runStream([enc(`pin=${FAKE.SHORT_KEY}`)]).text).toBe(`pin=${maskFor(f.token("SHORT_KEY"), 4)}`);
  });

  test("the base64 Basic credential kz built is masked when a server echoes it back", () => {
    const basic = `Basic ${Buffer.from(`user:${f.token("GITHUB_TOKEN")}`).toString("base64")}`;
    const p = planRequest(github, head("/", [["Authorization", basic]]), f.table);
    if (isRefusal(p)) throw new Error(p.reason);
    const sent = p.head.headers[0]![1].slice("Basic ".length);
    const body = `{"headers":{"Authorization":"Basic ${sent}"}}`;
    const split = body.indexOf(sent) + 7;
    const { text, bytes } = runStream([enc(body.slice(0, split)), enc(body.slice(split))], p.produced);
    expect(text.includes(sent)).toBe(false);
    expect(text).toBe(body.replace(sent, maskFor(f.token("GITHUB_TOKEN"), sent.length)));
    expect(bytes.length).toBe(enc(body).length);
  });

  test("JSON-escaped and percent-encoded forms of a value are masked", () => {
    const jsonForm = JSON.stringify(FAKE.LOCAL_KEY).slice(1, -1);
    const urlForm = encodeURIComponent(FAKE.LOCAL_KEY);
    const body = `{"a":"${jsonForm}","url":"/x?k=${urlForm}"}`;
    const { text } = runStream([enc(body)]);
    expect(text.includes(jsonForm)).toBe(false);
    expect(text.includes(urlForm)).toBe(false);
    expect(enc(text).length).toBe(enc(body).length);
    expect(JSON.parse(text).a).toBe(maskFor(f.token("LOCAL_KEY"), jsonForm.length));
  });

  test("a produced form is matched to its own secret's token", () => {
    const form = "ZmFrZS1wcm9kdWNlZC1mb3JtLTAwMDE=";
    const { text } = runStream([enc(`x ${form} y`)], [{ secret: "SLACK_BOT_TOKEN", form: new SecretValue(form) }]);
    expect(text).toBe(`x ${maskFor(f.token("SLACK_BOT_TOKEN"), form.length)} y`);
  });

  test("response header values are masked", () => {
    const echo = echoRewriter(f.secrets);
    expect(echo.header(`token=${FAKE.SLACK_BOT_TOKEN}; Path=/`)).toBe(`token=${maskFor(f.token("SLACK_BOT_TOKEN"), FAKE.SLACK_BOT_TOKEN.length)}; Path=/`);
    expect(echo.header("no secret here")).toBe("no secret here");
    expect(echo.masked()).toEqual(["SLACK_BOT_TOKEN"]);
  });

  test("a response without values streams through unchanged", () => {
    const body = enc("plain response body ".repeat(1000));
    const { bytes, masked } = runStream([body.subarray(0, 777), body.subarray(777)]);
    expect(Buffer.compare(bytes, Buffer.from(body))).toBe(0);
    expect(masked).toEqual([]);
  });
});

describe("one matcher per run", () => {
  test("rewriters built from the same list share nothing per response: each reports only its own masks", () => {
    const value = f.secrets[0]!.value.reveal();
    const first = echoRewriter(f.secrets);
    first.body.push(enc(`echo ${value}`));
    first.body.end();
    const second = echoRewriter(f.secrets);
    expect(dec(Buffer.concat([second.body.push(enc("nothing here")), second.body.end()]))).toBe("nothing here");
    expect(first.masked()).toEqual([f.secrets[0]!.name]);
    expect(second.masked()).toEqual([]);
  });
});
