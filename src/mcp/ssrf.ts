// The SSRF guard for MCP `fetch`: which addresses a fetch may dial. Unless the bundle sets
// `fetch.allow_private`, anything that is not a public unicast address is refused — loopback, private
// (RFC 1918, IPv6 ULA fc00::/7), link-local (169.254/16 with the cloud metadata address, fe80::/10),
// carrier-grade NAT (100.64/10), unspecified, "this network", multicast, broadcast, reserved — and so is
// any IPv6 form that embeds such an IPv4 address (IPv4-mapped, IPv4-compatible, NAT64 64:ff9b::/96, 6to4).
// The check runs on the address actually dialled (a `resolve` pin's target included); a name is looked up
// once, every address it has must pass, and the caller pins the checked address for the connection so a
// second lookup (DNS rebinding) cannot swap it.

import { lookup } from "node:dns/promises";
import { pickAddress } from "../blind/loopback.ts";
import { isIP } from "node:net";

/** Why an address is not public, or undefined when it is. */
export function privateAddressReason(address: string): string | undefined {
  const family = isIP(address);
  if (family === 4) return ipv4Reason(parseIpv4(address)!);
  if (family === 6) {
    const words = parseIpv6(address);
    return words ? ipv6Reason(words) : "an unparseable IPv6 address";
  }
  return "not an IP address";
}

export function parseIpv4(text: string): number[] | undefined {
  const parts = text.split(".");
  if (parts.length !== 4 || !parts.every((p) => /^\d{1,3}$/.test(p))) return undefined;
  const bytes = parts.map(Number);
  return bytes.every((b) => b <= 255) ? bytes : undefined;
}

/** The eight 16-bit words of an IPv6 address (a trailing dotted IPv4 part and "::" allowed; no zone). */
export function parseIpv6(text: string): number[] | undefined {
  let body = text.toLowerCase();
  if (body.startsWith("[") && body.endsWith("]")) body = body.slice(1, -1);
  if (body.includes("%")) return undefined;
  const lastColon = body.lastIndexOf(":");
  const dotted = body.slice(lastColon + 1);
  if (dotted.includes(".")) {
    // A trailing IPv4 part ("::ffff:1.2.3.4") stands for the last two words.
    const v4 = parseIpv4(dotted);
    if (!v4) return undefined;
    body = `${body.slice(0, lastColon + 1)}${((v4[0]! << 8) | v4[1]!).toString(16)}:${((v4[2]! << 8) | v4[3]!).toString(16)}`;
  }
  const halves = body.split("::");
  if (halves.length > 2) return undefined;
  const words = (s: string) => (s === "" ? [] : s.split(":"));
  const head = words(halves[0]!);
  const rest = halves.length === 2 ? words(halves[1]!) : [];
  if (![...head, ...rest].every((w) => /^[0-9a-f]{1,4}$/.test(w))) return undefined;
  const explicit = head.length + rest.length;
  if (halves.length === 1 ? explicit !== 8 : explicit > 7) return undefined;
  const zeros = new Array<number>(8 - explicit).fill(0);
  return [...head.map((w) => parseInt(w, 16)), ...zeros, ...rest.map((w) => parseInt(w, 16))];
}

function ipv4Reason(b: number[]): string | undefined {
  const [a, c] = [b[0]!, b[1]!];
  if (a === 0) return b.every((x) => x === 0) ? "the unspecified address" : `"this network" (0.0.0.0/8)`;
  if (a === 127) return "a loopback address";
  if (a === 10 || (a === 172 && c >= 16 && c <= 31) || (a === 192 && c === 168)) return "a private address (RFC 1918)";
  if (a === 169 && c === 254) {
    return b[2] === 169 && b[3] === 254 ? "the cloud metadata address" : "a link-local address (169.254.0.0/16)";
  }
  if (a === 100 && c >= 64 && c <= 127) return "a carrier-grade NAT address (100.64.0.0/10)";
  if (a === 192 && c === 0 && b[2] === 0) return "an IETF protocol assignment (192.0.0.0/24)";
  if (a === 198 && (c === 18 || c === 19)) return "a benchmarking address (198.18.0.0/15)";
  if (a >= 224 && a <= 239) return "a multicast address";
  if (a >= 240) return b.every((x) => x === 255) ? "the broadcast address" : "a reserved address (240.0.0.0/4)";
  return undefined;
}

