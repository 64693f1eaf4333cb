// Echo masking of encoded forms: a real value echoed back base64'd (at any alignment inside a larger
// blob), hex'd, upper-cased, HTML-escaped, \u-escaped or percent-encoded is masked at the same length,
// also when split across chunks. The echoed forms are made here with independent encoders (Buffer,
// encodeURIComponent, hand-written escapes), not with the code under test.

import { describe, expect, test } from "bun:test";
import { randomBytes } from "node:crypto";
import { echoRewriter } from "../../src/blind/rewrite/echo.ts";
import { base64Inner, echoForms } from "../../src/blind/rewrite/echo-forms.ts";
import { Needles } from "../../src/resolve/needles.ts";
import { mintTokens } from "../../src/blind/tokens.ts";
import { SecretValue } from "../../src/secret.ts";

const VALUE = 'sk-live/Fake+Key "0001" <&> é-abcdefghijklmnop';
const PLAIN = "ghp_fakeGithubToken0001abcdefghijklmnopq";
const secrets = mintTokens([
  { name: "API_KEY", value: new SecretValue(VALUE), hosts: ["api.example.test"], tokenFormat: "opaque" as const },
  { name: "GH", value: new SecretValue(PLAIN), hosts: ["api.github.com"], tokenFormat: "opaque" as const },
]);

function mask(chunks: Uint8Array[]): Buffer {
  const echo = echoRewriter(secrets);
  const out = chunks.map((c) => Buffer.from(echo.body.push(c)));
  out.push(Buffer.from(echo.body.end()));
  return Buffer.concat(out);
}

