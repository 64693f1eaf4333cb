// The `fetch` tool: an HTTP request made for the agent with credentials it never sees, through blind
// mode's rewrite engine (one engine, not two). In order, each step failing closed with a tool error:
//   1. Build the request head from the arguments (`secret` becomes `Authorization: Bearer <its token>`).
//   2. Discover which secrets it uses: planRequest over the discovery table (every minted token, no value,
//      any host) finds tokens wherever the engine would swap them — URL, headers, Basic credentials, body.
//   3. A policy decision per secret (action fetch, with host, method and path), each audited by the host.
//   4. Blind mode's host rule per secret (bindingProblem: its hosts, TLS except to loopback), then its
//      placement (`swap`): the engine over the bound secrets with no value refuses a token found where
//      its secret may not be swapped (a body, by default), audited as a refused decision like a host.
//   5. The SSRF guard on the address actually dialled (a `resolve` pin's target included).
//   6. Values fetched; planRequest again with the real table does the swap; the request goes out pinned
//      to the checked address (roundtrip.ts); the response is masked by the echo rewriter (fetch-result.ts).
// The caller's own captured secrets (captured.ts) take part like bundle secrets — by `secret` or token,
// bound to their hosts — except that ownership, not policy, decides them (each use is audited). With
// `capture`, everything that can be checked before the request is (names, hosts, state), and capture.ts
// takes the response.

import { bindingProblem } from "../blind/hosts.ts";
import { HttpError, serializeRequestHead } from "../blind/http1.ts";
import { echoRewriter, longestEchoForm } from "../blind/rewrite/echo.ts";
import { withHeader } from "../blind/rewrite/head.ts";
import { isRefusal, planRequest } from "../blind/rewrite/plan.ts";
import { TOKEN_PREFIX, TokenTable } from "../blind/tokens.ts";
import type { BlindSecret, Destination, ProducedForm, Refusal, RequestHead } from "../blind/types.ts";
import { UpstreamError, dialAddress } from "../blind/upstream.ts";
import type { Placement } from "../config/placement.ts";
import type { SecretSpec } from "../config/types.ts";
import { SecretValue } from "../secret.ts";
import { type CallContext, type ToolOutcome, ok, refuse } from "./calls.ts";
import { captureResponse } from "./capture.ts";
import { type CapturedEntry, MAX_CAPTURED_PER_OWNER, auditCaptured, callerCaptured, destinationPattern, ownerOf, statefulOf, uncoveredHost } from "./captured.ts";
import { buildFetchResult } from "./fetch-result.ts";
import { parseHostPattern } from "../blind/hosts.ts";
import { type Pin, RoundTripError, TimedOut, pooledRoundTrip } from "./roundtrip.ts";
import { checkedAddress } from "./ssrf.ts";
import { FetchSettingsError } from "./state.ts";
import type { FetchArgs } from "./tools.ts";

interface Target {
  dest: Destination;
  /** origin-form request target */
  target: string;
  hostHeader: string;
  path: string;
}

/** The destination of an absolute URL, or why it cannot be one. */
export function parseTarget(text: string): Target | string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return `${JSON.stringify(text.slice(0, 200))} is not an absolute URL (e.g. https://api.example.com/v1/items)`;
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") return `only https:// URLs (http:// to loopback) can be fetched, not ${url.protocol}`;
  if (url.username || url.password) return "the URL carries user:password@ credentials; put a token in a header (e.g. Authorization: Basic) instead";
  const tls = url.protocol === "https:";
  const host = url.hostname.startsWith("[") ? url.hostname.slice(1, -1) : url.hostname;
  if (!host) return "the URL has no host";
  return {
    dest: { host, port: url.port ? Number(url.port) : tls ? 443 : 80, tls },
    target: (url.pathname || "/") + url.search,
    hostHeader: url.host,
    path: url.pathname || "/",
  };
}

/** The request as the agent described it, tokens and all; `bearerToken` is `secret`'s token. */
export const DEFAULT_INJECTION = "Authorization: Bearer {}";

/** The header a `fetch {secret}` adds: the secret's `inject` template (default bearer) around its token. */
export function injectionHeader(template: string | undefined, token: string): [string, string] {
  const text = template ?? DEFAULT_INJECTION;
  const colon = text.indexOf(":");
  return [text.slice(0, colon), text.slice(colon + 1).trim().replace("{}", token)];
}

