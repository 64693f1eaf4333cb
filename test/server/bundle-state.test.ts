import { expect, test } from "bun:test";
import { freshProviders, PROVIDER_LIFETIME_MS, type BundleState } from "../../src/server/bundle-state.ts";

test("provider instances are renewed after their lifetime, so rotated values and expired logins recover", () => {
  const state = { providers: new Map(), providersSince: 1_000 } as unknown as BundleState;
  const first = freshProviders(state, 1_000);
  first.set("vault", Promise.resolve({} as never));
  expect(freshProviders(state, 1_000 + PROVIDER_LIFETIME_MS - 1)).toBe(first);
  const renewed = freshProviders(state, 1_000 + PROVIDER_LIFETIME_MS);
  expect(renewed).not.toBe(first);
  expect(renewed.size).toBe(0);
  expect(state.providersSince).toBe(1_000 + PROVIDER_LIFETIME_MS);
});