function embeddedIpv4(words: number[], from: number): number[] {
  return [words[from]! >> 8, words[from]! & 0xff, words[from + 1]! >> 8, words[from + 1]! & 0xff];
}

function ipv6Reason(w: number[]): string | undefined {
  const zeroUpTo = (n: number) => w.slice(0, n).every((x) => x === 0);
  if (zeroUpTo(8)) return "the unspecified address";
  if (zeroUpTo(7) && w[7] === 1) return "a loopback address";
  const embedded = (from: number, form: string) => {
    const reason = ipv4Reason(embeddedIpv4(w, from));
    return reason ? `${reason}, as ${form}` : undefined;
  };
  if (zeroUpTo(5) && w[5] === 0xffff) return embedded(6, "an IPv4-mapped IPv6 address");
  if (zeroUpTo(4) && w[4] === 0xffff && w[5] === 0) return embedded(6, "an IPv4-translated IPv6 address");
  if (zeroUpTo(6)) return embedded(6, "an IPv4-compatible IPv6 address") ?? "a reserved address (::/96)";
  if (w[0] === 0x64 && w[1] === 0xff9b && (w[2] === 0 || w[2] === 1)) return embedded(6, "a NAT64 address");
  if (w[0] === 0x2002) return embedded(1, "a 6to4 address");
  const first = w[0]!;
  if ((first & 0xfe00) === 0xfc00) return "a unique local address (fc00::/7)";
  if ((first & 0xffc0) === 0xfe80) return "a link-local address (fe80::/10)";
  if ((first & 0xffc0) === 0xfec0) return "a site-local address (fec0::/10)";
  if ((first & 0xff00) === 0xff00) return "a multicast address";
  if (first === 0x0100 && w[1] === 0 && w[2] === 0 && w[3] === 0) return "a discard-only address (100::/64)";
  return undefined;
}

export type Lookup = (host: string) => Promise<string[]>;

const systemLookup: Lookup = async (host) => (await lookup(host, { all: true, verbatim: true })).map((a) => a.address);

export type AddressCheck = { ok: true; address: string } | { ok: false; reason: string };

/**
 * The address to dial for `host` (an IP literal or a name), checked. Every address a name resolves to
 * must pass, so a name cannot smuggle a private address in beside a public one; the first is returned
 * (the first IPv4 loopback one when the name has a loopback address: see blind/loopback.ts).
 */
export async function checkedAddress(host: string, allowPrivate: boolean, resolve: Lookup = systemLookup): Promise<AddressCheck> {
  const literal = host.startsWith("[") && host.endsWith("]") ? host.slice(1, -1) : host;
  let addresses: string[];
  if (isIP(literal)) addresses = [literal];
  else {
    try {
      addresses = await resolve(literal);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code ?? "lookup failed";
      return { ok: false, reason: `cannot resolve ${literal} (${code})` };
    }
    if (addresses.length === 0) return { ok: false, reason: `${literal} has no addresses` };
  }
  if (!allowPrivate) {
    for (const address of addresses) {
      const reason = privateAddressReason(address);
      if (reason) {
        const named = address === literal ? address : `${literal} (${address})`;
        return { ok: false, reason: `${named} is ${reason}; fetch reaches only public addresses unless the bundle sets fetch.allow_private: true` };
      }
    }
  }
  // A name with a loopback address is dialled at its IPv4 loopback one, never raced across families.
  return { ok: true, address: pickAddress(addresses)! };
}
