// A minimal ASN.1 DER encoder: just the element types an X.509 certificate needs (SEQUENCE, SET,
// INTEGER, OID, UTF8String, times, BIT/OCTET STRING, BOOLEAN, context tags). Pure functions from parts to
// bytes; the CA (ca.ts) composes certificates from them.

import { concatBytes } from "../resolve/needles.ts";

export type Der = Uint8Array;

function lengthBytes(length: number): number[] {
  if (length < 0x80) return [length];
  const bytes: number[] = [];
  for (let n = length; n > 0; n = Math.floor(n / 256)) bytes.unshift(n & 0xff);
  return [0x80 | bytes.length, ...bytes];
}

/** One TLV element: tag byte, DER length, contents. */
export function element(tag: number, contents: Uint8Array): Der {
  const len = lengthBytes(contents.length);
  const out = new Uint8Array(1 + len.length + contents.length);
  out[0] = tag;
  out.set(len, 1);
  out.set(contents, 1 + len.length);
  return out;
}


export const sequence = (...items: Der[]): Der => element(0x30, concatBytes(items));
export const set = (...items: Der[]): Der => element(0x31, concatBytes(items));
export const boolean = (value: boolean): Der => element(0x01, Uint8Array.of(value ? 0xff : 0x00));
export const octetString = (bytes: Uint8Array): Der => element(0x04, bytes);
export const utf8String = (text: string): Der => element(0x0c, new TextEncoder().encode(text));

/** A BIT STRING with no unused bits. */
export const bitString = (bytes: Uint8Array): Der => element(0x03, concatBytes([Uint8Array.of(0), bytes]));

/** A non-negative INTEGER from big-endian magnitude bytes (a 0x00 is prepended when the top bit is set). */
export function unsignedInteger(magnitude: Uint8Array): Der {
  let start = 0;
  while (start < magnitude.length - 1 && magnitude[start] === 0) start++;
  const trimmed = magnitude.subarray(start);
  return element(0x02, (trimmed[0] ?? 0) & 0x80 ? concatBytes([Uint8Array.of(0), trimmed]) : trimmed);
}

export const smallInteger = (n: number): Der => unsignedInteger(Uint8Array.of(n));

/** OBJECT IDENTIFIER from dotted form, e.g. "2.5.29.17". */
export function oid(dotted: string): Der {
  const arcs = dotted.split(".").map(Number);
  const bytes: number[] = [40 * arcs[0]! + arcs[1]!];
  for (const arc of arcs.slice(2)) {
    const base128: number[] = [arc & 0x7f];
    for (let n = Math.floor(arc / 128); n > 0; n = Math.floor(n / 128)) base128.unshift(0x80 | (n & 0x7f));
    bytes.push(...base128);
  }
  return element(0x06, Uint8Array.from(bytes));
}

/** UTCTime for years 1950–2049, GeneralizedTime otherwise (RFC 5280 §4.1.2.5). */
export function time(date: Date): Der {
  const iso = date.toISOString(); // 2025-01-02T03:04:05.678Z
  const digits = iso.slice(0, 19).replace(/[-:T]/g, "") + "Z"; // 20250102030405Z
  const year = date.getUTCFullYear();
  if (year >= 1950 && year < 2050) return element(0x17, new TextEncoder().encode(digits.slice(2)));
  return element(0x18, new TextEncoder().encode(digits));
}

/** [n] EXPLICIT: wraps a whole element. */
export const explicit = (n: number, inner: Der): Der => element(0xa0 | n, inner);

/** [n] IMPLICIT primitive: replaces the tag of a primitive value (e.g. GeneralName dNSName [2]). */
export const implicitPrimitive = (n: number, contents: Uint8Array): Der => element(0x80 | n, contents);
