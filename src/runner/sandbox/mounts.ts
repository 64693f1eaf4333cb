// Inside the "namespaces" sandbox (namespaces.ts): kz's init, still holding every capability of its new
// user namespace, applies the mount plan with mount(2) through bun:ffi before the command starts:
// propagation made private first (nothing leaks out); the folders above protected paths pinned (bound
// onto themselves: rename(2) refuses a mount point, so a protected path cannot be moved away); hidden
// folders a read-only tmpfs with mode 000; hidden files and paths that must not be created an unreadable
// read-only placeholder; read-only paths a read-only bind of themselves. Then it brings up loopback in a
// new network namespace and re-enters its working directory (a cwd under a new mount must stand on the
// mount, not on what it covers). It fails closed: the first error writes one line to the plan's `.failed`
// file (kz reports it) and the init exits 5 without starting anything. The command itself is started
// through setpriv with no capability (`withoutCapabilities`), so it cannot undo a mount; with relays to
// run, the init first re-executes itself the same way (`restartArgv`), so no process the command can
// talk to holds a capability either.

import { dlopen, FFIType, ptr, read } from "bun:ffi";
import { closeSync, constants as fsConstants, openSync, readFileSync, writeFileSync, writeSync } from "node:fs";
import { constants as osConstants } from "node:os";
import { failureFile } from "./namespaces.ts";

export interface MountPlan {
  /** An empty file with mode 000 in the run's private folder: bound over hidden files and absent paths. */
  placeholder: string;
  /** Folders above the protected paths, outermost first: bound onto themselves so they cannot be renamed. */
  pinned: string[];
  hidden: { path: string; folder: boolean }[];
  readOnly: string[];
  /** Absent paths that must not be created: a mount point is made, covered, and removed by kz afterwards. */
  noCreate: string[];
  /** A new network namespace: its loopback starts down. */
  loopback: boolean;
  /** argv prefix that starts what follows with no capability and none to regain (`setpriv … --`). */
  dropCapabilities: string[];
  /** argv prefix that detaches the command from the user's terminal (`setsid --`), or nothing. */
  session: string[];
  /**
   * With relays to run (network = "proxy"), how to start kz again: the init then re-executes itself
   * through `dropCapabilities` once the mounts are made, so the process that relays the command's
   * connections holds no capability — a bug reachable through them could not undo a mount.
   */
  restartAs?: string[];
}

export const MS_RDONLY = 1;
export const MS_NOSUID = 2;
export const MS_NODEV = 4;
export const MS_NOEXEC = 8;
export const MS_REMOUNT = 32;
export const MS_BIND = 4096;
export const MS_REC = 16384;
export const MS_PRIVATE = 1 << 18;
export const MS_RELATIME = 1 << 21;

/**
 * The flags a read-only remount must keep: in a user namespace the kernel refuses (EPERM) a remount that
 * would drop a locked nosuid/nodev/noexec/atime flag of the mount underneath. statvfs's ST_* flags have
 * the MS_* values, except relatime.
 */
export function keptFlags(stFlag: number): number {
  const same = MS_NOSUID | MS_NODEV | MS_NOEXEC | 16 /* SYNCHRONOUS */ | 64 /* MANDLOCK */ | 1024 /* NOATIME */ | 2048; /* NODIRATIME */
  return (stFlag & same) | (stFlag & 4096 /* ST_RELATIME */ ? MS_RELATIME : 0);
}

type Libc = ReturnType<typeof openLibc>;
let libc: Libc | undefined;

function openLibc() {
  return dlopen("libc.so.6", {
    mount: { args: [FFIType.ptr, FFIType.ptr, FFIType.ptr, FFIType.u64, FFIType.ptr], returns: FFIType.i32 },
    statvfs: { args: [FFIType.ptr, FFIType.ptr], returns: FFIType.i32 },
    socket: { args: [FFIType.i32, FFIType.i32, FFIType.i32], returns: FFIType.i32 },
    ioctl: { args: [FFIType.i32, FFIType.u64, FFIType.ptr], returns: FFIType.i32 },
    close: { args: [FFIType.i32], returns: FFIType.i32 },
    execve: { args: [FFIType.ptr, FFIType.ptr, FFIType.ptr], returns: FFIType.i32 },
    __errno_location: { args: [], returns: FFIType.ptr },
  }).symbols;
}

