// kz share: hands one secret to a person through a one-time link. The value is read like `kz run` reads
// it (NAME through the config and its providers) or from stdin (`-`; never from argv), encrypted here
// (src/share/envelope.ts), and only the ciphertext goes to the kz server — the one named by
// [providers.kz] url with team mode's token settings, or --server URL with KZ_IDENTITY_TOKEN. The key is
// only in the link's fragment, printed as the last line of stdout; everything else goes to stderr.

import { ExitCode, KzError, UsageError } from "../errors.ts";
import { ProviderError } from "../providers/types.ts";
import { DEFAULT_TOKEN_ENV, parseServerUrl, readCaFile, readIdentityToken, serverFrom, serverMessageOf, type KzServer } from "../providers/kz.ts";
import { errorCodeOf, TLS_ERROR } from "../providers/http-util.ts";
import type { KzConfig } from "../config/types.ts";
import type { SecretValue } from "../secret.ts";
import { sealShare } from "../share/envelope.ts";
import { checkExpiresIn, checkViews, MAX_VALUE_BYTES } from "../share/limits.ts";
import { writeStderr, writeStdout } from "../stdio.ts";
import { parseArgs } from "./args.ts";
import { commandHelp, helpFlag, type Command } from "./command.ts";
import { printWarning } from "./output.ts";
import { readHidden, readPipedStdin, stdinIsTerminal } from "./secret-input.ts";
import { configFlags, configFromArgs, resolveOrFail } from "./shared.ts";

/** The passphrase's variable, for `--passphrase` without a terminal (e.g. `kz share -` with a pipe). */
export const PASSPHRASE_ENV = "KZ_SHARE_PASSPHRASE";

const flags = {
  views: { type: "string", value: "N", description: "how many times the link opens, 1–10 (default 1)" },
  expires: { type: "string", value: "DURATION", description: "link lifetime, e.g. 15m, 1h, 7d; at most 7d (default 1h)" },
  passphrase: { type: "boolean", description: `also require a passphrase (asked on the terminal, twice; or ${PASSPHRASE_ENV})` },
  server: { type: "string", value: "URL", description: `kz server to store the share (token from ${DEFAULT_TOKEN_ENV}); default: [providers.kz] url` },
  json: { type: "boolean", description: "print {url, id, expires_at, views} as JSON" },
  ...configFlags,
  ...helpFlag,
} as const;

interface Target {
  server: KzServer;
  token: string;
  ca?: string[];
}

interface Created {
  id: string;
  url: string;
  expires_at: string;
  views: number;
}

/** The server and its credential: --server with KZ_IDENTITY_TOKEN, else [providers.kz] from the config. */
async function targetOf(serverFlag: string | undefined, config: () => KzConfig): Promise<Target> {
  let server: KzServer;
  if (serverFlag !== undefined) {
    server = { url: parseServerUrl(serverFlag), token: { kind: "env", name: DEFAULT_TOKEN_ENV } };
  } else {
    const loaded = config();
    const settings = loaded?.providers.kz;
    if (!settings) throw new UsageError(`no kz server to store the share: pass --server URL (with ${DEFAULT_TOKEN_ENV} set), or add [providers.kz] url to .keyzero.toml`);
    server = serverFrom(settings, loaded.dir);
  }
  const [token, ca] = await Promise.all([readIdentityToken(server.token, process.env, server.url), server.caFile ? readCaFile(server.caFile, server.url) : undefined]);
  return { server, token, ca };
}

async function readPassphrase(): Promise<string> {
  const fromEnv = process.env[PASSPHRASE_ENV];
  if (fromEnv !== undefined && fromEnv !== "") return fromEnv;
  if (!stdinIsTerminal()) throw new UsageError(`--passphrase needs a terminal to ask on, or the passphrase in ${PASSPHRASE_ENV} (never on the command line)`);
  const first = await readHidden("Passphrase for the share: ");
  if (first.length === 0) throw new UsageError("the passphrase is empty");
  const again = await readHidden("Passphrase again: ");
  if (first.reveal() !== again.reveal()) throw new UsageError("the two passphrases differ; nothing was shared");
  return first.reveal();
}

async function post(target: Target, body: Record<string, unknown>): Promise<Created> {
  const endpoint = `${target.server.url}/v1/shares`;
  let response: Response;
  try {
    response = await fetch(endpoint, {
      method: "POST",
      headers: { authorization: `Bearer ${target.token}`, "content-type": "application/json", accept: "application/json" },
      body: JSON.stringify(body),
      redirect: "manual",
      tls: target.ca ? { ca: target.ca } : undefined,
    });
  } catch (error) {
    const code = errorCodeOf(error);
    if (TLS_ERROR.test(code)) throw new KzError(`cannot verify the TLS certificate of kz server ${target.server.url} (${code}) — set [providers.kz] ca_file to its CA's PEM file`);
    throw new KzError(`cannot reach kz server at ${target.server.url} (${code}) — check the URL and that the server is running`);
  }
  const parsed: unknown = await response.json().catch(() => undefined);
  const said = serverMessageOf(parsed, target.token);
  const where = `kz server ${target.server.url}`;
  if (response.status === 201) {
    const created = parsed as Partial<Created> | undefined;
    if (typeof created?.id !== "string" || typeof created.url !== "string") throw new KzError(`${where} answered without a share id — is it a kz server with share links?`);
    return created as Created;
  }
  if (response.status === 401) throw new KzError(`identity token rejected by ${where}${said ? ` (${said})` : ""} — get a fresh token`);
  if (response.status === 403) throw new KzError(`${where} refused the share${said ? `: ${said}` : ""}`);
  if (response.status === 404 && said) throw new KzError(`${where}: ${said}`);
  if (response.status === 404) throw new KzError(`${where} has no share endpoint (POST /v1/shares) — is it a kz server of this version?`);
  if (response.status === 413) throw new KzError(`${where}: the share is too large${said ? ` (${said})` : ""}`);
  throw new KzError(`${where} answered ${response.status}${said ? `: ${said}` : ""}`);
}

