// closeOwnProcess's choice of way to reach prctl: the flag must read back as set, or the next way is tried.
// (That kz really is closed to a same-user process is tested end to end in test/e2e/dumpable.test.ts.)

import { expect, test } from "bun:test";
import { FFIType } from "bun:ffi";
import { closeOwnProcess, FFI_I32, FFI_U64, nativePrctl } from "../../src/harden.ts";

test("the type codes given to Bun's native binding are bun:ffi's", () => {
  expect(FFI_I32).toBe(FFIType.i32);
  expect(FFI_U64).toBe(FFIType.u64);
});

test("this Bun has the native binding, so start-up skips loading bun:ffi", () => {
  expect(nativePrctl()).toBeDefined();
});

/** A fake prctl: what PR_SET_DUMPABLE returns, and what PR_GET_DUMPABLE reads back afterwards. */
function fake(setReturns: number, dumpableAfter: number, calls: string[], name: string) {
  return () => (option: number) => {
    calls.push(`${name}:${option}`);
    return option === 4 ? setReturns : dumpableAfter;
  };
}

test.skipIf(process.platform !== "linux")("a way whose flag does not read back as 0 is not trusted: the next one is used", () => {
  const calls: string[] = [];
  const ok = closeOwnProcess([fake(0, 1, calls, "ignored"), fake(0, 0, calls, "works")]);
  expect(ok).toBe(true);
  expect(calls).toEqual(["ignored:4", "ignored:3", "works:4", "works:3"]);
});

test.skipIf(process.platform !== "linux")("a way that throws, is missing or fails is skipped; none working is reported", () => {
  const calls: string[] = [];
  const throws = () => {
    throw new Error("no binding");
  };
  expect(closeOwnProcess([throws, () => undefined, fake(-1, 1, calls, "fails")])).toBe(false);
  expect(calls).toEqual(["fails:4"]);
});
