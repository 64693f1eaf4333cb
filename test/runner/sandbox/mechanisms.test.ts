// The mechanisms' arguments as text: bubblewrap's argv and the macOS Seatbelt profile (macOS cannot run
// in CI, so its profile is checked here rule by rule), and the run's sandbox choice.

import { describe, expect, test } from "bun:test";
import type { KzConfig } from "../../../src/config/types.ts";
import { UsageError } from "../../../src/errors.ts";
import { bwrapArgs } from "../../../src/runner/sandbox/bubblewrap.ts";
import { sandboxChoice } from "../../../src/runner/sandbox/for-run.ts";
import { parseInitArgs } from "../../../src/runner/sandbox/init.ts";
import { sbplString, seatbeltProfile } from "../../../src/runner/sandbox/seatbelt.ts";

const policy = { hidden: ["/tmp"], readOnly: ["/home/u/p/.keyzero.toml"], noCreate: ["/home/u/p/.keyzero.local.toml"], pinned: ["/home", "/home/u", "/home/u/p"] };

describe("bubblewrap", () => {
  test("own PID namespace, fresh /proc, hidden folder as a 000 tmpfs, read-only binds, placeholder over absent paths", () => {
    const args = bwrapArgs({ policy, placeholder: "/run/kz/hidden", isolateNetwork: false, newSession: false, cwd: "/home/u/p" }, ["kz", "__sandbox-init", "--", "sh"]);
    const text = args.join(" ");
    expect(text).toContain("--die-with-parent --unshare-pid");
    expect(text).toContain("--bind / / --dev-bind /dev /dev --proc /proc --bind /home /home --bind /home/u /home/u --bind /home/u/p /home/u/p --perms");
    expect(text).toContain("--perms 0000 --tmpfs /tmp");
    expect(text).toContain("--ro-bind /home/u/p/.keyzero.toml /home/u/p/.keyzero.toml");
    expect(text).toContain("--ro-bind /run/kz/hidden /home/u/p/.keyzero.local.toml");
    expect(text).not.toContain("--unshare-net");
    expect(text).not.toContain("--new-session");
    expect(args.slice(-4)).toEqual(["kz", "__sandbox-init", "--", "sh"]);
    // Mounts come after / is bound, or they would be covered by it.
    expect(args.indexOf("--tmpfs")).toBeGreaterThan(args.indexOf("--proc"));
  });

  test("network = proxy cuts the network; a shared terminal gets its own session", () => {
    const args = bwrapArgs({ policy, placeholder: "/p", isolateNetwork: true, newSession: true, cwd: "/" }, ["true"]);
    expect(args).toContain("--unshare-net");
    expect(args).toContain("--new-session");
  });
});

describe("seatbelt (macOS)", () => {
  const profile = seatbeltProfile({ policy, network: "proxy", proxyPort: 41000, allowTcp: [{ host: "127.0.0.1", port: 5432 }] });

  test("hidden paths cannot be read or written; read-only and absent paths cannot be written, nor their folders renamed", () => {
    expect(profile).toStartWith("(version 1)\n(allow default)\n");
    expect(profile).toContain('(deny file-read* file-write* (subpath "/tmp"))');
    expect(profile).toContain('(deny file-write* (subpath "/home/u/p/.keyzero.toml") (subpath "/home/u/p/.keyzero.local.toml"))');
    expect(profile).toMatch(/\(deny file-write-unlink [^\n]*\(literal "\/home\/u\/p"\)/);
  });

  test("other processes (kz's own) are out of reach; proxy mode allows only the proxy and allow_tcp ports", () => {
    expect(profile).toContain("(deny process-info* signal mach-priv-task-port)\n(allow process-info* signal mach-priv-task-port (target same-sandbox))");
    expect(profile).toContain("(deny network-outbound)");
    expect(profile).toContain('(allow network-outbound (remote ip "localhost:41000"))');
    expect(profile).toContain('(allow network-outbound (remote ip "localhost:5432"))');
    expect(seatbeltProfile({ policy, network: "open", allowTcp: [] })).not.toContain("network-outbound");
  });

  test("paths are quoted: a quote or backslash cannot end the string, a control character is refused", () => {
    expect(sbplString('/a"b\\c')).toBe('"/a\\"b\\\\c"');
    expect(() => sbplString("/a\nb")).toThrow();
  });
});

describe("the run's sandbox choice", () => {
  const config = (blind: Partial<KzConfig["blind"]> = {}) =>
    ({ path: "/p/.keyzero.toml", blind: { resolve: {}, inspect: "bound", sandbox: true, network: "open", allowTcp: [], ...blind } }) as KzConfig;
  const flags = { blind: true, sandbox: false, noSandbox: false };

  test("on by default in blind mode, off for a plain run unless asked", () => {
    expect(sandboxChoice(config(), flags)).toEqual({ enabled: true, network: "open", warning: undefined });
    expect(sandboxChoice(config(), { ...flags, blind: false }).enabled).toBe(false);
    expect(sandboxChoice(config(), { ...flags, blind: false, sandbox: true }).enabled).toBe(true);
  });

  test("opting out warns, from the flag or the config", () => {
    expect(sandboxChoice(config(), { ...flags, noSandbox: true }).warning).toContain("--no-sandbox");
    expect(sandboxChoice(config({ sandbox: false }), flags).warning).toContain("[blind] sandbox = false");
  });

  test("network: the flag wins over the config; proxy needs the sandbox; bad values are usage errors", () => {
    expect(sandboxChoice(config({ network: "proxy" }), flags).network).toBe("proxy");
    expect(sandboxChoice(config({ network: "proxy" }), { ...flags, network: "open" }).network).toBe("open");
    expect(() => sandboxChoice(config(), { ...flags, noSandbox: true, network: "proxy" })).toThrow(UsageError);
    expect(() => sandboxChoice(config(), { ...flags, network: "closed" })).toThrow(UsageError);
    expect(() => sandboxChoice(config(), { ...flags, sandbox: true, noSandbox: true })).toThrow(UsageError);
  });
});

describe("the init's arguments", () => {
  test("relays and the command", () => {
    expect(parseInitArgs(["--relay", "127.0.0.1:8080=/t/p.sock", "--relay", "[::1]:5432=/t/d.sock", "--", "sh", "-c", "x"])).toEqual({
      relays: [
        { hostname: "127.0.0.1", port: 8080, socket: "/t/p.sock" },
        { hostname: "::1", port: 5432, socket: "/t/d.sock" },
      ],
      command: ["sh", "-c", "x"],
    });
    expect(() => parseInitArgs(["--", ])).toThrow();
    expect(() => parseInitArgs(["--what", "--", "sh"])).toThrow();
  });
});