/**
 * The value and the name the server may decide on: a NAME the kz provider resolves from this very server
 * is that bundle's secret (its ref); anything else goes unnamed (another server would not know the name).
 */
async function valueOf(name: string, loadConfig: () => KzConfig, target: Target): Promise<{ value: SecretValue; secret?: string }> {
  if (name === "-") {
    const value = stdinIsTerminal() ? await readHidden("Value to share: ") : await readPipedStdin();
    return { value };
  }
  const config = loadConfig();
  const spec = config.secrets.find((s) => s.name === name);
  if (!spec) {
    const known = config.secrets.map((s) => s.name).join(", ") || "none";
    throw new UsageError(`no secret named ${name} in ${config.path} — defined: ${known} (or use \`kz share -\` to share a value from stdin)`);
  }
  const { values, leases } = await resolveOrFail(config, [spec]);
  for (const { lease } of leases.all()) {
    printWarning(`${name}: dynamic (${lease.provider} lease on ${lease.path}); kz leaves the lease to end by itself in ${lease.durationSeconds}s`);
  }
  const value = values.get(name);
  if (!value) throw new KzError(`${name} did not resolve (it is optional and was skipped); nothing was shared`);
  const kz = config.providers.kz;
  const sameServer = kz !== undefined && serverFrom(kz, config.dir).url === target.server.url;
  return { value, secret: spec.provider === "kz" && sameServer ? spec.ref : undefined };
}

const shareCommand: Command = {
  name: "share",
  summary: "hand a secret to a person through a one-time, end-to-end encrypted link",
  usage: "kz share NAME|- [--views N] [--expires 1h] [--passphrase] [--server URL] [--json]",
  flags,
  details: `The value (NAME resolved through .keyzero.toml, or - for stdin) is encrypted here; the kz server stores only
the ciphertext and the key lives only in the link's fragment. The link is the last line of stdout.
Limits: 1–10 views, at most 7 days, values up to ${MAX_VALUE_BYTES / 1024} KiB. Whoever opens the full link first gets the value.
Examples:
  kz share DB_PASSWORD --expires 15m
  generate-key | kz share - --views 2 --json
  KZ_SHARE_PASSPHRASE=… kz share - --passphrase < key.pem`,
  async run(argv) {
    const args = parseArgs(argv, flags);
    if (args.flags.help) {
      writeStdout(commandHelp(shareCommand));
      return 0;
    }
    if (args.positionals.length !== 1) throw new UsageError("kz share takes one secret NAME, or - to read the value from stdin (e.g. kz share DB_PASSWORD)");
    const name = args.positionals[0]!;
    const views = checkViews(args.flags.views === undefined ? undefined : Number(args.flags.views));
    if (!views.ok || (typeof args.flags.views === "string" && !/^\d+$/.test(args.flags.views))) throw new UsageError(`--views ${String(args.flags.views)}: must be a whole number from 1 to 10`);
    const expiresFlag = args.flags.expires as string | undefined;
    const expires = checkExpiresIn(expiresFlag !== undefined && /^\d+$/.test(expiresFlag) ? Number(expiresFlag) : expiresFlag);
    if (!expires.ok) throw new UsageError(`--expires ${expiresFlag}: ${expires.message.replace(/^expiry /, "")}`);

    let config: KzConfig | undefined;
    const loadConfig = () => (config ??= configFromArgs(args));
    const serverFlag = args.flags.server as string | undefined;
    // Check where the share goes (and its token) before reading anything secret.
    let target: Target;
    try {
      target = await targetOf(serverFlag, loadConfig);
    } catch (error) {
      if (error instanceof ProviderError) throw new KzError(serverFlag !== undefined ? error.message.replace(/\[providers\.kz\] url/g, "--server") : error.message, ExitCode.config);
      throw error;
    }
    const passphrase = args.flags.passphrase ? await readPassphrase() : undefined;
    const { value, secret } = await valueOf(name, loadConfig, target);
    const bytes = new TextEncoder().encode(value.reveal());
    if (bytes.length > MAX_VALUE_BYTES) throw new UsageError(`the value is ${bytes.length} bytes; a share holds at most ${MAX_VALUE_BYTES} (${MAX_VALUE_BYTES / 1024} KiB)`);
    if (bytes.length === 0) throw new UsageError("the value is empty; nothing to share");
    const sealed = await sealShare(bytes, { passphrase });
    bytes.fill(0);
    const created = await post(target, { ...(secret ? { secret } : {}), ciphertext: sealed.ciphertext, views: views.value, expires_in: expires.value });
    const link = `${created.url}#${sealed.key}`;
    if (!/^https?:\/\//.test(created.url) || !created.url.endsWith(`/s/${encodeURIComponent(created.id)}`)) {
      throw new KzError(`kz server ${target.server.url} answered with a link that does not match its share id`);
    }
    const plural = created.views === 1 ? "view" : "views";
    writeStderr(`kz: share link for ${name === "-" ? "the value from stdin" : name}: ${created.views} ${plural}, expires ${created.expires_at}${passphrase ? ", needs the passphrase" : ""}. Anyone with the full link can open it.\n`);
    if (args.flags.json) writeStdout(`${JSON.stringify({ url: link, id: created.id, expires_at: created.expires_at, views: created.views })}\n`);
    else writeStdout(`${link}\n`);
    return 0;
  },
};

export default shareCommand;