const u = (s: string) => [...s].map((c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`).join("");
const htmlNamed = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;").replace(/'/g, "&#x27;");
const htmlDec = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
const htmlHexUpper = (s: string) => s.replace(/[&<>"'\u0080-\uffff]/g, (c) => `&#X${c.charCodeAt(0).toString(16).toUpperCase()};`);
const goJson = (s: string) => JSON.stringify(s).slice(1, -1).replace(/[<>&]/g, (c) => `\\u00${c.charCodeAt(0).toString(16)}`);
const pyJson = (s: string) => JSON.stringify(s).slice(1, -1).replace(/[\u0080-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
const phpJson = (s: string) => pyJson(s).replace(/\//g, "\\/");

/** Echoed forms of `v` and how to read each back (so the test can say the value is not in it). */
function echoedForms(v: string): [string, string][] {
  const b = Buffer.from(v);
  return [
    ["raw", v],
    ["upper", v.replace(/[a-z]+/g, (s) => s.toUpperCase())],
    ["lower", v.replace(/[A-Z]+/g, (s) => s.toLowerCase())],
    ["json", JSON.stringify(v).slice(1, -1)],
    ["json \\u all", u(v)],
    ["json Go", goJson(v)],
    ["json Python", pyJson(v)],
    ["json PHP", phpJson(v)],
    ["percent", encodeURIComponent(v)],
    ["percent lower-case hex", encodeURIComponent(v).replace(/%[0-9A-F]{2}/g, (e) => e.toLowerCase())],
    ["form", encodeURIComponent(v).replace(/%20/g, "+")],
    ["percent twice", encodeURIComponent(encodeURIComponent(v))],
    ["html named", htmlNamed(v)],
    ["html decimal", htmlDec(v)],
    ["html hex upper", htmlHexUpper(v)],
    ["hex", b.toString("hex")],
    ["HEX", b.toString("hex").toUpperCase()],
    ["base64", b.toString("base64")],
    ["base64url", b.toString("base64url")],
  ];
}

describe("echo forms", () => {
  for (const value of [VALUE, PLAIN]) {
    for (const [kind, form] of echoedForms(value)) {
      test(`${kind} of ${value === VALUE ? "a value with specials" : "a plain token"} is masked, same length, at every split`, () => {
        const body = `{"echo":"${form}","n":1}`;
        const whole = mask([Buffer.from(body)]);
        expect(whole.length).toBe(Buffer.byteLength(body));
        expect(whole.toString()).not.toContain(form);
        expect(whole.toString()).toContain('","n":1}');
        for (let i = 0; i <= body.length; i += 3) {
          expect(mask([Buffer.from(body.slice(0, i)), Buffer.from(body.slice(i))]).equals(whole)).toBe(true);
        }
      });
    }
  }

  for (const alphabet of ["base64", "base64url"] as const) {
    test(`${alphabet}: the value inside a larger blob is masked at each of the 3 alignments, and the blob still decodes`, () => {
      for (let a = 0; a < 6; a++) {
        const blob = Buffer.concat([randomBytes(a + 5), Buffer.from(`Authorization: Bearer ${PLAIN}\r\n`), randomBytes(7)]);
        const encoded = blob.toString(alphabet);
        const out = mask([Buffer.from(`data=${encoded};`)]).toString();
        expect(out.length).toBe(encoded.length + 6);
        const masked = out.slice(5, -1);
        expect(masked).toMatch(alphabet === "base64" ? /^[A-Za-z0-9+/=]+$/ : /^[A-Za-z0-9_-]+$/);
        expect(Buffer.from(masked, alphabet).toString("latin1")).not.toContain(PLAIN);
        // Not even most of it survives: the stable inner run is gone.
        expect(Buffer.from(masked, alphabet).toString("latin1")).not.toContain(PLAIN.slice(2, -2));
      }
    });
  }

  test("hex is masked with hex digits, so it still decodes", () => {
    const hex = Buffer.from(PLAIN).toString("hex").toUpperCase();
    const out = mask([Buffer.from(`x=${hex}.`)]).toString();
    expect(out.slice(2, -1)).toMatch(/^[0-9a-f]+$/i);
    expect(out).not.toContain(hex);
  });

  test("base64 inner runs: every alignment's run is what a blob holding the value contains", () => {
    const bytes = Buffer.from(PLAIN);
    const runs = base64Inner(bytes, "base64");
    expect(runs).toHaveLength(3);
    for (let a = 0; a < 3; a++) {
      const blob = Buffer.concat([Buffer.alloc(a, 0xff), bytes, Buffer.from([0xfe])]).toString("base64");
      expect(blob).toContain(runs[a]!);
    }
  });

  test("a plain alphanumeric token has few forms (the escapes collapse into the raw value)", () => {
    const forms = echoForms(PLAIN);
    expect(forms[0]).toEqual({ text: PLAIN, caseless: true, alphabet: "token" });
    expect(forms.length).toBeLessThanOrEqual(12);
  });

  test("short derived forms are left out; the raw value is kept however short", () => {
    const forms = echoForms("f4k3");
    expect(forms[0]!.text).toBe("f4k3");
    expect(forms.every((f) => f.text === "f4k3" || f.text.length >= 8)).toBe(true);
  });

  test("a value in a header is masked in its encoded forms too", () => {
    const echo = echoRewriter(secrets);
    const b64 = Buffer.from(`u:${VALUE}`).toString("base64");
    const out = echo.header(`Basic ${b64}`);
    expect(out.length).toBe(b64.length + 6);
    expect(Buffer.from(out.slice(6), "base64").toString()).not.toContain(VALUE);
    expect(echo.header(`https://x.test/cb?k=${encodeURIComponent(PLAIN.toUpperCase())}`)).not.toContain(PLAIN.toUpperCase());
    expect(echo.masked()).toEqual(["API_KEY", "GH"]);
  });
});

describe("caseless needles", () => {
  test("find in bytes and text, any case, same offsets", () => {
    const needles = new Needles(["AbC", "xyz"], { caseless: [true, false] });
    expect(needles.findInText("..abc..ABC..XYZ..xyz").map((m) => [m.at, m.needle])).toEqual([[2, 0], [7, 0], [17, 1]]);
    expect(needles.findInBytes(Buffer.from("..abc..ABC..XYZ..xyz")).map((m) => [m.at, m.needle])).toEqual([[2, 0], [7, 0], [17, 1]]);
  });

  test("a caseless needle found through its non-letter anchor, in bytes and text, hits and near misses", () => {
    const needles = new Needles(["sk-Key-0001-ABCD"], { caseless: [true] });
    const hay = "x SK-KEY-0001-abcd y sk-key-0001-abce z Sk-kEy-0001-AbCd";
    expect(needles.findInText(hay).map((m) => m.at)).toEqual([2, 40]);
    expect(needles.findInBytes(Buffer.from(hay)).map((m) => m.at)).toEqual([2, 40]);
    expect(needles.findInText("-0001-abcd").length).toBe(0); // the anchor alone, no room before it
  });

  test("a held tail may be a prefix in another case", () => {
    const needles = new Needles(["secret"], { caseless: [true] });
    expect(needles.heldTailStart(Buffer.from("hello SEC"))).toBe(6);
    expect(needles.heldTailStart(Buffer.from("hello SEX"))).toBe(9);
  });

  test("non-ASCII text keeps its offsets (only ASCII letters fold)", () => {
    const needles = new Needles(["kéy"], { caseless: [true] });
    expect(needles.findInText("İ KÉY kéy KéY").map((m) => m.at)).toEqual([6, 10]);
  });
});
