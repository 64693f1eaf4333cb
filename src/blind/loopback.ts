// Loopback bindings dial what they name. A secret bound to "localhost:9447" is meant for the service on
// 127.0.0.1:9447; but "localhost" also means ::1, and a dialler that tries both (happy eyeballs, or ::1
// first) hands the value to whoever listens on [::1]:9447 — any local process can bind that port on the
// family the real service left free. So:
//   - "localhost", "*.localhost" and "localhost.localdomain" are dialled at 127.0.0.1, never looked up;
//     write "[::1]" (an IP literal) to mean IPv6 loopback;
//   - a name that resolves to a loopback address is dialled at ONE address: its first IPv4 loopback
//     address if it has one, else its first address — never a race between families.
// Other names are dialled as before.

import { lookup } from "node:dns/promises";
import { isIP } from "node:net";

const LOOPBACK_NAME = /^(localhost|localhost\.localdomain|[a-z0-9_.-]+\.localhost)\.?$/i;

/** Is `host` one of the names that mean loopback by definition (RFC 6761)? */
export function isLoopbackName(host: string): boolean {
  return LOOPBACK_NAME.test(host);
}

/** The host to dial for `host`: 127.0.0.1 for the loopback names, else `host` itself. */
export function loopbackDialHost(host: string): string {
  return isLoopbackName(host) ? "127.0.0.1" : host;
}

function isLoopbackAddress(address: string): boolean {
  if (isIP(address) === 4) return address.startsWith("127.");
  const lower = address.toLowerCase();
  return lower === "::1" || lower === "0:0:0:0:0:0:0:1" || /^::ffff:127\./.test(lower);
}

/** Of the addresses a name resolved to, the one to dial (see the header): undefined when none is loopback. */
export function pickLoopbackAddress(addresses: readonly string[]): string | undefined {
  if (!addresses.some(isLoopbackAddress)) return undefined;
  return addresses.find((a) => isIP(a) === 4 && isLoopbackAddress(a)) ?? addresses[0];
}

/** Of a name's addresses, the one to dial: a loopback pick as above, else the first. */
export function pickAddress(addresses: readonly string[]): string | undefined {
  return pickLoopbackAddress(addresses) ?? addresses[0];
}

/**
 * The address to dial for a host name: a loopback name's 127.0.0.1, a literal as is, or — for a name that
 * resolves to loopback — its one picked address. Names that resolve elsewhere (or not at all) are
 * returned unchanged, for the socket layer to connect as usual (its errors are the ones users know).
 */
export async function safeDialHost(host: string): Promise<string> {
  if (isIP(host) !== 0) return host;
  if (isLoopbackName(host)) return "127.0.0.1";
  try {
    const addresses = (await lookup(host, { all: true, verbatim: true })).map((a) => a.address);
    return pickLoopbackAddress(addresses) ?? host;
  } catch {
    return host;
  }
}