export function requestHead(args: FetchArgs, target: Target, injection: [string, string] | undefined): { head: RequestHead; body: Buffer | null } {
  // An injected header replaces one of the same name the caller sent.
  const own = injection === undefined ? args.headers : args.headers.filter(([name]) => name.toLowerCase() !== injection[0].toLowerCase());
  const headers: [string, string][] = [["Host", target.hostHeader], ...own];
  if (injection !== undefined) headers.push(injection);
  if (!headers.some(([name]) => name.toLowerCase() === "user-agent")) headers.push(["User-Agent", "kz-mcp-fetch"]);
  headers.push(["Accept-Encoding", "identity"]); // a compressed response could hide a value from masking
  const body = args.body !== undefined ? Buffer.from(args.body, "utf8") : null;
  if (body) headers.push(["Content-Length", String(body.length)]);
  return { head: { method: args.method, target: target.target, version: "HTTP/1.1", headers }, body };
}

const NO_VALUE = new SecretValue("");

/** The secrets a request uses, found by running the engine over a table that swaps in nothing. */
function secretsUsed(dest: Destination, head: RequestHead, body: Uint8Array | null, table: TokenTable): string[] | Refusal {
  const planned = planRequest(dest, head, table);
  if (isRefusal(planned)) return planned;
  const names = new Set(planned.swapped);
  const plan = planned.body;
  if (body && plan.kind === "buffer") {
    const rewritten = plan.rewrite(body);
    if (isRefusal(rewritten)) return rewritten;
    for (const name of plan.audit?.().swapped ?? []) names.add(name);
  }
  return [...names];
}

/** Each used secret may go to `dest` (its hosts, TLS rule); their token-table entries, or why not. */
function boundSecrets(dest: Destination, used: string[], specs: readonly SecretSpec[], captured: readonly CapturedEntry[], tokenFor: (name: string) => string) {
  const bound: { name: string; token: string; hosts: string[]; swap?: Placement[] }[] = [];
  for (const name of used) {
    const spec = specs.find((s) => s.name === name);
    const mine = spec ? undefined : captured.find((c) => c.name === name);
    const hosts = spec?.hosts ?? mine?.hosts ?? [];
    if (hosts.length === 0) {
      return mine
        ? `${name} is a captured secret bound to no host, so it cannot be sent anywhere (it can be shared; capture it with hosts to use it in fetch)`
        : `${name} has no hosts in the bundle, so it cannot be sent anywhere`;
    }
    const problem = bindingProblem(dest, { name, hosts });
    if (problem) return problem;
    bound.push({ name, token: mine ? mine.token : tokenFor(name), hosts, ...(spec?.swap ? { swap: spec.swap } : {}) });
  }
  return bound;
}

const ANY_TOKEN = new RegExp(`${TOKEN_PREFIX}[A-Za-z0-9_-]+`, "g");

/**
 * Whether a request may use one of the caller's captured secrets, so that the state is read only then: it
 * captures, names a secret the bundle does not have, or carries a token the bundle's secrets do not own —
 * as text in the URL, a header or the body, or inside Basic credentials (where the engine also looks).
 * A token missed here would only go out inert, never swapped.
 */
export function mayUseCaptured(args: FetchArgs, specs: readonly SecretSpec[], bundleToken: (token: string) => boolean): boolean {
  if (args.capture) return true;
  if (args.secret !== undefined && !specs.some((s) => s.name === args.secret)) return true;
  const texts = [args.url, args.body ?? "", ...args.headers.map(([, value]) => value)];
  for (const [, value] of args.headers) {
    const basic = /^\s*basic\s+(\S+)/i.exec(value);
    if (basic) texts.push(Buffer.from(basic[1]!, "base64").toString("latin1"));
  }
  return texts.some((text) => text.includes(TOKEN_PREFIX) && [...text.matchAll(ANY_TOKEN)].some(([token]) => !bundleToken(token)));
}

/** Why `capture` cannot be done for this request, checked before it is sent; undefined when it can. */
async function captureProblem(args: FetchArgs, ctx: CallContext, dest: Destination, specs: readonly SecretSpec[], captured: readonly CapturedEntry[], boundHosts: string[]) {
  const stateful = statefulOf(ctx);
  if (!stateful) return "this kz server keeps no state, so it cannot capture";
  if (!ownerOf(ctx.identity)) return "your token has no subject (sub), so a captured secret could not be yours alone";
  const parents = [destinationPattern(dest), ...boundHosts.map((h) => parseHostPattern(h))];
  for (const spec of args.capture ?? []) {
    if (specs.some((s) => s.name === spec.as)) return `capture: ${spec.as} is the name of a secret in the bundle; pick another name`;
    const wider = uncoveredHost(spec.hosts, parents);
    if (wider !== undefined) {
      return `capture: ${spec.as} may not be bound to ${wider}: a captured secret may go only to this request's host or where the secrets it used may go`;
    }
  }
  const names = new Set([...captured.map((c) => c.name), ...(args.capture ?? []).map((c) => c.as)]);
  if (names.size > MAX_CAPTURED_PER_OWNER) return `capture: you would hold more than ${MAX_CAPTURED_PER_OWNER} captured secrets; let some expire first`;
  return undefined;
}

