// The pure half of approval: the effective bindings of a config, their fingerprint, and the per-key
// difference with what a hostile edit loosens called out (blind = false, more hosts, more places, a
// weaker [blind] setting), naming the local override when it is the source.
import { describe, expect, test } from "bun:test";
import { bindingsOf, diffBindings, fingerprint, formatChange, isLocalOverride } from "../../src/config/bindings.ts";
import type { KzConfig, SecretSpec } from "../../src/config/types.ts";

function spec(name: string, extra: Partial<SecretSpec> = {}): SecretSpec {
  return { name, provider: "local", ref: name, optional: false, tokenFormat: "opaque", hosts: ["api.openai.com"], origin: ".keyzero.toml:3", ...extra };
}

function config(secrets: SecretSpec[], blind: Partial<KzConfig["blind"]> = {}): KzConfig {
  return {
    path: "/p/.keyzero.toml",
    dir: "/p",
    files: ["/p/.keyzero.toml"],
    providers: {},
    secrets,
    blind: { resolve: {}, inspect: "bound", sandbox: true, network: "open", allowTcp: [], ...blind },
    audit: {},
  };
}

const base = bindingsOf(config([spec("OPENAI_API_KEY"), spec("RAW", { blind: false, hosts: undefined })])).bindings;

describe("fingerprint", () => {
  test("the same bindings, however written, give the same fingerprint; any binding change gives another", () => {
    const reordered = bindingsOf(config([spec("RAW", { blind: false, hosts: undefined, origin: "x:9" }), spec("OPENAI_API_KEY", { origin: "y:1" })])).bindings;
    expect(fingerprint(reordered)).toBe(fingerprint(base));
    const variants: SecretSpec[] = [
      spec("OPENAI_API_KEY", { hosts: ["api.openai.com", "evil.test"] }),
      spec("OPENAI_API_KEY", { swap: ["header", "body"] }),
      spec("OPENAI_API_KEY", { blind: false }),
      spec("OPENAI_API_KEY", { ref: "OTHER" }),
      spec("OPENAI_API_KEY", { provider: "env" }),
      spec("OPENAI_API_KEY", { field: "token" }),
    ];
    for (const v of variants) {
      expect(fingerprint(bindingsOf(config([v, spec("RAW", { blind: false, hosts: undefined })])).bindings)).not.toBe(fingerprint(base));
    }
    expect(fingerprint(bindingsOf(config([spec("OPENAI_API_KEY"), spec("RAW", { blind: false, hosts: undefined })], { sandbox: false })).bindings)).not.toBe(
      fingerprint(base),
    );
  });

  test("an explicit default swap is the same binding as none", () => {
    const explicit = bindingsOf(config([spec("OPENAI_API_KEY", { swap: ["header"] }), spec("RAW", { blind: false, hosts: undefined })])).bindings;
    expect(fingerprint(explicit)).toBe(fingerprint(base));
  });

  test("the upstream CA counts by its content, not only its path", () => {
    const a = bindingsOf(config([]), { upstreamCa: { path: "/p/ca.pem", sha256: "aa" } }).bindings;
    const b = bindingsOf(config([]), { upstreamCa: { path: "/p/ca.pem", sha256: "bb" } }).bindings;
    expect(fingerprint(a)).not.toBe(fingerprint(b));
  });
});

describe("diff", () => {
  test("first use: every secret is added, defaults are not listed, blind = false is called out", () => {
    const changes = diffBindings(undefined, base);
    expect(changes.map((c) => `${c.kind} ${c.key}`)).toEqual(["added secrets.OPENAI_API_KEY", "added secrets.RAW"]);
    expect(changes.flatMap(formatChange)).toEqual([
      '+ OPENAI_API_KEY: provider "local", ref "OPENAI_API_KEY", hosts ["api.openai.com"], swap ["header"]',
      '+ RAW: provider "local", ref "RAW", blind false',
      "    ! RAW: blind = false — its real value is handed to the command",
    ]);
  });

  test("widened hosts from the local override: the change, its file and line, and the warning", () => {
    const { bindings, origins } = bindingsOf(
      config([spec("OPENAI_API_KEY", { hosts: ["api.openai.com", "evil.test"], origin: ".keyzero.local.toml:2" }), spec("RAW", { blind: false, hosts: undefined })]),
    );
    const [change, ...rest] = diffBindings(base, bindings, origins);
    expect(rest).toEqual([]);
    expect(formatChange(change!)).toEqual([
      '~ OPENAI_API_KEY: hosts ["api.openai.com"] → ["api.openai.com","evil.test"]   (.keyzero.local.toml:2)',
      "    ! OPENAI_API_KEY: may now be sent to evil.test — from .keyzero.local.toml:2 (a local override kept out of git: nobody reviewed it)",
    ]);
  });

  test("blind = false planted in the local override is called out against the main file even on first use", () => {
    const { bindings, origins } = bindingsOf(config([spec("OPENAI_API_KEY", { blind: false, origin: "sub/.keyzero.local.toml:4" })]));
    const mainFile = bindingsOf(config([spec("OPENAI_API_KEY")])).bindings.secrets;
    const [change] = diffBindings(undefined, bindings, origins, mainFile);
    expect(change!.warnings).toEqual([
      "OPENAI_API_KEY: blind = false — its real value is handed to the command — from sub/.keyzero.local.toml:4 (a local override kept out of git: nobody reviewed it)",
    ]);
  });

  test("more places in a request, hosts = [\"*\"], a removed secret", () => {
    const { bindings } = bindingsOf(config([spec("OPENAI_API_KEY", { swap: ["header", "body"], hosts: ["*"] })]));
    const changes = diffBindings(base, bindings);
    expect(changes.map((c) => c.kind)).toEqual(["changed", "removed"]);
    expect(changes[0]!.warnings).toEqual([
      "OPENAI_API_KEY: may now be sent to *",
      'OPENAI_API_KEY: hosts = ["*"] — may be sent to any host',
      "OPENAI_API_KEY: may be swapped into body, where an API can store it and give it back",
    ]);
    expect(formatChange(changes[1]!)).toEqual(["- RAW: removed"]);
  });

  test("weaker [blind] settings are called out", () => {
    const { bindings } = bindingsOf(
      config([spec("OPENAI_API_KEY"), spec("RAW", { blind: false, hosts: undefined })], { sandbox: false, resolve: { "api.openai.com:443": "10.0.0.9:443" } }),
    );
    const warnings = diffBindings(base, bindings).flatMap((c) => c.warnings);
    expect(warnings).toEqual(["[blind] resolve sends api.openai.com:443 to 10.0.0.9:443", "[blind] sandbox = false — the command runs outside the sandbox"]);
  });

  test("unchanged bindings have no difference", () => {
    expect(diffBindings(base, base)).toEqual([]);
  });

  test("the local override is recognised by its file name only", () => {
    expect(isLocalOverride(".keyzero.local.toml:3")).toBe(true);
    expect(isLocalOverride("/a/b/.keyzero.local.toml:12")).toBe(true);
    expect(isLocalOverride(".keyzero.toml:3")).toBe(false);
    expect(isLocalOverride("not.keyzero.local.toml:3")).toBe(false);
  });
});
