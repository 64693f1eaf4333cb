// kz provider (team mode): a secret resolved through a kz policy server. The agent machine holds only its
// identity token (a JWT, from [providers.kz] token_file or an env variable); the server verifies it,
// applies its policies and answers `POST /v1/resolve`. Its refusals (401, 403, 404, 5xx) and transport
// failures become one line naming the server and the secret; neither the token nor a value is ever in one.

import { readFile } from "node:fs/promises";
import { isAbsolute, join } from "node:path";
import type { ProviderSettings } from "../config/types.ts";
import { SecretValue } from "../secret.ts";
import { selectField } from "./field.ts";
import { ProviderError, type ProviderContext, type ProviderFactory } from "./types.ts";
import { bodyOf, errorCodeOf, TLS_ERROR } from "./http-util.ts";
import { isLoopbackName } from "../config/loopback.ts";

export const DEFAULT_TOKEN_ENV = "KZ_IDENTITY_TOKEN";
const SERVER_MESSAGE_MAX = 200;

// ---------------------------------------------------------------- settings

export interface KzServer {
  /** Base URL without a trailing slash, as shown in messages, e.g. "https://pdp.example:8080". */
  url: string;
  caFile?: string;
  token: TokenSource;
}

/** Where the identity token comes from: the file wins over the variable when both are configured. */
export type TokenSource = { kind: "file"; path: string } | { kind: "env"; name: string };

function nonEmpty(value: unknown): string | undefined {
  return typeof value === "string" && value.trim() !== "" ? value : undefined;
}

/** `url` parsed and checked: https anywhere, http to loopback only, no credentials, query or fragment. */
export function parseServerUrl(value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new ProviderError(`[providers.kz] url is not a URL (expected e.g. https://kz.internal:8080)`);
  }
  if (url.username || url.password) {
    throw new ProviderError(`[providers.kz] url must not contain a user name or password — the identity token is the credential`);
  }
  const shown = url.origin + url.pathname.replace(/\/+$/, "");
  if (url.search || url.hash) throw new ProviderError(`[providers.kz] url ${shown} must not have a query or fragment`);
  if (url.protocol === "http:" && !isLoopbackName(url.hostname)) {
    throw new ProviderError(
      `[providers.kz] url ${shown} is plain http: the identity token would cross the network in cleartext — use https:// (plain http is allowed only to loopback)`,
    );
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") {
    throw new ProviderError(`[providers.kz] url ${shown} must start with https://`);
  }
  return shown;
}

const relativeTo = (dir: string, path: string) => (isAbsolute(path) ? path : join(dir, path));

/** `[providers.kz]` settings checked; reads nothing. */
export function serverFrom(settings: ProviderSettings, configDir: string): KzServer {
  const url = nonEmpty(settings.url);
  if (!url) throw new ProviderError(`[providers.kz] url is not set — add url = "https://kz.internal:8080" (the kz server's address)`);
  const tokenFile = nonEmpty(settings.token_file);
  const caFile = nonEmpty(settings.ca_file);
  return {
    url: parseServerUrl(url),
    caFile: caFile && relativeTo(configDir, caFile),
    token: tokenFile
      ? { kind: "file", path: relativeTo(configDir, tokenFile) }
      : { kind: "env", name: nonEmpty(settings.token_env) ?? DEFAULT_TOKEN_ENV },
  };
}

// ---------------------------------------------------------------- the identity token

/** Where to look, for messages: "token file /p/agent.jwt" or "KZ_IDENTITY_TOKEN". */
export function describeSource(source: TokenSource): string {
  return source.kind === "file" ? `token file ${source.path}` : source.name;
}

/** A bearer token is printable ASCII without spaces (a JWT always is); anything else is a paste mistake. */
const TOKEN_SHAPE = /^[\x21-\x7e]+$/;

export async function readIdentityToken(source: TokenSource, env: Record<string, string | undefined>, url: string): Promise<string> {
  let token: string | undefined;
  if (source.kind === "file") {
    try {
      token = (await readFile(source.path, "utf8")).trim();
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      throw new ProviderError(
        `cannot read the identity token for kz server ${url} from ${source.path} (${code === "ENOENT" ? "it does not exist" : code}) — check [providers.kz] token_file`,
      );
    }
    if (!token) throw new ProviderError(`the identity token file ${source.path} for kz server ${url} is empty — write the agent's token (a JWT) into it`);
  } else {
    token = env[source.name]?.trim();
    if (!token) {
      const how = source.name === DEFAULT_TOKEN_ENV ? `set ${DEFAULT_TOKEN_ENV}` : `set ${source.name} (named by [providers.kz] token_env)`;
      throw new ProviderError(`no identity token for kz server ${url}: ${how}, or point [providers.kz] token_file at a file holding it`);
    }
  }
  if (!TOKEN_SHAPE.test(token)) {
    throw new ProviderError(`the identity token in ${describeSource(source)} contains spaces or control characters — it should be one JWT`);
  }
  return token;
}

export async function readCaFile(path: string, url: string): Promise<string[]> {
  let pem: string;
  try {
    pem = await readFile(path, "utf8");
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new ProviderError(`cannot read the CA file ${path} for kz server ${url} (${code === "ENOENT" ? "it does not exist" : code}) — check [providers.kz] ca_file`);
  }
  if (!pem.includes("-----BEGIN CERTIFICATE-----")) throw new ProviderError(`[providers.kz] ca_file ${path} is not a PEM certificate`);
  // Beside the system roots, not instead of them; loaded only when a ca_file is configured.
  const { rootCertificates } = await import("node:tls");
  return [...rootCertificates, pem];
}

