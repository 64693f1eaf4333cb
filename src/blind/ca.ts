// The per-run certificate authority for blind mode's TLS interception. The CA's private key is a
// node:crypto KeyObject created here and never exported: it exists only in this process's memory.
// Leaf certificates (one per host the proxy intercepts, SAN = that DNS name or IP address) are cached
// and share one leaf key pair, as mitmproxy does.
//
// Keys are ECDSA P-256: generating one takes well under a millisecond, signing a certificate ~0.1 ms,
// and — what matters on every intercepted connection — a P-256 server handshake signature is ~10×
// cheaper than RSA-2048's, while every client we care about (OpenSSL, BoringSSL, Go, Java, Python,
// Node, Bun, rustls) accepts it. Certificates are assembled with a small DER encoder (der.ts) and signed
// with crypto.sign: node-forge's certificate API only knows RSA keys, signs in pure JS (~40 ms a
// certificate), and costs ~125 ms just to import.

import { createHash, generateKeyPairSync, randomBytes, sign, type KeyObject } from "node:crypto";
import { isIPv4, isIPv6 } from "node:net";
import {
  type Der,
  bitString,
  boolean,
  element,
  explicit,
  implicitPrimitive,
  octetString,
  oid,
  sequence,
  set,
  smallInteger,
  time,
  unsignedInteger,
  utf8String,
} from "./der.ts";

/** A server certificate for one host, in the PEM form TLS options take. */
export interface LeafCertificate {
  certPem: string;
  keyPem: string;
}

export interface CertificateAuthority {
  /** The CA certificate the child must trust. */
  readonly certPem: string;
  /** The cached leaf for `host` (a DNS name or an IP address), signing one on first use. */
  leafFor(host: string): LeafCertificate;
  /** How many leaf certificates were signed (cache misses) — for tests and stats. */
  readonly issuedCount: number;
}

const OID = {
  ecdsaWithSha256: "1.2.840.10045.4.3.2",
  commonName: "2.5.4.3",
  organization: "2.5.4.10",
  subjectKeyIdentifier: "2.5.29.14",
  keyUsage: "2.5.29.15",
  subjectAltName: "2.5.29.17",
  basicConstraints: "2.5.29.19",
  authorityKeyIdentifier: "2.5.29.35",
  extKeyUsage: "2.5.29.37",
  serverAuth: "1.3.6.1.5.5.7.3.1",
} as const;

const DAY_MS = 24 * 60 * 60 * 1000;
/** Leaves kept before the oldest is dropped; a run talks to far fewer hosts than this. */
const LEAF_CACHE_LIMIT = 4096;
/** RFC 5280's upper bound for a CommonName. */
const COMMON_NAME_MAX = 64;

export function createCertificateAuthority(now: Date = new Date()): CertificateAuthority {
  return new RunCertificateAuthority(now);
}

class RunCertificateAuthority implements CertificateAuthority {
  readonly certPem: string;
  readonly #caKey: KeyObject;
  readonly #caName: Der;
  readonly #caKeyId: Uint8Array;
  readonly #leafKeyPem: string;
  readonly #leafSpki: Uint8Array;
  readonly #leafKeyId: Uint8Array;
  readonly #validity: Der;
  readonly #leaves = new Map<string, LeafCertificate>();
  #issued = 0;

