// WebSocket frames from the server are masked frame by frame at equal length: text and binary frames, a
// value split across the fragments of one message (with a ping between them), a close reason — fed in
// one piece, byte by byte, and at every split point. Frames kz cannot mask end the connection.

import { describe, expect, test } from "bun:test";
import { echoRewriter, maskFor } from "../../src/blind/rewrite/echo.ts";
import { mintTokens } from "../../src/blind/tokens.ts";
import { WsFrameError, WsServerMasker } from "../../src/blind/ws-mask.ts";
import { SecretValue } from "../../src/secret.ts";

const VALUE = "sk-fake-websocket-value-0001-abcdefghijkl";
const secrets = mintTokens([{ name: "API_KEY", value: new SecretValue(VALUE), hosts: ["api.example.test"], tokenFormat: "opaque" as const }]);
const token = secrets[0]!.token;

function frame(opcode: number, payload: Buffer, fin = true, rsv = 0, masked = false): Buffer {
  const b0 = (fin ? 0x80 : 0) | rsv | opcode;
  const len = payload.length;
  const head =
    len < 126
      ? Buffer.from([b0, (masked ? 0x80 : 0) | len])
      : len < 65536
        ? Buffer.from([b0, (masked ? 0x80 : 0) | 126, len >> 8, len & 0xff])
        : Buffer.concat([Buffer.from([b0, (masked ? 0x80 : 0) | 127]), (() => { const b = Buffer.alloc(8); b.writeBigUInt64BE(BigInt(len)); return b; })()]);
  return Buffer.concat([head, masked ? Buffer.alloc(4) : Buffer.alloc(0), payload]);
}

const masker = () => new WsServerMasker(echoRewriter(secrets).body, echoRewriter(secrets).body);

function run(chunks: Buffer[]): Buffer {
  const m = masker();
  const out = chunks.map((c) => Buffer.from(m.push(c)));
  out.push(Buffer.from(m.end()));
  return Buffer.concat(out);
}

/** Splits a server byte stream into [header byte 0, payload] per frame. */
function parse(bytes: Buffer): { b0: number; payload: Buffer }[] {
  const frames: { b0: number; payload: Buffer }[] = [];
  let i = 0;
  while (i < bytes.length) {
    const b0 = bytes[i]!;
    let len = bytes[i + 1]! & 0x7f;
    let at = i + 2;
    if (len === 126) (len = bytes.readUInt16BE(at)), (at += 2);
    else if (len === 127) (len = Number(bytes.readBigUInt64BE(at))), (at += 8);
    frames.push({ b0, payload: bytes.subarray(at, at + len) });
    i = at + len;
  }
  return frames;
}

const half = VALUE.length >> 1;
const stream = Buffer.concat([
  frame(1, Buffer.from(`{"echo":"${VALUE}"}`)),
  frame(2, Buffer.concat([Buffer.from([0, 1, 2]), Buffer.from(VALUE), Buffer.alloc(70000, 7)])), // 64-bit length
  frame(1, Buffer.from(`split: ${VALUE.slice(0, 5)}`), false),
  frame(9, Buffer.from("ping")),
  frame(0, Buffer.from(VALUE.slice(5, half)), false),
  frame(0, Buffer.from(`${VALUE.slice(half)} end`), true),
  frame(1, Buffer.from(Buffer.from(VALUE).toString("base64"))),
  frame(8, Buffer.concat([Buffer.from([0x03, 0xe8]), Buffer.from(`bye ${VALUE}`)])),
]);

describe("WebSocket server frames", () => {
  const whole = run([stream]);

  test("every frame keeps its header and length; no payload holds the value; the masks are the token", () => {
    expect(whole.length).toBe(stream.length);
    const before = parse(stream);
    const after = parse(whole);
    expect(after.map((f) => [f.b0, f.payload.length])).toEqual(before.map((f) => [f.b0, f.payload.length]));
    const all = Buffer.concat(after.map((f) => f.payload)).toString("latin1");
    expect(all).not.toContain(VALUE.slice(0, 12));
    expect(all).not.toContain(Buffer.from(VALUE).toString("base64").slice(4, 30));
    expect(after[0]!.payload.toString()).toBe(`{"echo":"${maskFor(token, VALUE.length)}"}`);
    const message = Buffer.concat([after[2]!.payload, after[4]!.payload, after[5]!.payload]).toString();
    expect(message).toBe(`split: ${maskFor(token, VALUE.length)} end`);
    expect(after[3]!.payload.toString()).toBe("ping");
    expect(after[7]!.payload.subarray(2).toString()).toBe(`bye ${maskFor(token, VALUE.length)}`);
  });

  test("byte by byte gives the same bytes", () => {
    expect(run([...stream].map((b) => Buffer.from([b]))).equals(whole)).toBe(true);
  });

  test("every split point gives the same bytes", () => {
    for (let i = 0; i <= stream.length; i += i < 200 || i > stream.length - 200 ? 1 : 997) {
      expect(run([stream.subarray(0, i), stream.subarray(i)]).equals(whole)).toBe(true);
    }
  });

  test("a complete message goes out at once, not held for the next one", () => {
    const m = masker();
    const text = frame(1, Buffer.from(`ends with a prefix ${VALUE.slice(0, 6)}`));
    expect(Buffer.from(m.push(text)).length).toBe(text.length);
  });

  test("compressed (RSV1) and masked server frames are refused", () => {
    expect(() => masker().push(frame(1, Buffer.from("x"), true, 0x40))).toThrow(WsFrameError);
    expect(() => masker().push(frame(1, Buffer.from("x"), true, 0, true))).toThrow(WsFrameError);
  });
});
