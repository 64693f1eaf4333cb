// The one .keyzero.toml loader every subcommand shares: finds the file (--config, KZ_CONFIG, or the
// nearest .keyzero.toml from the cwd up), parses it with smol-toml, applies .keyzero.local.toml beside
// it (per provider key, per secret), then the [env.NAME] overlay chosen by --env / KZ_ENV.

import { existsSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { parse, TomlError } from "smol-toml";
import { ConfigError } from "../errors.ts";
import { DocValidator, type ValidatedDoc } from "./schema.ts";
import { didYouMean } from "./suggest.ts";
import type { KzConfig, ProviderSettings, SecretSpec } from "./types.ts";

export const CONFIG_NAME = ".keyzero.toml";
export const LOCAL_CONFIG_NAME = ".keyzero.local.toml";

export interface LoadOptions {
  configPath?: string;
  envName?: string;
  cwd?: string;
  env?: Record<string, string | undefined>;
}

/** The config file to use, or undefined when there is none in cwd or its parents. */
export function findConfig(opts: LoadOptions = {}): string | undefined {
  const env = opts.env ?? process.env;
  const cwd = opts.cwd ?? process.cwd();
  const explicit = opts.configPath ?? (env.KZ_CONFIG || undefined);
  if (explicit) return resolve(cwd, explicit);
  for (let dir = resolve(cwd); ; dir = dirname(dir)) {
    const candidate = join(dir, CONFIG_NAME);
    if (existsSync(candidate)) return candidate;
    if (dirname(dir) === dir) return undefined;
  }
}

export function displayPath(path: string, cwd = process.cwd()): string {
  const rel = relative(cwd, path);
  return rel && !rel.startsWith("..") && rel.length < path.length ? rel : path;
}

/** Parses one TOML file; syntax errors become "file:line:col: message" without echoing source. */
export function parseTomlFile(path: string, display: string): { doc: Record<string, unknown>; text: string } {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new ConfigError(
      code === "ENOENT" ? `${display}: no such file — run \`kz init\` to create one` : `${display}: cannot read (${code ?? "error"})`,
    );
  }
  try {
    return { doc: parse(text) as Record<string, unknown>, text };
  } catch (e) {
    if (e instanceof TomlError) {
      const reason = e.message.split("\n")[0]!.replace(/^Invalid TOML document: /, "");
      throw new ConfigError(`${display}:${e.line}:${e.column}: invalid TOML: ${reason}`);
    }
    throw e;
  }
}

function validateFile(path: string, cwd: string): ValidatedDoc {
  const display = displayPath(path, cwd);
  const { doc, text } = parseTomlFile(path, display);
  return new DocValidator({ file: display, text }).document(doc);
}

function mergeProviders(base: Record<string, ProviderSettings>, over: Record<string, ProviderSettings>) {
  const out = { ...base };
  for (const [name, settings] of Object.entries(over)) out[name] = { ...out[name], ...settings };
  return out;
}

function mergeDocs(base: ValidatedDoc, over: ValidatedDoc): ValidatedDoc {
  const envs = new Map(base.envs);
  for (const [name, overlay] of over.envs) {
    const prior = envs.get(name);
    envs.set(name, {
      providers: mergeProviders(prior?.providers ?? {}, overlay.providers),
      secrets: new Map([...(prior?.secrets ?? []), ...overlay.secrets]),
    });
  }
  return {
    providers: mergeProviders(base.providers, over.providers),
    secrets: new Map([...base.secrets, ...over.secrets]),
    blind: { ...base.blind, ...over.blind, resolve: { ...base.blind.resolve, ...over.blind.resolve } },
    audit: { path: over.audit.path ?? base.audit.path },
    envs,
  };
}

/** Loads, merges and validates the configuration. Throws ConfigError with a precise message. */
export function loadConfig(opts: LoadOptions = {}): KzConfig {
  const env = opts.env ?? process.env;
  const cwd = opts.cwd ?? process.cwd();
  const path = findConfig(opts);
  if (!path) {
    throw new ConfigError(`no ${CONFIG_NAME} in ${cwd} or its parents — run \`kz init\` to create one, or pass --config FILE`);
  }
  const files = [path];
  let doc = validateFile(path, cwd);
  const localPath = join(dirname(path), LOCAL_CONFIG_NAME);
  if (existsSync(localPath)) {
    files.push(localPath);
    doc = mergeDocs(doc, validateFile(localPath, cwd));
  }

  const envName = opts.envName ?? (env.KZ_ENV || undefined);
  let secrets: Map<string, SecretSpec> = doc.secrets;
  let providers = doc.providers;
  if (envName !== undefined) {
    const overlay = doc.envs.get(envName);
    if (!overlay) {
      const known = [...doc.envs.keys()];
      const hint = known.length ? didYouMean(envName, known).replace("valid keys", "defined environments") : ` — add [env.${envName}.secrets] to it`;
      throw new ConfigError(`${displayPath(path, cwd)}: no environment "${envName}"${hint}`);
    }
    secrets = new Map([...secrets, ...overlay.secrets]);
    providers = mergeProviders(providers, overlay.providers);
  }

  return {
    path,
    dir: dirname(path),
    files,
    env: envName,
    providers,
    secrets: [...secrets.values()],
    blind: { resolve: {}, inspect: "bound", sandbox: true, network: "open", allowTcp: [], ...doc.blind },
    audit: doc.audit,
  };
}
