// Writes bundle files into a temporary directory for policy and bundle tests.

import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export const FIXTURES = join(import.meta.dir, "fixtures");
export const SEED_BUNDLE = join(FIXTURES, "seed", "bundle.yaml");
export const FIXTURE_JWKS = join(FIXTURES, "seed", "jwks.json");

/** A credential-looking string the fixtures carry, which no message may ever contain. */
export const FAKE_VALUE = "fake-role-id-0001";

export const ISSUER_YAML = `issuers:
- name: local
  issuer: https://idp.example.test
  audience: keyzero
  jwks_file: ${FIXTURE_JWKS}
  algorithms: [ES256]
`;

export function tempBundles(prefix: string) {
  const root = mkdtempSync(join(tmpdir(), prefix));
  let n = 0;
  return {
    root,
    /** Writes `files` into a fresh directory; returns the path of its bundle.yaml. */
    write(files: Record<string, string>): string {
      const dir = join(root, `b${n++}`);
      mkdirSync(dir, { recursive: true });
      for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
      return join(dir, "bundle.yaml");
    },
    cleanup() {
      rmSync(root, { recursive: true, force: true });
    },
  };
}
