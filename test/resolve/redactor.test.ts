import { describe, expect, test } from "bun:test";
import { Redactor } from "../../src/resolve/redactor.ts";

const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array) => new TextDecoder().decode(b);

function run(secrets: { name: string; value: string }[], chunks: string[]): { out: string; perChunk: string[] } {
  const r = new Redactor(secrets);
  const perChunk = chunks.map((c) => dec(r.push(enc(c))));
  const out = perChunk.join("") + dec(r.end());
  return { out, perChunk };
}

describe("Redactor", () => {
  const key = { name: "API_KEY", value: "sk-fake-0123456789" };

  test("masks a value in one chunk", () => {
    expect(run([key], ["token=sk-fake-0123456789 done\n"]).out).toBe("token=[kz:API_KEY] done\n");
  });

  test("masks a value split across chunks at every position", () => {
    const text = `a ${key.value} b`;
    for (let cut = 1; cut < text.length; cut++) {
      const { out } = run([key], [text.slice(0, cut), text.slice(cut)]);
      expect(out).toBe("a [kz:API_KEY] b");
    }
  });

  test("masks a value dribbled one byte at a time", () => {
    expect(run([key], [...`x${key.value}y`]).out).toBe("x[kz:API_KEY]y");
  });

  test("holds back only a tail that could start a value", () => {
    const { perChunk } = run([key], ["Password: ", "sk-fa", "ke-0123456789\n"]);
    expect(perChunk[0]).toBe("Password: "); // a prompt is not delayed
    expect(perChunk[1]).toBe(""); // could be the start of the value
    expect(perChunk[2]).toBe("[kz:API_KEY]\n");
  });

  test("a held tail that turns out not to be a value is released", () => {
    expect(run([key], ["see sk-fa", "ncy\n"]).out).toBe("see sk-fancy\n");
    expect(run([key], ["end sk-f"]).out).toBe("end sk-f");
  });

  test("longest value wins when one contains another", () => {
    const short = { name: "SHORT", value: "abcdef" };
    const long = { name: "LONG", value: "abcdef-ghijkl" };
    expect(run([short, long], ["x abcdef-ghijkl abcdef y"]).out).toBe("x [kz:LONG] [kz:SHORT] y");
  });

  test("values shorter than 6 characters are not masked", () => {
    expect(run([{ name: "PIN", value: "1234" }], ["pin 1234\n"]).out).toBe("pin 1234\n");
  });

  test("colour codes around a value survive", () => {
    expect(run([key], [`\x1b[31m${key.value}\x1b[0m`]).out).toBe("\x1b[31m[kz:API_KEY]\x1b[0m");
  });

  test("multibyte text split mid-character passes through intact", () => {
    const bytes = enc("héllo ✓ wörld");
    const r = new Redactor([key]);
    const out = [r.push(bytes.subarray(0, 2)), r.push(bytes.subarray(2, 9)), r.push(bytes.subarray(9)), r.end()];
    expect(dec(Buffer.concat(out))).toBe("héllo ✓ wörld");
  });

  test("maskText does not disturb a stream in progress", () => {
    const r = new Redactor([key]);
    const held = r.push(enc("x sk-fake-01"));
    expect(r.maskText(`error ${key.value}`)).toBe("error [kz:API_KEY]");
    expect(dec(held) + dec(r.push(enc("23456789"))) + dec(r.end())).toBe("x [kz:API_KEY]");
  });
});

test("a short value complete inside the held start of a longer one is masked at end of stream", () => {
  const long = { name: "LONG", value: "fakeabcdefgh" };
  const short = { name: "SHORT", value: "abcdef" };
  expect(run([long, short], ["x fakeabcdef"]).out).toBe("x fake[kz:SHORT]");
});