function c(): Libc {
  return (libc ??= openLibc());
}

/** A C string. Buffers go to libc as they are (not as ptr() numbers), so they stay alive during the call. */
const cstr = (s: string | null) => (s === null ? null : Buffer.from(`${s}\0`));

/** The failed call's errno as its name (EPERM…), read right after the call. */
function errnoName(): string {
  const code = read.i32(c().__errno_location()!, 0);
  const name = Object.entries(osConstants.errno).find(([, n]) => n === code)?.[0];
  return name ?? `errno ${code}`;
}

class MountError extends Error {}

function mount(source: string | null, target: string, fstype: string | null, flags: number, data: string | null, what: string): void {
  const result = c().mount(cstr(source), cstr(target), cstr(fstype), flags, cstr(data));
  if (result !== 0) throw new MountError(`cannot ${what} ${target} (${errnoName()})`);
}

function statvfsFlags(path: string): number {
  // struct statvfs on 64-bit Linux (glibc): 112 bytes; f_flag is its 10th word, after f_fsid.
  const buffer = new BigUint64Array(14);
  if (c().statvfs(cstr(path), buffer) !== 0) throw new MountError(`cannot stat ${path} (${errnoName()})`);
  return Number(buffer[9]);
}

/** Binds `source` onto `target` (with what is mounted below it) and makes that bind read-only. */
function bindReadOnly(source: string, target: string): void {
  mount(source, target, null, MS_BIND | MS_REC, null, "bind");
  mount(null, target, null, MS_REMOUNT | MS_BIND | MS_RDONLY | keptFlags(statvfsFlags(target)), null, "make read-only");
}

/**
 * A mount point for an absent path; it must not exist (a path that appeared since kz looked is refused).
 * kz removes it after the run; if kz is killed outright it stays behind as an empty, readable file — an
 * empty override that changes nothing — rather than one that the next run could not read.
 */
function createMountPoint(path: string): void {
  try {
    closeSync(openSync(path, fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_EXCL | fsConstants.O_NOFOLLOW, 0o600));
  } catch (error) {
    throw new MountError(`cannot create the mount point ${path} (${(error as NodeJS.ErrnoException).code ?? "error"})`);
  }
}

/** Sets IFF_UP on `lo` (SIOCGIFFLAGS, then SIOCSIFFLAGS on an AF_INET datagram socket). */
function loopbackUp(): void {
  const AF_INET = 2;
  const SOCK_DGRAM = 2;
  const SIOCGIFFLAGS = 0x8913;
  const SIOCSIFFLAGS = 0x8914;
  const IFF_UP = 1;
  const fd = c().socket(AF_INET, SOCK_DGRAM, 0);
  if (fd < 0) throw new MountError(`cannot open a socket to bring loopback up (${errnoName()})`);
  try {
    const ifreq = Buffer.alloc(40); // struct ifreq: char ifr_name[16], then the union (ifr_flags: short)
    ifreq.write("lo", 0);
    if (c().ioctl(fd, SIOCGIFFLAGS, ifreq) !== 0) throw new MountError(`cannot read loopback's flags (${errnoName()})`);
    ifreq.writeInt16LE(ifreq.readInt16LE(16) | IFF_UP, 16);
    if (c().ioctl(fd, SIOCSIFFLAGS, ifreq) !== 0) throw new MountError(`cannot bring loopback up (${errnoName()})`);
  } finally {
    c().close(fd);
  }
}

/**
 * In the sandbox's own network namespace (nothing else lives there), any process may listen on a port
 * below 1024, so the relays — restarted without capabilities — can serve an `allow_tcp` such as
 * 127.0.0.1:80. Best effort: without it only such low ports fail.
 */
function lowPortsForAll(): void {
  try {
    writeFileSync("/proc/sys/net/ipv4/ip_unprivileged_port_start", "0");
  } catch {}
}

