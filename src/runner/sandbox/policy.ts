// What the sandboxed command may not touch, as a pure function of the config and the environment: the
// paths to hide (kz's store and key, every file a provider reads, the usual credential stores of every
// backend kz supports, the sockets that run code outside — escapes.ts), the paths to keep read-only (the
// config, its local override, the audit log, the files that run code on the user's next shell or git
// command — escapes.ts) and
// the override's path when it does not exist yet (it must not be created). Every mechanism (bubblewrap,
// sandbox-exec) turns this one policy into its own terms.

import { existsSync, realpathSync, statSync } from "node:fs";
import { homedir } from "node:os";
import { dirname, isAbsolute, join, relative, sep } from "node:path";
import type { KzConfig } from "../../config/types.ts";
import { escapeSockets, persistencePaths } from "./escapes.ts";

type Env = Record<string, string | undefined>;

export interface SandboxPolicy {
  /** Existing paths (files or folders) the command cannot read or list. */
  hidden: string[];
  /** Existing paths the command can read but not change, rename or delete. */
  readOnly: string[];
  /** Paths that do not exist and must not be created (e.g. an absent .keyzero.local.toml). */
  noCreate: string[];
  /**
   * The folders above all of those, outermost first. Each becomes a mount point of itself, which
   * rename(2) and rmdir(2) refuse (EBUSY): moving a protected path's parent away would carry the
   * protection with it and leave room to plant a fresh ~/.config/keyzero or .keyzero.toml in its place.
   */
  pinned: string[];
}

export interface PolicyInput {
  config: KzConfig;
  env: Env;
  /** The local audit log kz writes for this run, if any. */
  auditPath?: string;
  /** The command's working directory. */
  cwd: string;
  /** kz's own executable (kept read-only when the user can write it). */
  kzExecutable?: string;
}

/** Setting keys (anywhere in a provider's table) that name a file holding a credential. */
function isCredentialFileKey(key: string): boolean {
  return key.endsWith("_file") && key !== "ca_file";
}

/** kz's own key material: the local store, its key, approvals and the audit key live in these folders. */
export function kzPrivateDirs(env: Env): string[] {
  const home = env.HOME || homedir();
  return [join(env.XDG_DATA_HOME || join(home, ".local", "share"), "keyzero"), join(env.XDG_CONFIG_HOME || join(home, ".config"), "keyzero")];
}

/** The usual credential stores of every backend kz supports, whether or not this config uses them. */
export function backendCredentialStores(env: Env): string[] {
  const home = env.HOME || homedir();
  const paths = [
    join(home, ".vault-token"), // vault CLI token helper
    join(home, ".aws"), // credentials, config, sso and cli caches
    join(home, ".config", "op"), // 1Password CLI
    join(home, ".op"),
    "/var/run/secrets/kubernetes.io/serviceaccount", // Vault kubernetes auth reads this token
  ];
  for (const name of ["AWS_SHARED_CREDENTIALS_FILE", "AWS_CONFIG_FILE", "AWS_WEB_IDENTITY_TOKEN_FILE", "OP_CONFIG_DIR", "KZ_IDENTITY_TOKEN_FILE"]) {
    const value = env[name];
    if (value && isAbsolute(value)) paths.push(value);
  }
  return paths;
}

/** Files the configured providers and secrets read: `file` sources, token_file, jwt_file… */
export function providerFiles(config: KzConfig): string[] {
  const at = (path: string) => (isAbsolute(path) ? path : join(config.dir, path));
  const files: string[] = [];
  const walk = (table: Record<string, unknown>) => {
    for (const [key, value] of Object.entries(table)) {
      if (typeof value === "string" && isCredentialFileKey(key)) files.push(at(value));
      else if (typeof value === "object" && value !== null && !Array.isArray(value)) walk(value as Record<string, unknown>);
    }
  };
  walk(config.providers);
  for (const spec of config.secrets) if (spec.provider === "file") files.push(at(spec.ref));
  return files;
}

/**
 * Files that set how much a provider's credentials may do (aws-sts `session_policy` as a file): read-only,
 * or an agent could widen the next run's scope by editing one.
 */
export function providerScopeFiles(config: KzConfig): string[] {
  const policy = config.providers["aws-sts"]?.session_policy;
  if (typeof policy !== "string" || policy.trimStart().startsWith("{")) return [];
  return [isAbsolute(policy) ? policy : join(config.dir, policy)];
}

function isWithin(path: string, folder: string): boolean {
  const rel = relative(folder, path);
  return rel === "" || (!rel.startsWith(`..${sep}`) && rel !== ".." && !isAbsolute(rel));
}

/** The real location of an existing path (a symlinked ~/.aws is hidden where it really lives). */
function real(path: string): string | undefined {
  try {
    return realpathSync(path);
  } catch {
    return undefined;
  }
}

/** Drops duplicates and paths inside another listed path. */
function outermost(paths: string[]): string[] {
  const unique = [...new Set(paths)].sort((a, b) => a.length - b.length);
  return unique.filter((p, i) => !unique.slice(0, i).some((q) => isWithin(p, q)));
}

/**
 * The audit log's folder is kept read-only when it is a folder of its own; when it holds the config or
 * the working directory (an `[audit] path` beside the config), only the log file itself is, so that
 * the project stays writable.
 */
function auditProtection(auditPath: string, config: KzConfig, cwd: string): string {
  const folder = dirname(auditPath);
  const shared = isWithin(config.dir, folder) || isWithin(cwd, folder);
  return shared ? auditPath : folder;
}

export function sandboxPolicy(input: PolicyInput): SandboxPolicy {
  const { config, env } = input;
  const uid = process.getuid?.() ?? 0;
  const hiddenWanted = [...kzPrivateDirs(env), ...backendCredentialStores(env), ...providerFiles(config), ...escapeSockets(env, uid)];
  const hidden = outermost(hiddenWanted.map(real).filter((p): p is string => p !== undefined));

  const localOverride = join(config.dir, ".keyzero.local.toml");
  const readOnlyWanted = [
    ...config.files,
    config.path,
    ...providerScopeFiles(config),
    ...persistencePaths({ env, cwd: input.cwd, configDir: config.dir, uid, kzExecutable: input.kzExecutable ?? process.execPath }),
  ];
  if (input.auditPath) readOnlyWanted.push(auditProtection(input.auditPath, config, input.cwd));
  const noCreate: string[] = [];
  if (existsSync(localOverride)) readOnlyWanted.push(localOverride);
  else noCreate.push(localOverride);

  const readOnly = outermost(readOnlyWanted.map(real).filter((p): p is string => p !== undefined)).filter(
    (p) => !hidden.some((h) => isWithin(p, h)),
  );
  const absent = noCreate.filter((p) => !hidden.some((h) => isWithin(p, h)));
  return { hidden, readOnly, noCreate: absent, pinned: foldersAbove([...hidden, ...readOnly, ...absent]) };
}

/** Every folder above the given paths, below the root, outermost first. */
export function foldersAbove(paths: string[]): string[] {
  const folders = new Set<string>();
  for (const path of paths) {
    for (let dir = dirname(path); dir !== dirname(dir); dir = dirname(dir)) folders.add(dir);
  }
  for (const path of paths) folders.delete(path); // already mount points of their own
  return [...folders].sort((a, b) => a.split(sep).length - b.split(sep).length || a.localeCompare(b));
}

/** Whether a path is a folder (for mechanisms that hide files and folders differently). */
export function isFolder(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}
