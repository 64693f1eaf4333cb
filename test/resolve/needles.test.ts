import { describe, expect, test } from "bun:test";
import { Needles, spliceBytes, spliceText } from "../../src/resolve/needles.ts";
import { SplicingStream } from "../../src/resolve/splicing-stream.ts";
import { concatBytes } from "../../src/resolve/needles.ts";
import { dec, enc } from "../blind/fixtures.ts";

/** Replaces needle i by "<i>". */
function replaceAll(needles: Needles, text: string): string {
  return spliceText(text, needles.findInText(text), (m) => `<${m.needle}>`);
}

function streamAll(needles: Needles, chunks: string[]): string {
  const stream = new SplicingStream(needles, (m) => enc(`<${m.needle}>`));
  return dec(concatBytes([...chunks.map((c) => stream.push(enc(c))), stream.end()]));
}

describe("Needles", () => {
  const cases: [needles: string[], text: string, expected: string][] = [
    [["abc"], "xxabcxxabc", "xx<0>xx<0>"],
    [["abc", "abcdef"], "abcdefabc", "<1><0>"], // longest at the same position
    [["bcd", "abcde"], "abcde", "<1>"], // leftmost wins over shorter-later
    [["aa"], "aaaaa", "<0><0>a"], // no overlaps
    [["cde", "abc"], "abcde", "<1>de"],
    [["x"], "", ""],
    [["KZ_TOK_1", "KZ_TOK_2"], "KZ_TOK_2 KZ_TOK_1", "<1> <0>"],
  ];
  test.each(cases)("%p in %p → %p (text and bytes agree)", (list, text, expected) => {
    const needles = new Needles(list);
    expect(replaceAll(needles, text)).toBe(expected);
    const bytes = spliceBytes(enc(text), needles.findInBytes(enc(text)), (m) => enc(`<${m.needle}>`));
    expect(dec(bytes)).toBe(expected);
  });

  test("an empty needle is rejected", () => {
    expect(() => new Needles(["a", ""])).toThrow();
  });

  test("heldTailStart holds only a tail that could start a needle", () => {
    const needles = new Needles(["KZ_TOK_abc"]);
    expect(needles.heldTailStart(enc("hello KZ_T"))).toBe(6);
    expect(needles.heldTailStart(enc("hello KZ_X"))).toBe(10);
    expect(needles.heldTailStart(enc("hello KZ_TOK_abc"))).toBe(16); // a complete needle is not held
  });
});

describe("SplicingStream", () => {
  const needles = new Needles(["KZ_TOK_one", "KZ_TOK_onetwo", "cd"]);
  const text = "xx KZ_TOK_one yy KZ_TOK_onetwo zz abcd KZ_TOK_o";
  const whole = replaceAll(needles, text);

  test("every split point gives the same result as the whole text", () => {
    for (let i = 0; i <= text.length; i++) {
      expect(streamAll(needles, [text.slice(0, i), text.slice(i)])).toBe(whole);
    }
  });

  test("one byte at a time gives the same result", () => {
    expect(streamAll(needles, [...text])).toBe(whole);
  });

  test("end() still replaces a short needle inside an unfinished longer one", () => {
    const overlapping = new Needles(["abcdefgh", "cdef"]);
    expect(streamAll(overlapping, ["xx abcdef"])).toBe("xx ab<1>");
  });

  test("output is not delayed beyond a possible needle start", () => {
    const stream = new SplicingStream(needles, () => enc("!"));
    expect(dec(stream.push(enc("prompt> ")))).toBe("prompt> ");
    expect(dec(stream.push(enc("KZ_TOK_")))).toBe("");
    expect(dec(stream.push(enc("onx")))).toBe("KZ_TOK_onx");
  });
});