// ---------------------------------------------------------------- the server's answers

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** The server's `error.message`, one line, bounded, with the token cut out should a server ever echo it. */
export function serverMessageOf(body: unknown, token: string): string {
  const error = isRecord(body) && isRecord(body.error) ? body.error : undefined;
  const message = typeof error?.message === "string" ? error.message : typeof error?.code === "string" ? error.code : "";
  const line = message.split(token).join("[token]").replace(/\s+/g, " ").trim();
  return line.length > SERVER_MESSAGE_MAX ? `${line.slice(0, SERVER_MESSAGE_MAX)}…` : line;
}

export interface Answer {
  status: number;
  body: unknown;
  /** The Location of a redirect, shown without query (it is never followed). */
  location?: string;
}

/** The value in a 200 answer, wrapped at once, or the one-line reason the answer is not one. */
export function valueOrReason(answer: Answer, ref: string, url: string, token: string, source: TokenSource): SecretValue {
  const { status, body } = answer;
  const said = serverMessageOf(body, token);
  const where = `kz server ${url}, secret ${ref}`;
  if (status === 200) {
    if (!isRecord(body) || typeof body.value !== "string") throw new ProviderError(`answer without a value (${where}) — is ${url} a kz server?`);
    if (body.name !== ref) throw new ProviderError(`answer names a different secret (${where}) — refused`);
    return new SecretValue(body.value);
  }
  if (status === 401) {
    const hint = source.kind === "file" ? `check ${describeSource(source)}` : `check ${source.name}`;
    throw new ProviderError(`identity token rejected${said ? ` (${said})` : ""} (${where}): get a fresh token / ${hint}`);
  }
  if (status === 403) {
    const why = said.replace(/^denied by /i, ""); // the server's reason may itself start "denied by policy 0 rule 1"
    throw new ProviderError(`denied by policy${why ? `: ${why}` : ""} (${where})`);
  }
  if (status === 404) throw new ProviderError(`the server has no secret named ${ref} (kz server ${url}) — check the ref against the server's bundle`);
  if (status === 400 || status === 413) {
    throw new ProviderError(`request refused as ${status === 413 ? "too large" : "malformed"}${said ? ` (${said})` : ""} (${where})`);
  }
  if (status === 503) {
    throw new ProviderError(`server unavailable${said ? ` (${said})` : ""} (${where}): its backend or keys are unreachable — try again later`);
  }
  if (status >= 300 && status < 400) {
    const to = answer.location ? ` to ${answer.location}` : "";
    throw new ProviderError(`server redirected${to} (${where}): set [providers.kz] url to the server's own address (redirects are not followed)`);
  }
  throw new ProviderError(`server answered ${status}${said ? ` (${said})` : ""} (${where})`);
}

// ---------------------------------------------------------------- HTTP


function locationOf(response: Response, base: string): string | undefined {
  const location = response.headers.get("location");
  if (!location) return undefined;
  try {
    const url = new URL(location, base);
    return url.origin + url.pathname;
  } catch {
    return undefined;
  }
}

interface Connection {
  server: KzServer;
  token: string;
  ca?: string[];
}

async function postResolve({ server, token, ca }: Connection, ref: string, signal: AbortSignal): Promise<Answer> {
  const endpoint = `${server.url}/v1/resolve`;
  let response: Response;
  try {
    response = await fetch(endpoint, {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json", accept: "application/json" },
      body: JSON.stringify({ secret: ref }),
      redirect: "manual", // a redirect would carry the bearer token to wherever it points
      signal,
      tls: ca ? { ca } : undefined,
    });
  } catch (error) {
    if (signal.aborted) throw new ProviderError(`request to kz server ${server.url} for ${ref} was cancelled`);
    const code = errorCodeOf(error);
    if (TLS_ERROR.test(code)) {
      throw new ProviderError(`cannot verify the TLS certificate of kz server ${server.url} (${code}) — set [providers.kz] ca_file to its CA's PEM file`);
    }
    throw new ProviderError(`cannot reach kz server at ${server.url} (${code}) resolving ${ref} — check [providers.kz] url and that the server is running`);
  }
  return { status: response.status, body: await bodyOf(response), location: locationOf(response, endpoint) };
}

// ---------------------------------------------------------------- the provider

const createKzProvider: ProviderFactory = async ({ settings, env, configDir }: ProviderContext) => {
  const server = serverFrom(settings, configDir);
  const [token, ca] = await Promise.all([
    readIdentityToken(server.token, env, server.url),
    server.caFile ? readCaFile(server.caFile, server.url) : undefined,
  ]);
  const connection: Connection = { server, token, ca };
  // Concurrent fetches of one ref share a request (two fields of one JSON secret cost one decision on the
  // server); nothing is kept once it settles, so a long-lived instance never serves a stale value.
  const inFlight = new Map<string, Promise<SecretValue>>();

  const resolveRef = (ref: string, signal: AbortSignal): Promise<SecretValue> => {
    let pending = inFlight.get(ref);
    if (!pending) {
      pending = postResolve(connection, ref, signal).then((answer) => valueOrReason(answer, ref, server.url, token, server.token));
      inFlight.set(ref, pending);
      const forget = () => inFlight.delete(ref);
      pending.then(forget, forget);
    }
    return pending;
  };

  return {
    async fetch({ ref, field, signal }) {
      const whole = await resolveRef(ref, signal);
      if (field === undefined) {
        if (whole.length === 0) throw new ProviderError(`kz server ${server.url} returned an empty value for ${ref}`);
        return whole;
      }
      const value = selectField(whole.reveal(), field, `secret ${ref} from kz server ${server.url}`);
      if (value === "") throw new ProviderError(`secret ${ref} field "${field}" from kz server ${server.url} is empty`);
      return new SecretValue(value);
    },
  };
};

export default createKzProvider;
