// MCP over stdio, for `kz server start --mcp --stdio` under a desktop client: newline-delimited JSON-RPC
// on stdin and stdout (stdout carries nothing else). The caller is whoever the process's identity token
// says — KZ_IDENTITY_TOKEN, or a token file given at start and re-read on every call so a rotated token
// (a Kubernetes projected token, say) keeps working — never a tool argument. The token is verified at
// start, and again before every message, since it can expire while the client keeps the process open.
// Messages are answered concurrently, each answer one line as soon as it is ready.

import { readFileSync } from "node:fs";
import { KzError } from "../errors.ts";
import type { CallContext } from "./calls.ts";
import { type SessionState, processBody } from "./dispatch.ts";
import type { CallerIdentity, McpHost } from "./host.ts";
import { ErrorCode, type JsonRpcResponse, type RequestId, failure, parseJson } from "./jsonrpc.ts";
import { type McpOptions, limitsFor, stateOf } from "./state.ts";
import { LATEST_VERSION } from "./versions.ts";

/** Yields the current identity token (a JWT). */
export type IdentitySource = () => string;

/** Where the stdio server's identity comes from: `file` when given (re-read each time), else KZ_IDENTITY_TOKEN. */
export function identityTokenSource(opts: { env: Record<string, string | undefined>; file?: string }): IdentitySource {
  const { file } = opts;
  if (file !== undefined) {
    return () => {
      let text: string;
      try {
        text = readFileSync(file, "utf8");
      } catch (error) {
        throw new KzError(`cannot read the identity token file ${file} (${(error as NodeJS.ErrnoException).code ?? "error"})`);
      }
      const token = text.trim();
      if (!token) throw new KzError(`the identity token file ${file} is empty`);
      return token;
    };
  }
  const token = opts.env.KZ_IDENTITY_TOKEN?.trim();
  if (!token) throw new KzError("--mcp --stdio needs the agent's identity token: set KZ_IDENTITY_TOKEN, or give a token file");
  return () => token;
}

export type McpOutput = ((line: string) => unknown) | { write(text: string): unknown };

/** Verifies the current token; the identity, or why it was rejected (one line, no token in it). */
async function currentIdentity(host: McpHost, source: IdentitySource): Promise<CallerIdentity | string> {
  let token: string;
  try {
    token = source();
  } catch (error) {
    return (error as Error).message;
  }
  const auth = await host.authenticate(`Bearer ${token}`);
  return auth.ok ? auth.identity : `identity token rejected: ${auth.message}`;
}

/** The ids of the requests in a parsed message body (to answer each when the caller cannot be verified). */
function requestIds(value: unknown): RequestId[] {
  const items = Array.isArray(value) ? value : [value];
  const ids: RequestId[] = [];
  for (const item of items) {
    const m = item as Record<string, unknown> | null;
    if (m && typeof m === "object" && typeof m.method === "string" && (typeof m.id === "string" || typeof m.id === "number")) ids.push(m.id);
  }
  return ids;
}

/**
 * Serves MCP on `input`/`output` until the input ends (then waits for answers in flight). Throws KzError
 * before reading anything when the identity token does not verify.
 */
export async function serveMcpStdio(
  host: McpHost,
  identity: string | IdentitySource,
  input: AsyncIterable<Uint8Array | string>,
  output: McpOutput,
  options: McpOptions = {},
): Promise<void> {
  const source: IdentitySource = typeof identity === "string" ? () => identity : identity;
  const first = await currentIdentity(host, source);
  if (typeof first === "string") throw new KzError(first);

  const write = typeof output === "function" ? output : (text: string) => output.write(text);
  let outputGone = false;
  const send = (message: JsonRpcResponse | JsonRpcResponse[]): void => {
    if (outputGone) return;
    try {
      write(`${JSON.stringify(message)}\n`);
    } catch {
      outputGone = true; // the client closed our stdout: nobody is left to answer
    }
  };
  const limits = limitsFor(host, options);
  const session: SessionState = {};
  const state = stateOf(host);
  const inFlight = new Set<Promise<void>>();

  const answer = async (line: string): Promise<void> => {
    const parsed = parseJson(line);
    if (!parsed.ok) return void send(failure(null, ErrorCode.parseError, `parse error: ${parsed.reason}`));
    const caller = await currentIdentity(host, source);
    if (typeof caller === "string") {
      for (const id of requestIds(parsed.value)) send(failure(id, ErrorCode.unauthenticated, `${caller} — renew the token and restart kz`));
      return;
    }
    const call: CallContext = { host, identity: caller, client: "stdio", state, limits };
    const outcome = await processBody(parsed.value, call, session.version ?? LATEST_VERSION, session);
    if (outcome.status !== 202) send(outcome.body);
  };
  const dispatch = (line: string) => {
    if (line.trim() === "") return;
    const job = answer(line).catch(() => {
      send(failure(null, ErrorCode.internalError, "internal error"));
    });
    inFlight.add(job);
    void job.finally(() => inFlight.delete(job));
  };

  const decoder = new TextDecoder();
  let pending = "";
  let skipping = false; // inside an oversized line: drop it up to its newline
  for await (const chunk of input) {
    pending += typeof chunk === "string" ? chunk : decoder.decode(chunk, { stream: true });
    for (let nl = pending.indexOf("\n"); nl !== -1; nl = pending.indexOf("\n")) {
      const line = pending.slice(0, nl);
      pending = pending.slice(nl + 1);
      if (skipping) skipping = false;
      else dispatch(line);
    }
    if (!skipping && pending.length > limits.maxMessageBytes) {
      send(failure(null, ErrorCode.invalidRequest, `message larger than ${limits.maxMessageBytes} bytes`));
      skipping = true;
    }
    if (skipping) pending = "";
  }
  pending += decoder.decode();
  if (!skipping) dispatch(pending);
  while (inFlight.size > 0) await Promise.all([...inFlight]);
  state.upstreams.closeIdle(); // nothing more will use them; do not hold the process open
}