/** Why a bound secret's token sits where its `swap` does not allow (the engine, with no value); else undefined. */
function misplacement(dest: Destination, head: RequestHead, body: Uint8Array | null, bound: { name: string; token: string; hosts: string[]; swap?: Placement[] }[]) {
  const used = secretsUsed(dest, head, body, new TokenTable(bound.map((b) => ({ ...b, value: NO_VALUE }))));
  return isRefusal(used) ? used : undefined;
}

/** The request as it leaves: tokens swapped by the engine, body rewritten and re-framed (or re-signed). */
function rewrittenRequest(dest: Destination, head: RequestHead, body: Buffer | null, table: TokenTable) {
  const planned = planRequest(dest, head, table);
  if (isRefusal(planned)) return planned;
  let finalHead = planned.head;
  let finalBody: Uint8Array | null = body;
  if (body && planned.body.kind === "buffer") {
    const rewritten = planned.body.rewrite(body);
    if (isRefusal(rewritten)) return rewritten;
    if (planned.body.finishHead) {
      const signed = planned.body.finishHead(rewritten);
      if (isRefusal(signed)) return signed;
      finalHead = signed;
    } else {
      finalHead = withHeader(finalHead, "Content-Length", String(rewritten.length));
    }
    finalBody = rewritten;
  }
  // A "passthrough" body (not textual) goes as given: a token in it stays an inert token.
  return { head: serializeRequestHead(finalHead), body: finalBody, produced: planned.produced ?? [] };
}

/** The longest form of any value the echo rewriter masks: how far past the limit a body is read. */
function longestForm(secrets: readonly BlindSecret[], produced: ProducedForm[]): number {
  return longestEchoForm(secrets, produced);
}

/** Errors whose messages are written for the caller (never a value in them); anything else is described by type only. */
const CALLER_SAFE_ERRORS = new Set(["ProviderError", "KzError", "ConfigError", "AccessError"]);

function describeError(error: unknown): string {
  const e = error as Error;
  if (e && CALLER_SAFE_ERRORS.has(e.name)) return e.message;
  return `internal error (${e?.name ?? typeof error})`;
}

