// resolveSecrets' per-provider timeout: a provider that does not answer in timeout_ms fails with the fix
// named and sees its abort signal fire; the signal exists only for providers that read it (start-up).

import { afterAll, expect, test } from "bun:test";
import type { KzConfig, SecretSpec } from "../../src/config/types.ts";
import { providerLoaders } from "../../src/providers/registry.ts";
import type { ProviderFactory } from "../../src/providers/types.ts";
import { resolveSecrets } from "../../src/resolve/resolve.ts";
import { SecretValue } from "../../src/secret.ts";

const spec = (name: string, provider: string): SecretSpec => ({ name, provider, ref: name, optional: false, tokenFormat: "prefixed" }) as unknown as SecretSpec;
const config = (providers: KzConfig["providers"]): KzConfig =>
  ({ path: "/x/.keyzero.toml", dir: "/x", files: [], providers, secrets: [], blind: {}, audit: {} }) as unknown as KzConfig;

let aborted: Promise<string>;
const hanging: ProviderFactory = () => ({
  fetch: (request) => {
    // Waits for the abort, as an HTTP client given the signal would.
    aborted = new Promise((resolve) => request.signal.addEventListener("abort", () => resolve("aborted"), { once: true }));
    return new Promise<SecretValue>(() => {});
  },
});
providerLoaders["test-hanging"] = async () => ({ default: hanging });
afterAll(() => delete providerLoaders["test-hanging"]);

test("a provider that does not answer within timeout_ms fails with the setting named, and its signal is aborted", async () => {
  const r = await resolveSecrets(config({ "test-hanging": { timeout_ms: 30 } }), [spec("SLOW", "test-hanging")]);
  expect(r.failures.map((f) => f.error)).toEqual(["test-hanging did not answer within 30 ms (set [providers.test-hanging] timeout_ms to wait longer)"]);
  expect(await aborted).toBe("aborted");
});

test("env secrets resolve without making an AbortController (the first one costs start-up time)", async () => {
  const Original = globalThis.AbortController;
  let made = 0;
  globalThis.AbortController = class extends Original {
    constructor() {
      super();
      made++;
    }
  };
  try {
    const r = await resolveSecrets(config({}), [spec("A", "env"), spec("B", "env")], { env: { A: "fake-a-value", B: "fake-b-value" } });
    expect([...r.values.keys()]).toEqual(["A", "B"]);
  } finally {
    globalThis.AbortController = Original;
  }
  expect(made).toBe(0);
});
