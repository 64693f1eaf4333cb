// A reproducible .tar.gz: ustar headers with a fixed mtime, owner 0/0 (no user or group names), entries
// in byte order of their names, gzip with no timestamp or file name. The same files give the same bytes
// on any machine with the same Bun (its zlib does the compressing).

import { gzipSync } from "bun";

export interface TarEntry {
  /** Path inside the archive; a directory ends with "/". */
  name: string;
  /** Permission bits, e.g. 0o755. */
  mode: number;
  /** File contents; absent for a directory. */
  data?: Uint8Array;
}

const BLOCK = 512;

function octal(value: number, width: number): string {
  // width includes the terminating NUL
  const text = value.toString(8);
  if (text.length > width - 1) throw new Error(`tar: ${value} does not fit in ${width - 1} octal digits`);
  return text.padStart(width - 1, "0") + "\0";
}

function header(entry: TarEntry, mtime: number): Uint8Array {
  const name = new TextEncoder().encode(entry.name);
  if (name.length > 100) throw new Error(`tar: name longer than 100 bytes: ${entry.name}`);
  const h = new Uint8Array(BLOCK);
  const put = (offset: number, text: string) => h.set(new TextEncoder().encode(text), offset);
  h.set(name, 0);
  put(100, octal(entry.mode, 8));
  put(108, octal(0, 8)); // uid
  put(116, octal(0, 8)); // gid
  put(124, octal(entry.data?.length ?? 0, 12));
  put(136, octal(mtime, 12));
  put(148, "        "); // checksum field counts as spaces while summing
  put(156, entry.data ? "0" : "5");
  put(257, "ustar\0");
  put(263, "00");
  put(329, octal(0, 8)); // devmajor
  put(337, octal(0, 8)); // devminor
  const sum = h.reduce((a, b) => a + b, 0);
  put(148, sum.toString(8).padStart(6, "0") + "\0 ");
  return h;
}

/** The uncompressed tar: entries sorted by name, two zero blocks at the end. */
export function tar(entries: TarEntry[], mtime: number): Uint8Array<ArrayBuffer> {
  const sorted = [...entries].sort((a, b) => Buffer.compare(Buffer.from(a.name), Buffer.from(b.name)));
  const parts: Uint8Array[] = [];
  for (const entry of sorted) {
    parts.push(header(entry, mtime));
    if (entry.data) {
      parts.push(entry.data);
      const pad = (BLOCK - (entry.data.length % BLOCK)) % BLOCK;
      if (pad) parts.push(new Uint8Array(pad));
    }
  }
  parts.push(new Uint8Array(BLOCK * 2));
  return Buffer.concat(parts) as Uint8Array<ArrayBuffer>; // a Buffer never sits on shared memory
}

/** gzip -9 -n equivalent: mtime 0 and no name in the gzip header (zlib's default), OS byte fixed to Unix. */
export function tarGz(entries: TarEntry[], mtime: number): Uint8Array {
  const gz = gzipSync(tar(entries, mtime), { level: 9 });
  gz[9] = 3; // OS = Unix, whichever platform compressed it
  return gz;
}