export async function fetchTool(args: FetchArgs, ctx: CallContext): Promise<ToolOutcome> {
  const { host, identity, client, state, limits } = ctx;
  const target = parseTarget(args.url);
  if (typeof target === "string") return refuse(`fetch: ${target}`);
  const { dest } = target;
  const specs = host.secrets();
  const decision = { action: "fetch" as const, host: dest.host, method: args.method, path: target.path };

  // The caller's own captured secrets (none without server state), read only when the request may use one.
  let captured: CapturedEntry[] = [];
  let stateProblem: string | undefined;
  try {
    if (mayUseCaptured(args, specs, (token) => state.tokens.knows(token))) captured = await callerCaptured(ctx, specs);
  } catch {
    stateProblem = "server state is unavailable, so captured secrets cannot be used or made";
  }
  if (args.capture && stateProblem) return refuse(`fetch: ${stateProblem}`);
  const isCaptured = (name: string) => !specs.some((s) => s.name === name) && captured.some((c) => c.name === name);
  /** A decision for a bundle secret; for a captured one, an audit record of its use (ownership decides). */
  const record = (name: string, refused?: string): { allow: boolean; reason: string; decisionId: string } => {
    if (!isCaptured(name)) return host.decide(identity, name, refused === undefined ? decision : { ...decision, refused }, client);
    try {
      auditCaptured(ctx, statefulOf(ctx)!, refused === undefined ? "captured.used" : "captured.refused", {
        name,
        host: dest.host,
        method: args.method,
        path: target.path,
        reason: refused ?? null,
      });
      return { allow: refused === undefined, reason: refused ?? "your own captured secret", decisionId: "" };
    } catch {
      return { allow: false, reason: "the audit log cannot be written, so no decision is made", decisionId: "" };
    }
  };

  // 1. The request as asked for.
  const injectedCapture = args.secret !== undefined && isCaptured(args.secret) ? captured.find((c) => c.name === args.secret) : undefined;
  if (args.secret !== undefined && !specs.some((s) => s.name === args.secret) && !injectedCapture) {
    if (stateProblem) return refuse(`fetch: ${stateProblem}`);
    host.decide(identity, args.secret, decision, client); // audited like any other attempt
    return refuse(`fetch: no secret named ${JSON.stringify(args.secret.slice(0, 100))}; list_secrets shows the ones you may use`);
  }
  const injected = args.secret !== undefined ? specs.find((s) => s.name === args.secret) : undefined;
  const injection = injected
    ? injectionHeader(injected.inject, state.tokens.tokenFor(injected.name))
    : injectedCapture
      ? injectionHeader(undefined, injectedCapture.token)
      : undefined;
  const { head, body } = requestHead(args, target, injection);

  // 2. Which secrets it uses.
  const used = secretsUsed(dest, head, body, state.tokens.discoveryTableWith(captured));
  if (isRefusal(used)) {
    if (used.secret) record(used.secret, isCaptured(used.secret) ? used.reason : undefined);
    return refuse(`fetch refused: ${used.reason}`);
  }
  if (used.length === 0) {
    if (stateProblem) return refuse(`fetch: ${stateProblem}`);
    return refuse("fetch: the request uses no secret — pass `secret`, or put a token from `resolve` in the URL, a header or the body");
  }

  // 3. Blind mode's host rule, before any policy: a token headed to a host its secret is not bound to is
  // refused whatever the policies say, and recorded as a deny for every secret the request uses.
  const bound = boundSecrets(dest, used, specs, captured, (name) => state.tokens.tokenFor(name));
  if (typeof bound === "string") {
    for (const name of used) record(name, bound);
    return refuse(`fetch refused: ${bound}`);
  }
  const misplaced = misplacement(dest, head, body, bound);
  if (misplaced) {
    record(misplaced.secret, misplaced.reason);
    return refuse(`fetch refused: ${misplaced.reason}`);
  }
  if (args.capture) {
    const problem = await captureProblem(args, ctx, dest, specs, captured, bound.flatMap((b) => b.hosts));
    if (problem) {
      const stateful = statefulOf(ctx);
      try {
        if (stateful) auditCaptured(ctx, stateful, "capture.refused", { names: args.capture.map((c) => c.as), source_host: dest.host, status: null, reason: problem });
      } catch {
        // Refused either way; nothing was sent.
      }
      return refuse(`fetch: ${problem} (nothing was sent)`);
    }
  }

  // 4. Policy, for every secret (each decision is an audit record).
  const denied = used.flatMap((name) => {
    const verdict = record(name);
    return verdict.allow ? [] : [`${name}: ${verdict.reason}${verdict.decisionId ? ` (decision ${verdict.decisionId})` : ""}`];
  });
  if (denied.length > 0) return refuse(`fetch denied by policy — ${denied.join("; ")}`);

  // 5. The SSRF guard, on the address that will be dialled.
  const settings = host.fetchSettings();
  let dial: { host: string; port: number };
  try {
    dial = dialAddress(dest, settings.resolve);
  } catch (error) {
    return refuse(`fetch: ${(error as Error).message}`);
  }
  const checked = await checkedAddress(dial.host, settings.allowPrivate);
  if (!checked.ok) return refuse(`fetch refused: ${checked.reason}`);

  // 6. Values, the real swap, the exchange, the masked result.
  let values: SecretValue[];
  try {
    const owner = ownerOf(identity)!;
    values = await Promise.all(
      bound.map((b) => {
        const mine = isCaptured(b.name) ? captured.find((c) => c.name === b.name) : undefined;
        return mine ? statefulOf(ctx)!.unseal(mine.stored.sealed, owner, mine.name) : host.value(b.name, identity);
      }),
    );
  } catch (error) {
    return refuse(`fetch: cannot read a secret from its provider: ${describeError(error)}`);
  }
  let table: TokenTable;
  try {
    table = new TokenTable(bound.map((b, i) => ({ ...b, value: values[i]! })));
  } catch (error) {
    return refuse(`fetch: ${describeError(error)}`); // a malformed host pattern, named with its secret
  }
  const request = rewrittenRequest(dest, head, body, table);
  if (isRefusal(request)) return refuse(`fetch refused: ${request.reason}`);
  const pin: Pin = { dest, address: checked.address, port: dial.port, caPath: settings.upstreamCa };
  const margin = longestForm(table.secrets, request.produced);
  try {
    const raw = await pooledRoundTrip(state.upstreams, pin, { ...request, method: args.method }, limits.maxResponseBytes + margin, limits.fetchTimeoutMs);
    if (args.capture) {
      const run = { ctx, stateful: statefulOf(ctx)!, owner: ownerOf(identity)!, dest, requestSecrets: table.secrets, produced: request.produced };
      return await captureResponse(raw, args.capture, { ...run, limit: limits.maxResponseBytes, margin });
    }
    return ok(buildFetchResult(raw, echoRewriter(table.secrets, request.produced), limits.maxResponseBytes, margin));
  } catch (error) {
    if (error instanceof TimedOut) return refuse(`fetch: ${dest.host} did not answer within ${error.ms} ms`);
    if (error instanceof UpstreamError || error instanceof RoundTripError || error instanceof HttpError || error instanceof FetchSettingsError) {
      return refuse(`fetch: ${error.message}`);
    }
    return refuse(`fetch: ${describeError(error)}`);
  }
}