  constructor(now: Date) {
    const ca = generateKeyPairSync("ec", { namedCurve: "P-256" });
    const leaf = generateKeyPairSync("ec", { namedCurve: "P-256" });
    this.#caKey = ca.privateKey;
    const caSpki = new Uint8Array(ca.publicKey.export({ type: "spki", format: "der" }));
    this.#caKeyId = keyIdentifier(caSpki);
    this.#leafSpki = new Uint8Array(leaf.publicKey.export({ type: "spki", format: "der" }));
    this.#leafKeyId = keyIdentifier(this.#leafSpki);
    this.#leafKeyPem = leaf.privateKey.export({ type: "pkcs8", format: "pem" }) as string;
    // Back-dated a day for clock skew; a year is longer than any run.
    this.#validity = sequence(time(new Date(now.getTime() - DAY_MS)), time(new Date(now.getTime() + 365 * DAY_MS)));

    const runId = Buffer.from(randomBytes(4)).toString("hex");
    this.#caName = distinguishedName(`kz blind-mode CA ${runId}`, "KeyZero (per-run, key never leaves memory)");
    const caTbs = tbsCertificate({
      issuer: this.#caName,
      subject: this.#caName,
      validity: this.#validity,
      spki: caSpki,
      extensions: [
        extension(OID.basicConstraints, true, sequence(boolean(true), smallInteger(0))),
        extension(OID.keyUsage, true, keyUsageBits(0x86, 1)), // digitalSignature, keyCertSign, cRLSign
        extension(OID.subjectKeyIdentifier, false, octetString(this.#caKeyId)),
      ],
    });
    this.certPem = toPem(this.#signed(caTbs));
  }

  get issuedCount(): number {
    return this.#issued;
  }

  leafFor(host: string): LeafCertificate {
    const name = normalizeHost(host);
    const cached = this.#leaves.get(name);
    if (cached) return cached;
    const leaf = { certPem: toPem(this.#signed(this.#leafTbs(name))), keyPem: this.#leafKeyPem };
    this.#issued++;
    if (this.#leaves.size >= LEAF_CACHE_LIMIT) this.#leaves.delete(this.#leaves.keys().next().value!);
    this.#leaves.set(name, leaf);
    return leaf;
  }

  #leafTbs(host: string): Der {
    const ip = ipAddressBytes(host);
    const san = ip ? implicitPrimitive(7, ip) : implicitPrimitive(2, ia5Bytes(host));
    return tbsCertificate({
      issuer: this.#caName,
      subject: host.length <= COMMON_NAME_MAX ? distinguishedName(host) : sequence(),
      validity: this.#validity,
      spki: this.#leafSpki,
      extensions: [
        extension(OID.basicConstraints, true, sequence()),
        extension(OID.keyUsage, true, keyUsageBits(0x80, 7)), // digitalSignature
        extension(OID.extKeyUsage, false, sequence(oid(OID.serverAuth))),
        // Critical when the subject is empty (RFC 5280 §4.2.1.6).
        extension(OID.subjectAltName, host.length > COMMON_NAME_MAX, sequence(san)),
        extension(OID.subjectKeyIdentifier, false, octetString(this.#leafKeyId)),
        extension(OID.authorityKeyIdentifier, false, sequence(implicitPrimitive(0, this.#caKeyId))),
      ],
    });
  }

  #signed(tbs: Der): Der {
    // ECDSA signatures from node:crypto are DER ECDSA-Sig-Value, exactly what X.509 carries.
    const signature = sign("sha256", tbs, this.#caKey);
    return sequence(tbs, sequence(oid(OID.ecdsaWithSha256)), bitString(signature));
  }
}

interface TbsParts {
  issuer: Der;
  subject: Der;
  validity: Der;
  spki: Uint8Array;
  extensions: Der[];
}

function tbsCertificate(parts: TbsParts): Der {
  const serial = randomBytes(16);
  serial[0] = (serial[0]! & 0x7f) | 0x01; // positive and non-zero, 128 bits as CAs use
  return sequence(
    explicit(0, smallInteger(2)), // v3
    unsignedInteger(serial),
    sequence(oid(OID.ecdsaWithSha256)),
    parts.issuer,
    parts.validity,
    parts.subject,
    parts.spki,
    explicit(3, sequence(...parts.extensions)),
  );
}

function extension(id: string, critical: boolean, value: Der): Der {
  return critical ? sequence(oid(id), boolean(true), octetString(value)) : sequence(oid(id), octetString(value));
}

/** KeyUsage is a named BIT STRING: DER drops trailing zero bits, so the unused-bit count varies. */
function keyUsageBits(byte: number, unusedBits: number): Der {
  return element(0x03, Uint8Array.of(unusedBits, byte));
}

function distinguishedName(commonName: string, organization?: string): Der {
  const rdns = [set(sequence(oid(OID.commonName), utf8String(commonName)))];
  if (organization) rdns.push(set(sequence(oid(OID.organization), utf8String(organization))));
  return sequence(...rdns);
}

function keyIdentifier(spki: Uint8Array): Uint8Array {
  return new Uint8Array(createHash("sha1").update(spki).digest());
}

/** A host name's IA5String contents (ASCII), for the caller to tag as dNSName [2]. */
function ia5Bytes(host: string): Uint8Array {
  return new TextEncoder().encode(host);
}

function normalizeHost(host: string): string {
  let name = host.toLowerCase();
  if (name.startsWith("[") && name.endsWith("]")) name = name.slice(1, -1);
  if (name.endsWith(".")) name = name.slice(0, -1);
  return name;
}

/** The 4 or 16 address bytes when `host` is an IP literal, else null. */
export function ipAddressBytes(host: string): Uint8Array | null {
  if (isIPv4(host)) return Uint8Array.from(host.split(".").map(Number));
  if (!isIPv6(host)) return null;
  // An embedded IPv4 tail (::ffff:127.0.0.1) becomes its two hex groups (::ffff:7f00:1).
  const text = host.replace(/(\d+)\.(\d+)\.(\d+)\.(\d+)$/, (_, a, b, c, d) =>
    `${((+a << 8) | +b).toString(16)}:${((+c << 8) | +d).toString(16)}`,
  );
  const groupsOf = (part: string) => (part === "" ? [] : part.split(":").map((g) => parseInt(g, 16)));
  const gap = text.indexOf("::");
  const left = groupsOf(gap === -1 ? text : text.slice(0, gap));
  const right = gap === -1 ? [] : groupsOf(text.slice(gap + 2));
  const groups = [...left, ...Array<number>(8 - left.length - right.length).fill(0), ...right];
  const bytes = new Uint8Array(16);
  groups.forEach((g, i) => {
    bytes[2 * i] = g >> 8;
    bytes[2 * i + 1] = g & 0xff;
  });
  return bytes;
}

function toPem(der: Der): string {
  const b64 = Buffer.from(der).toString("base64");
  const lines: string[] = [];
  for (let i = 0; i < b64.length; i += 64) lines.push(b64.slice(i, i + 64));
  return `-----BEGIN CERTIFICATE-----\n${lines.join("\n")}\n-----END CERTIFICATE-----\n`;
}
