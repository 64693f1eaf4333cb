// The "namespaces" mechanism's pure parts (unshare's argv, the mount plan, the capability drop), the
// order in which kz picks a Linux mechanism, and the init failing closed: a mount plan it cannot apply
// ends it with exit 5, the reason left for kz's one line, and the command never started.

import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chooseMechanism, linuxCandidates, mechanismOrder, type Candidates } from "../../../src/runner/sandbox/mechanism.ts";
import { initArgsWithoutPlan, keptFlags, MS_NODEV, MS_NOEXEC, MS_NOSUID, MS_RELATIME, restartArgv, withoutCapabilities } from "../../../src/runner/sandbox/mounts.ts";
import { parseInitArgs } from "../../../src/runner/sandbox/init.ts";
import {
  dropCapabilitiesPrefix,
  failureFile,
  mountPlan,
  namespacesArgs,
  namespacesFailure,
  unshareFlags,
} from "../../../src/runner/sandbox/namespaces.ts";
import { KZ } from "../../helpers/kz.ts";

const tools = { unshare: "/usr/bin/unshare", setpriv: "/usr/bin/setpriv", setsid: "/usr/bin/setsid" };
const dir = mkdtempSync(join(tmpdir(), "kz-ns-test-"));
mkdirSync(join(dir, "store"));
writeFileSync(join(dir, "token"), "");
const policy = {
  hidden: [join(dir, "store"), join(dir, "token")],
  readOnly: ["/home/u/p/.keyzero.toml"],
  noCreate: ["/home/u/p/.keyzero.local.toml"],
  pinned: ["/home", "/home/u", "/home/u/p"],
};
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("namespaces: unshare's argv", () => {
  test("user (own uid, capabilities kept for the init), mount, PID, IPC namespaces; a fresh /proc; the sandbox dies with kz", () => {
    const args = namespacesArgs({ tools, isolateNetwork: false }, ["kz", "__sandbox-init", "--mount-plan", "/p", "--", "sh"]);
    expect(args.slice(0, 4)).toEqual(["/usr/bin/setpriv", "--pdeathsig", "KILL", "--"]);
    expect(args[4]).toBe("/usr/bin/unshare");
    for (const flag of ["--user", "--map-current-user", "--keep-caps", "--mount", "--pid", "--ipc", "--fork", "--kill-child", "--mount-proc"]) {
      expect(args).toContain(flag);
    }
    expect(args).not.toContain("--net");
    expect(args).not.toContain("--map-root-user"); // the command keeps the user's own uid, never root
    expect(args.slice(args.indexOf("--", 5))).toEqual(["--", "kz", "__sandbox-init", "--mount-plan", "/p", "--", "sh"]);
  });

  test("network = proxy adds a network namespace", () => {
    expect(unshareFlags(true)).toContain("--net");
    expect(unshareFlags(false)).not.toContain("--net");
  });
});

describe("namespaces: the command starts with no capability", () => {
  test("setpriv clears inheritable, ambient and bounding sets and sets no_new_privs; setsid when detached", () => {
    const prefix = dropCapabilitiesPrefix(tools);
    expect(prefix).toEqual(["/usr/bin/setpriv", "--inh-caps=-all", "--ambient-caps=-all", "--bounding-set=-all", "--no-new-privs", "--"]);
    const plan = mountPlan({ tools, policy, placeholder: "/run/kz/hidden", isolateNetwork: false, newSession: false });
    expect(withoutCapabilities(plan, ["sh", "-c", "x"])).toEqual([...prefix, "sh", "-c", "x"]);
    const detached = mountPlan({ tools, policy, placeholder: "/run/kz/hidden", isolateNetwork: false, newSession: true });
    expect(withoutCapabilities(detached, ["sh"])).toEqual([...prefix, "/usr/bin/setsid", "--", "sh"]);
    expect(plan.restartAs).toBeUndefined();
  });

  test("with relays to run, the init re-executes itself without capabilities or plan, relays kept, still ahead of the command", () => {
    const plan = mountPlan({ tools, policy, placeholder: "/p", isolateNetwork: true, newSession: true, restartAs: ["/opt/kz"] });
    const argv = ["bun", "/$bunfs/root/kz", "__sandbox-init", "--mount-plan", "/t/plan.json", "--relay", "127.0.0.1:9=/t/s", "--", "sh", "-c", "x"];
    expect(initArgsWithoutPlan(argv)).toEqual(["--relay", "127.0.0.1:9=/t/s"]);
    expect(restartArgv({ ...plan, restartAs: ["/opt/kz"] }, argv, ["sh", "-c", "x"])).toEqual([
      ...dropCapabilitiesPrefix(tools),
      "/opt/kz",
      "__sandbox-init",
      "--relay",
      "127.0.0.1:9=/t/s",
      "--",
      "/usr/bin/setsid",
      "--",
      "sh",
      "-c",
      "x",
    ]);
  });
});