/** Applies the plan; throws MountError at the first step that fails. */
export function applyMountPlan(plan: MountPlan): void {
  mount(null, "/", null, MS_REC | MS_PRIVATE, null, "make private");
  // Mount points first: a read-only bind below could otherwise stop them being created.
  for (const path of plan.noCreate) createMountPoint(path);
  for (const path of plan.pinned) mount(path, path, null, MS_BIND | MS_REC, null, "pin");
  for (const { path, folder } of plan.hidden) {
    if (folder) mount("tmpfs", path, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=000", "hide");
    else bindReadOnly(plan.placeholder, path);
  }
  for (const path of plan.readOnly) bindReadOnly(path, path);
  for (const path of plan.noCreate) bindReadOnly(plan.placeholder, path);
  if (plan.loopback) {
    loopbackUp();
    lowPortsForAll();
  }
  // The working directory was entered before the mounts: enter it again to stand on what covers it.
  const cwd = process.cwd();
  try {
    process.chdir(cwd);
  } catch (error) {
    throw new MountError(`cannot enter the working directory ${cwd} (${(error as NodeJS.ErrnoException).code ?? "error"})`);
  }
}

/** The command, started with no capability (and in its own session when the plan says so). */
export function withoutCapabilities(plan: MountPlan, command: string[]): string[] {
  return [...plan.dropCapabilities, ...plan.session, ...command];
}

/** The init's own arguments (relays…) from its argv, without the mount plan: what the restart is given. */
export function initArgsWithoutPlan(argv: string[]): string[] {
  const start = argv.indexOf("__sandbox-init") + 1;
  const end = argv.indexOf("--", start);
  const own = argv.slice(start, end < 0 ? undefined : end);
  return own.filter((arg, i) => arg !== "--mount-plan" && own[i - 1] !== "--mount-plan");
}

/** The argv the init re-executes as: itself without capabilities or a plan, then the command. */
export function restartArgv(plan: MountPlan & { restartAs: string[] }, argv: string[], command: string[]): string[] {
  return [...plan.dropCapabilities, ...plan.restartAs, "__sandbox-init", ...initArgsWithoutPlan(argv), "--", ...plan.session, ...command];
}

/** Buffers whose addresses sit in a pointer table handed to libc: referenced here until the call returns. */
const inUse = new Set<Buffer[]>();

/** execve(2): replaces this process (same PID 1, same fds 0–3); returns only by throwing. */
function execve(argv: string[], env: Record<string, string | undefined>): never {
  const strings = argv.map((a) => cstr(a)!);
  const vars = Object.entries(env).flatMap(([k, v]) => (v === undefined ? [] : [cstr(`${k}=${v}`)!]));
  const table = (buffers: Buffer[]) => BigUint64Array.from([...buffers.map((b) => BigInt(ptr(b))), 0n]);
  inUse.add(strings).add(vars);
  c().execve(strings[0]!, table(strings), table(vars));
  const failed = errnoName();
  inUse.clear();
  throw new MountError(`cannot restart without capabilities (${failed})`);
}

/**
 * The init's hook: reads the plan kz wrote, applies it and returns the command to start instead of
 * `command`. On failure it leaves the reason beside the plan and ends the init with exit 5 before
 * "ready", so kz reports one line and nothing was started.
 */
export function enterMountPlan(planPath: string, command: string[]): string[] {
  try {
    const plan = JSON.parse(readFileSync(planPath, "utf8")) as MountPlan;
    applyMountPlan(plan);
    if (plan.restartAs) execve(restartArgv({ ...plan, restartAs: plan.restartAs }, process.argv, command), process.env);
    return withoutCapabilities(plan, command);
  } catch (error) {
    const reason = error instanceof MountError ? error.message : `cannot read the mount plan (${(error as Error).message})`;
    try {
      writeFileSync(failureFile(planPath), `${reason}\n`);
    } catch {
      writeSync(2, `kz: error: sandbox: ${reason}\n`);
    }
    process.exit(5);
  }
}
