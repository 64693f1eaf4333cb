// The check every provider test makes of a failure: it is a ProviderError, its message is one line, and
// no credential the test knows of appears in it.

import { expect } from "bun:test";
import { ProviderError } from "../../src/providers/types.ts";

/** Asserts `message` is one line holding none of `sensitive`; returns it. */
export function expectSafeMessage(message: string, sensitive: readonly unknown[]): string {
  for (const value of sensitive) expect(message).not.toContain(String(value));
  expect(message).not.toContain("\n");
  return message;
}

/** The ProviderError message `work` rejects with, checked to reveal none of `sensitive`. */
export async function providerFailure(work: Promise<unknown>, sensitive: readonly unknown[]): Promise<string> {
  const error = await work.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ProviderError);
  return expectSafeMessage((error as Error).message, sensitive);
}
