// Host globs: which destinations a blinded secret may be sent to, and why a destination is not one.
//
// Pattern forms — case-insensitive, a trailing dot ignored on both sides, IDN names compared in
// punycode and IP literals in canonical form (so "127.1" is 127.0.0.1 and "0:0::1" is ::1):
//   api.openai.com     exactly that host
//   *.slack.com        any subdomain one or more labels deep (a.slack.com, a.b.slack.com) but NOT
//                      slack.com itself — list "slack.com" as well for the apex
//   *                  any host on any port: an explicit opt-in
//   [::1]  ::1  10.0.0.7
//                      IP literals; IPv6 takes brackets when a port follows
// `*` is allowed only as the whole host or as a leading "*." label; anything else is an invalid pattern.
//
// Ports: a pattern without a port matches only the default ports, 443 and 80. "host:8443" matches only
// that port, "host:*" any port, and a bare "*" any host on any port. Not "any port" by default because
// on a shared address another port is another party: on loopback above all, where the child itself
// can listen on 127.0.0.1:9999 — "localhost" must not mean "whoever listens on localhost".
//
// Transport: even a matching destination receives a value only over TLS; plain http is allowed to
// loopback only (localhost, *.localhost, 127.0.0.0/8, ::1).

import type { BlindSecret, Destination } from "./types.ts";

export interface HostPattern {
  /** The pattern as written, for messages. */
  text: string;
  /** Canonical host ("" when any host matches). */
  host: string;
  hostMatch: "exact" | "subdomains" | "any";
  /** "default" = 443 or 80. */
  port: number | "default" | "any";
}

const DEFAULT_PORTS = new Set([443, 80]);

/** Parses one pattern; throws an Error saying what is wrong with it (patterns are not secret). */
export function parseHostPattern(text: string): HostPattern {
  const trimmed = text.trim().toLowerCase();
  if (trimmed === "*") return { text, host: "", hostMatch: "any", port: "any" };
  const { host, port } = splitHostPort(trimmed, text);
  if (host === "*") return { text, host: "", hostMatch: "any", port: port ?? "default" };
  const subdomains = host.startsWith("*.");
  const base = subdomains ? host.slice(2) : host;
  if (base.includes("*")) {
    throw new Error(`host pattern "${text}" is not valid: "*" may only be the whole host or a leading "*." label`);
  }
  const canonical = canonicalHost(base);
  if (canonical === undefined) throw new Error(`host pattern "${text}" is not a valid host name or address`);
  return { text, host: canonical, hostMatch: subdomains ? "subdomains" : "exact", port: port ?? "default" };
}

function splitHostPort(pattern: string, text: string): { host: string; port?: number | "any" } {
  if (pattern.startsWith("[")) {
    const close = pattern.indexOf("]");
    if (close < 0) throw new Error(`host pattern "${text}" is not valid: "[" without "]"`);
    const rest = pattern.slice(close + 1);
    if (rest && !rest.startsWith(":")) throw new Error(`host pattern "${text}" is not valid: text after "]"`);
    return { host: pattern.slice(1, close), port: rest ? parsePort(rest.slice(1), text) : undefined };
  }
  const colons = pattern.split(":").length - 1;
  if (colons >= 2) return { host: pattern }; // a bare IPv6 literal: no port possible
  if (colons === 1) {
    const at = pattern.indexOf(":");
    return { host: pattern.slice(0, at), port: parsePort(pattern.slice(at + 1), text) };
  }
  return { host: pattern };
}

function parsePort(text: string, pattern: string): number | "any" {
  if (text === "*") return "any";
  const port = /^\d{1,5}$/.test(text) ? Number(text) : NaN;
  if (!(port >= 1 && port <= 65535)) throw new Error(`host pattern "${pattern}" has an invalid port "${text}"`);
  return port;
}

/** Lower-case, no brackets, no trailing dot, punycode, canonical IP form; undefined if not a host. */
export function canonicalHost(host: string): string | undefined {
  let h = host.trim().toLowerCase();
  if (h.startsWith("[") && h.endsWith("]")) h = h.slice(1, -1);
  if (h.endsWith(".")) h = h.slice(0, -1);
  if (!h || /[\s/?#@\\[\]%]/.test(h)) return undefined;
  if (h.includes(":")) {
    try {
      return new URL(`http://[${h}]/`).hostname.slice(1, -1);
    } catch {
      return undefined;
    }
  }
  try {
    const parsed = new URL(`http://${h}/`);
    if (parsed.port || parsed.username || parsed.pathname !== "/") return undefined;
    return parsed.hostname.replace(/\.$/, "");
  } catch {
    return undefined;
  }
}

/** Whether dest's host and port match the pattern (transport not considered). */
export function matchesHost(dest: Destination, pattern: HostPattern): boolean {
  if (!portMatches(dest.port, pattern.port)) return false;
  if (pattern.hostMatch === "any") return true;
  const host = canonicalHost(dest.host);
  if (host === undefined) return false;
  if (pattern.hostMatch === "exact") return host === pattern.host;
  return host.length > pattern.host.length + 1 && host.endsWith(`.${pattern.host}`);
}

function portMatches(port: number, wanted: HostPattern["port"]): boolean {
  if (wanted === "any") return true;
  if (wanted === "default") return DEFAULT_PORTS.has(port);
  return port === wanted;
}

export function isLoopback(host: string): boolean {
  const h = canonicalHost(host);
  if (h === undefined) return false;
  if (h === "localhost" || h.endsWith(".localhost")) return true;
  if (/^127\.\d+\.\d+\.\d+$/.test(h)) return true;
  return h === "::1" || /^::ffff:7f[0-9a-f]{2}:[0-9a-f]{1,4}$/.test(h);
}

/** Why `secret` may not be sent to `dest`, as one line naming the secret; undefined when it may. */
export function bindingProblem(dest: Destination, secret: Pick<BlindSecret, "name" | "hosts">, patterns?: HostPattern[]): string | undefined {
  const compiled = patterns ?? compilePatterns(secret.hosts);
  if (!compiled.some((p) => matchesHost(dest, p))) {
    const allowed = secret.hosts.length ? secret.hosts.join(", ") : "no host";
    return `${secret.name} may only be sent to ${allowed}; this request goes to ${describeDestination(dest)}`;
  }
  if (!dest.tls && !isLoopback(dest.host)) {
    return `${secret.name} is only sent over TLS (plain http only to loopback); this request to ${describeDestination(dest)} is plain http`;
  }
  return undefined;
}

export function isBound(dest: Destination, secret: Pick<BlindSecret, "name" | "hosts">): boolean {
  return bindingProblem(dest, secret) === undefined;
}

/** Patterns that fail to parse are dropped here (they match nothing); TokenTable rejects them up front. */
function compilePatterns(hosts: string[]): HostPattern[] {
  const out: HostPattern[] = [];
  for (const text of hosts) {
    try {
      out.push(parseHostPattern(text));
    } catch {
      // fail closed: an invalid pattern binds nothing
    }
  }
  return out;
}

/** "host" when the port is the scheme's default, else "host:port"; IPv6 in brackets. */
export function describeDestination(dest: Destination): string {
  const host = dest.host.includes(":") ? `[${dest.host}]` : dest.host;
  const defaultPort = dest.tls ? 443 : 80;
  return dest.port === defaultPort ? host : `${host}:${dest.port}`;
}
