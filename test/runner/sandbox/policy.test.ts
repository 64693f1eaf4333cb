// The sandbox policy as a pure function of a config and an environment: what is hidden, what is
// read-only, what must not be created — with real files in a throwaway home (paths are resolved).

import { afterAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, realpathSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { KzConfig } from "../../../src/config/types.ts";
import { sandboxPolicy } from "../../../src/runner/sandbox/policy.ts";

const root = realpathSync(mkdtempSync(join(tmpdir(), "kz-policy-")));
afterAll(() => rmSync(root, { recursive: true, force: true }));

function touch(rel: string): string {
  const path = join(root, rel);
  mkdirSync(join(path, ".."), { recursive: true });
  writeFileSync(path, "x");
  return path;
}

function config(over: Partial<KzConfig> = {}): KzConfig {
  const dir = join(root, "home/project");
  return {
    path: join(dir, ".keyzero.toml"),
    dir,
    files: [join(dir, ".keyzero.toml")],
    providers: {},
    secrets: [],
    blind: { resolve: {}, inspect: "bound", sandbox: true, network: "open", allowTcp: [] },
    audit: {},
    ...over,
  };
}

const env = { HOME: join(root, "home") };
touch("home/project/.keyzero.toml");
touch("home/.vault-token");
touch("home/.aws/credentials");
touch("home/.config/keyzero/local.key");
touch("home/.local/share/keyzero/store.json");
touch("home/project/creds/db.txt");
touch("home/project/tokens/vault-jwt");
touch("home/kz-token");
touch("home/.local/state/keyzero/audit.jsonl");

describe("sandboxPolicy", () => {
  test("hides kz's folders, every backend's usual store and every file the config reads", () => {
    const cfg = config({
      providers: { vault: { auth: { method: "jwt", jwt_file: "tokens/vault-jwt" } }, kz: { token_file: "../kz-token", ca_file: "ca.pem" } },
      secrets: [{ name: "DB", provider: "file", ref: "creds/db.txt", optional: false, tokenFormat: "opaque", origin: "x" }],
    });
    const policy = sandboxPolicy({ config: cfg, env, cwd: cfg.dir });
    const home = join(root, "home");
    expect(policy.hidden.sort()).toEqual(
      [".config/keyzero", ".local/share/keyzero", ".vault-token", ".aws", "project/creds/db.txt", "project/tokens/vault-jwt", "kz-token"].map((p) => join(home, p)).sort(),
    );
  });

  test("keeps the config and the audit log's own folder read-only; an absent override must not be created", () => {
    const cfg = config();
    const audit = join(root, "home/.local/state/keyzero/audit.jsonl");
    const policy = sandboxPolicy({ config: cfg, env, cwd: cfg.dir, auditPath: audit });
    expect(policy.readOnly).toContain(cfg.path);
    expect(policy.readOnly).toContain(join(root, "home/.local/state/keyzero"));
    expect(policy.noCreate).toEqual([join(cfg.dir, ".keyzero.local.toml")]);
    // The folders above them are pinned, outermost first, so none of them can be renamed away.
    expect(policy.pinned).toContain(join(root, "home"));
    expect(policy.pinned).toContain(join(root, "home/.config"));
    expect(policy.pinned).toContain(cfg.dir);
    expect(policy.pinned.indexOf(join(root, "home"))).toBeLessThan(policy.pinned.indexOf(cfg.dir));
    expect(policy.pinned).not.toContain(join(root, "home/.config/keyzero")); // itself a mount point
  });

  test("an existing override is read-only instead; an audit log beside the config protects only itself", () => {
    const cfg = config();
    touch("home/project/.keyzero.local.toml");
    const audit = touch("home/project/kz-audit.jsonl");
    const policy = sandboxPolicy({ config: cfg, env, cwd: cfg.dir, auditPath: audit });
    expect(policy.readOnly).toContain(join(cfg.dir, ".keyzero.local.toml"));
    expect(policy.readOnly).toContain(audit);
    expect(policy.readOnly).not.toContain(cfg.dir); // the project stays writable
    expect(policy.noCreate).toEqual([]);
    rmSync(join(cfg.dir, ".keyzero.local.toml"));
  });

  test("a symlinked credential store is hidden where it really is; nested and missing paths collapse", () => {
    touch("elsewhere/aws/credentials");
    const home2 = join(root, "home2");
    mkdirSync(home2, { recursive: true });
    symlinkSync(join(root, "elsewhere/aws"), join(home2, ".aws"));
    const policy = sandboxPolicy({ config: config(), env: { HOME: home2 }, cwd: root });
    expect(policy.hidden).toContain(join(root, "elsewhere/aws"));
    expect(policy.hidden.some((p) => p.includes(".vault-token"))).toBe(false); // absent: nothing to hide
  });
});
