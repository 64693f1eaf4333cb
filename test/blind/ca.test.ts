// The per-run CA: certificates that node:crypto and openssl (strict X.509 checks) accept for the right
// names only, cached per host, from a key that never leaves memory.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { X509Certificate } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createCertificateAuthority, ipAddressBytes, type CertificateAuthority } from "../../src/blind/ca.ts";

let ca: CertificateAuthority;
let dir: string;

beforeAll(() => {
  ca = createCertificateAuthority();
  dir = mkdtempSync(join(tmpdir(), "kz-ca-test-"));
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** openssl verify with strict X.509 rules, for TLS server use, against the run CA. */
async function opensslVerify(leafPem: string, host?: string): Promise<{ ok: boolean; output: string }> {
  const caFile = join(dir, "ca.pem");
  const leafFile = join(dir, `leaf-${crypto.randomUUID()}.pem`);
  writeFileSync(caFile, ca.certPem);
  writeFileSync(leafFile, leafPem);
  const args = ["openssl", "verify", "-x509_strict", "-purpose", "sslserver", "-CAfile", caFile];
  if (host) args.push(/^[\d.:]+$/.test(host) ? "-verify_ip" : "-verify_hostname", host);
  const proc = Bun.spawn([...args, leafFile], { stdout: "pipe", stderr: "pipe" });
  const output = (await new Response(proc.stdout).text()) + (await new Response(proc.stderr).text());
  return { ok: (await proc.exited) === 0, output };
}

describe("CA certificate", () => {
  test("is a CA certificate, self-signed, and carries no private key", () => {
    const cert = new X509Certificate(ca.certPem);
    expect(cert.ca).toBe(true);
    expect(cert.subject).toContain("kz blind-mode CA");
    expect(cert.verify(cert.publicKey)).toBe(true);
    expect(ca.certPem).not.toContain("PRIVATE KEY");
    expect(JSON.stringify(ca)).not.toContain("PRIVATE KEY");
  });

  test("each run has its own key", () => {
    const other = createCertificateAuthority();
    const leafFromOther = new X509Certificate(other.leafFor("api.example.test").certPem);
    expect(leafFromOther.verify(new X509Certificate(ca.certPem).publicKey)).toBe(false);
  });
});

describe("leaf certificates", () => {
  test("a DNS leaf verifies for its host only (openssl, strict)", async () => {
    const leaf = ca.leafFor("api.example.test");
    expect(await opensslVerify(leaf.certPem, "api.example.test")).toEqual({ ok: true, output: expect.stringContaining("OK") });
    expect((await opensslVerify(leaf.certPem, "evil.example.test")).ok).toBe(false);
    const cert = new X509Certificate(leaf.certPem);
    expect(cert.subjectAltName).toBe("DNS:api.example.test");
    expect(cert.issuer).toBe(new X509Certificate(ca.certPem).subject);
    expect(new Date(cert.validFrom).getTime()).toBeLessThan(Date.now());
    expect(new Date(cert.validTo).getTime()).toBeGreaterThan(Date.now() + 30 * 24 * 3600 * 1000);
  });

  test("IP leaves carry an IP SAN (IPv4 and IPv6)", async () => {
    const v4 = new X509Certificate(ca.leafFor("127.0.0.1").certPem);
    expect(v4.checkIP("127.0.0.1")).toBe("127.0.0.1");
    expect((await opensslVerify(ca.leafFor("127.0.0.1").certPem, "127.0.0.1")).ok).toBe(true);
    const v6 = new X509Certificate(ca.leafFor("::1").certPem);
    expect(v6.checkIP("::1")).toBe("::1");
    expect((await opensslVerify(ca.leafFor("::1").certPem, "::1")).ok).toBe(true);
  });

  test("a name longer than a CommonName allows still gets a valid leaf (empty subject, critical SAN)", async () => {
    const host = `${"a".repeat(60)}.${"b".repeat(60)}.example.test`;
    const leaf = ca.leafFor(host);
    expect(new X509Certificate(leaf.certPem).checkHost(host)).toBe(host);
    expect((await opensslVerify(leaf.certPem, host)).ok).toBe(true);
  });

  test("leaves are cached per host (case, brackets and a trailing dot do not matter)", () => {
    const before = ca.issuedCount;
    const first = ca.leafFor("cache.example.test");
    expect(ca.issuedCount).toBe(before + 1);
    expect(ca.leafFor("CACHE.example.test.")).toBe(first);
    expect(ca.leafFor("[::2]")).toBe(ca.leafFor("::2"));
    expect(ca.issuedCount).toBe(before + 2);
  });
});

test("ipAddressBytes expands IPv4, IPv6 and embedded IPv4 forms", () => {
  const hex = (host: string) => Buffer.from(ipAddressBytes(host)!).toString("hex");
  expect(hex("10.1.2.3")).toBe("0a010203");
  expect(hex("::1")).toBe("00000000000000000000000000000001");
  expect(hex("2001:db8::1:0")).toBe("20010db8000000000000000000010000");
  expect(hex("::ffff:127.0.0.1")).toBe("00000000000000000000ffff7f000001");
  expect(hex("1:2:3:4:5:6:7:8")).toBe("00010002000300040005000600070008");
  expect(ipAddressBytes("api.example.test")).toBeNull();
});
