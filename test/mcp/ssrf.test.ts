// The SSRF guard: every non-public address class is refused (IPv4, IPv6, and IPv6 forms that embed an
// IPv4 address), public ones pass, a name is refused when any of its addresses is private, allow_private
// lets everything through, and lookup failures fail closed.

import { describe, expect, test } from "bun:test";
import { checkedAddress, parseIpv6, privateAddressReason } from "../../src/mcp/ssrf.ts";

describe("privateAddressReason", () => {
  const refused: [string, string][] = [
    ["127.0.0.1", "loopback"],
    ["127.255.0.9", "loopback"],
    ["10.1.2.3", "RFC 1918"],
    ["172.16.0.1", "RFC 1918"],
    ["172.31.255.255", "RFC 1918"],
    ["192.168.1.1", "RFC 1918"],
    ["169.254.169.254", "metadata"],
    ["169.254.10.1", "link-local"],
    ["100.64.0.1", "carrier-grade NAT"],
    ["100.127.255.254", "carrier-grade NAT"],
    ["100.100.100.200", "carrier-grade NAT"], // Alibaba Cloud's metadata address
    ["0.0.0.0", "unspecified"],
    ["0.1.2.3", "this network"],
    ["224.0.0.1", "multicast"],
    ["255.255.255.255", "broadcast"],
    ["240.0.0.1", "reserved"],
    ["192.0.0.170", "IETF"],
    ["198.18.0.1", "benchmarking"],
    ["::", "unspecified"],
    ["::1", "loopback"],
    ["fe80::1", "link-local"],
    ["febf::1", "link-local"],
    ["fc00::1", "unique local"],
    ["fd00:ec2::254", "unique local"], // AWS's IPv6 metadata address
    ["fec0::1", "site-local"],
    ["ff02::1", "multicast"],
    ["::ffff:127.0.0.1", "IPv4-mapped"],
    ["::ffff:7f00:1", "IPv4-mapped"],
    ["::ffff:169.254.169.254", "metadata"],
    ["::ffff:10.0.0.1", "RFC 1918"],
    ["::ffff:0:10.0.0.1", "IPv4-translated"],
    ["::127.0.0.1", "IPv4-compatible"],
    ["64:ff9b::a9fe:a9fe", "NAT64"],
    ["64:ff9b::192.168.0.1", "NAT64"],
    ["2002:a9fe:a9fe::1", "6to4"],
    ["2002:7f00:1::", "6to4"],
    ["100::1", "discard"],
  ];
  for (const [address, mentions] of refused) {
    test(`${address} is refused (${mentions})`, () => {
      expect(privateAddressReason(address)).toContain(mentions);
    });
  }

  const allowed = ["1.1.1.1", "8.8.8.8", "172.15.255.255", "172.32.0.1", "100.63.255.255", "100.128.0.1", "169.253.1.1", "2606:4700:4700::1111", "2001:db8::1", "::ffff:8.8.8.8", "64:ff9b::808:808", "2002:808:808::1"];
  for (const address of allowed) {
    test(`${address} is public`, () => {
      expect(privateAddressReason(address)).toBeUndefined();
    });
  }

  test("anything that is not an address is refused", () => {
    expect(privateAddressReason("example.com")).toBe("not an IP address");
    expect(privateAddressReason("1.2.3")).toBe("not an IP address");
  });
});

describe("parseIpv6", () => {
  test("expands every written form to eight words", () => {
    expect(parseIpv6("::")).toEqual([0, 0, 0, 0, 0, 0, 0, 0]);
    expect(parseIpv6("::1")).toEqual([0, 0, 0, 0, 0, 0, 0, 1]);
    expect(parseIpv6("fe80::")).toEqual([0xfe80, 0, 0, 0, 0, 0, 0, 0]);
    expect(parseIpv6("[2001:db8::8:800:200c:417a]")).toEqual([0x2001, 0xdb8, 0, 0, 8, 0x800, 0x200c, 0x417a]);
    expect(parseIpv6("::ffff:1.2.3.4")).toEqual([0, 0, 0, 0, 0, 0xffff, 0x102, 0x304]);
    expect(parseIpv6("1:2:3:4:5:6:7:8")).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
  });
  test("refuses malformed ones and zone ids", () => {
    for (const bad of ["1::2::3", "1:2:3:4:5:6:7", "1:2:3:4:5:6:7:8:9", "fe80::1%eth0", "::ffff:1.2.3", "g::1", "12345::1"]) {
      expect(parseIpv6(bad)).toBeUndefined();
    }
  });
});

describe("checkedAddress", () => {
  const lookups = (table: Record<string, string[]>) => async (host: string) => {
    const found = table[host];
    if (!found) throw Object.assign(new Error("not found"), { code: "ENOTFOUND" });
    return found;
  };

  test("an IP literal is checked as is, with or without brackets", async () => {
    expect(await checkedAddress("169.254.169.254", false)).toEqual({ ok: false, reason: expect.stringContaining("metadata") });
    expect(await checkedAddress("[::1]", false)).toEqual({ ok: false, reason: expect.stringContaining("loopback") });
    expect(await checkedAddress("93.184.215.14", false)).toEqual({ ok: true, address: "93.184.215.14" });
  });

  test("a name passes only when every address it has is public; the first is the one to dial", async () => {
    const resolve = lookups({ "public.test": ["93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c"], "mixed.test": ["93.184.215.14", "10.0.0.5"] });
    expect(await checkedAddress("public.test", false, resolve)).toEqual({ ok: true, address: "93.184.215.14" });
    const mixed = await checkedAddress("mixed.test", false, resolve);
    expect(mixed.ok).toBe(false);
    if (!mixed.ok) expect(mixed.reason).toBe("mixed.test (10.0.0.5) is a private address (RFC 1918); fetch reaches only public addresses unless the bundle sets fetch.allow_private: true");
  });

  test("the system resolver is used by default: localhost is loopback", async () => {
    const result = await checkedAddress("localhost", false);
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.reason).toContain("loopback");
  });

  test("allow_private lets private addresses through", async () => {
    expect(await checkedAddress("127.0.0.1", true)).toEqual({ ok: true, address: "127.0.0.1" });
    expect(await checkedAddress("inner.test", true, lookups({ "inner.test": ["10.0.0.5"] }))).toEqual({ ok: true, address: "10.0.0.5" });
  });

  test("a name that does not resolve fails closed", async () => {
    expect(await checkedAddress("nowhere.test", false, lookups({}))).toEqual({ ok: false, reason: "cannot resolve nowhere.test (ENOTFOUND)" });
    expect(await checkedAddress("empty.test", false, lookups({ "empty.test": [] }))).toEqual({ ok: false, reason: "empty.test has no addresses" });
  });
});