describe("namespaces: the mount plan", () => {
  test("holds paths only: folders and files told apart, pins outermost first, loopback with its own network", () => {
    const plan = mountPlan({ tools, policy, placeholder: "/run/kz/hidden", isolateNetwork: true, newSession: false });
    expect(plan.hidden).toEqual([
      { path: join(dir, "store"), folder: true },
      { path: join(dir, "token"), folder: false },
    ]);
    expect(plan.pinned).toEqual(["/home", "/home/u", "/home/u/p"]);
    expect(plan.readOnly).toEqual(["/home/u/p/.keyzero.toml"]);
    expect(plan.noCreate).toEqual(["/home/u/p/.keyzero.local.toml"]);
    expect(plan.placeholder).toBe("/run/kz/hidden");
    expect(plan.loopback).toBe(true);
  });

  test("a read-only remount keeps the locked flags of the mount underneath (statvfs's relatime is MS_RELATIME)", () => {
    expect(keptFlags(2 | 4 | 8)).toBe(MS_NOSUID | MS_NODEV | MS_NOEXEC);
    expect(keptFlags(4096)).toBe(MS_RELATIME);
    expect(keptFlags(1)).toBe(0); // ST_RDONLY is the remount's own business
  });

  test("the init takes --mount-plan beside its relays", () => {
    expect(parseInitArgs(["--mount-plan", "/t/plan.json", "--relay", "127.0.0.1:1=/t/s", "--", "sh"])).toEqual({
      relays: [{ hostname: "127.0.0.1", port: 1, socket: "/t/s" }],
      mountPlan: "/t/plan.json",
      command: ["sh"],
    });
  });
});

describe("which Linux mechanism", () => {
  const works = (name: "bubblewrap" | "namespaces") => () => (name === "bubblewrap" ? { name, bwrap: "/usr/bin/bwrap" } : { name, tools });
  const broken = (why: string) => () => why;
  const pick = (value: string | undefined, candidates: Candidates) => {
    const chosen = chooseMechanism(value, candidates);
    return "refusal" in chosen ? chosen.refusal : chosen.name;
  };

  test("bubblewrap first; kz's own namespaces when bubblewrap is missing or broken", () => {
    expect(pick(undefined, { bubblewrap: works("bubblewrap"), namespaces: works("namespaces") })).toBe("bubblewrap");
    expect(pick(undefined, { bubblewrap: broken("bubblewrap (bwrap) is not installed"), namespaces: works("namespaces") })).toBe("namespaces");
    expect(pick("auto", { bubblewrap: broken("x"), namespaces: works("namespaces") })).toBe("namespaces");
  });

  test("neither: one line naming both reasons, how to install bubblewrap, and --no-sandbox", () => {
    const refusal = pick(undefined, { bubblewrap: broken("bubblewrap (bwrap) is not installed"), namespaces: broken("unshare cannot create user namespaces here (Operation not permitted)") });
    expect(refusal).toStartWith("no sandbox: bubblewrap (bwrap) is not installed; unshare cannot create user namespaces here");
    expect(refusal).toContain("apt install bubblewrap");
    expect(refusal).toContain("--no-sandbox");
    expect(refusal).not.toContain("\n");
  });

  test("KZ_SANDBOX_MECHANISM chooses one; a chosen one that does not work is refused, never swapped or dropped", () => {
    let probed = false;
    const watch = () => ((probed = true), { name: "bubblewrap" as const, bwrap: "/usr/bin/bwrap" });
    expect(pick("namespaces", { bubblewrap: watch, namespaces: works("namespaces") })).toBe("namespaces");
    expect(probed).toBe(false);
    const refusal = pick("namespaces", { bubblewrap: works("bubblewrap"), namespaces: broken("unshare cannot create user namespaces here (x)") });
    expect(refusal).toContain("no sandbox: unshare cannot create user namespaces here (x), and KZ_SANDBOX_MECHANISM=namespaces");
    expect(refusal).toContain("--no-sandbox");
    expect(pick("bubblewrap", { bubblewrap: broken("bwrap cannot create a sandbox here (y)"), namespaces: works("namespaces") })).toContain("bwrap cannot create a sandbox here (y)");
  });

  test("the tools are looked up on PATH: none there, each says what is missing", () => {
    const none = linuxCandidates({ PATH: join(dir, "empty") });
    expect(none.bubblewrap()).toBe("bubblewrap (bwrap) is not installed");
    expect(none.namespaces()).toBe("util-linux's unshare, setpriv and setsid are not all installed");
  });

  test("an unknown KZ_SANDBOX_MECHANISM is refused (it can never mean no sandbox)", () => {
    expect(mechanismOrder("none")).toContain('not "none"');
    expect(pick("off", { bubblewrap: works("bubblewrap"), namespaces: works("namespaces") })).toStartWith("no sandbox: KZ_SANDBOX_MECHANISM must be");
    expect(mechanismOrder("")).toEqual(["bubblewrap", "namespaces"]);
  });
});

describe.skipIf(process.platform !== "linux" || !Bun.which("unshare") || !Bun.which("setpriv"))("the init fails closed", () => {
  test("a plan it cannot apply: exit 5, the reason for kz's one line, and the command never ran", () => {
    const planPath = join(dir, "mount-plan.json");
    const marker = join(dir, "started");
    const plan = mountPlan({ tools, policy: { hidden: [], readOnly: [join(dir, "no-such-file")], noCreate: [], pinned: [] }, placeholder: join(dir, "token"), isolateNetwork: false, newSession: false });
    writeFileSync(planPath, JSON.stringify(plan));
    const run = Bun.spawnSync(namespacesArgs({ tools, isolateNetwork: false }, [KZ, "__sandbox-init", "--mount-plan", planPath, "--", "/usr/bin/touch", marker]), {
      stdio: ["ignore", "pipe", "pipe"],
    });
    expect(run.exitCode).toBe(5);
    expect(existsSync(marker)).toBe(false);
    expect(readFileSync(failureFile(planPath), "utf8")).toBe(`cannot bind ${join(dir, "no-such-file")} (ENOENT)\n`);
    expect(run.stderr.toString()).toBe(""); // kz says it, once
    expect(namespacesFailure(planPath, tools, false)).toBe(
      `no sandbox: the namespaces sandbox could not be set up (cannot bind ${join(dir, "no-such-file")} (ENOENT)) — install bubblewrap, or run with --no-sandbox`,
    );
  });
});
