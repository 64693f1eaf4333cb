// The blind child's trust environment: which variables point where, private files, and cleanup.
// (That real clients honour it is shown in proxy.test.ts, whose clients run with this environment.)

import { afterEach, describe, expect, test } from "bun:test";
import { X509Certificate } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { rootCertificates } from "node:tls";
import { createCertificateAuthority } from "../../src/blind/ca.ts";
import { buildTrustEnv, type TrustEnv } from "../../src/blind/trust-env.ts";

const PROXY_URL = "http://kz:fake-proxy-credential-0001@127.0.0.1:40123";
const caPem = createCertificateAuthority().certPem;
const made: TrustEnv[] = [];
const roots: string[] = [];

afterEach(() => {
  for (const trust of made.splice(0)) trust.cleanup();
  for (const dir of roots.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function build(extra: Partial<Parameters<typeof buildTrustEnv>[0]> = {}): TrustEnv {
  const trust = buildTrustEnv({ caPem, proxyUrl: PROXY_URL, ...extra });
  made.push(trust);
  return trust;
}

const certificatesIn = (pem: string) => pem.match(/-----BEGIN CERTIFICATE-----/g)?.length ?? 0;

describe("buildTrustEnv", () => {
  test("proxy variables, both spellings, and NODE_USE_ENV_PROXY; NO_PROXY removed", () => {
    const { env, unset } = build();
    for (const name of ["HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy"]) expect(env[name]).toBe(PROXY_URL);
    expect(env.NODE_USE_ENV_PROXY).toBe("1");
    expect(unset).toEqual(expect.arrayContaining(["NO_PROXY", "no_proxy"]));
    expect(env.NO_PROXY).toBeUndefined();
  });

  test("bundle variables get system roots + the CA; extra-CA variables get the CA alone", () => {
    const trust = build();
    for (const name of ["SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "GIT_SSL_CAINFO", "AWS_CA_BUNDLE", "CARGO_HTTP_CAINFO"]) {
      expect(trust.env[name]).toBe(trust.bundleFile);
    }
    for (const name of ["NODE_EXTRA_CA_CERTS", "DENO_CERT"]) expect(trust.env[name]).toBe(trust.caFile);
    const bundle = readFileSync(trust.bundleFile, "utf8");
    expect(certificatesIn(bundle)).toBe(rootCertificates.length + 1);
    expect(bundle.trimEnd().endsWith(caPem.trimEnd())).toBe(true);
    const alone = readFileSync(trust.caFile, "utf8");
    expect(certificatesIn(alone)).toBe(1);
    expect(new X509Certificate(alone).fingerprint256).toBe(new X509Certificate(caPem).fingerprint256);
  });

  test("extra roots join the bundle, not the CA-alone file", () => {
    const other = createCertificateAuthority().certPem;
    const trust = build({ extraRootsPem: other });
    expect(certificatesIn(readFileSync(trust.bundleFile, "utf8"))).toBe(rootCertificates.length + 2);
    expect(certificatesIn(readFileSync(trust.caFile, "utf8"))).toBe(1);
  });

  test("files are 0600 in a 0700 directory under tmpRoot, and cleanup removes them (twice is fine)", () => {
    const root = mkdtempSync(join(tmpdir(), "kz-trust-root-"));
    roots.push(root);
    const trust = build({ tmpRoot: root });
    const dir = join(trust.caFile, "..");
    expect(dir.startsWith(root)).toBe(true);
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    expect(statSync(trust.caFile).mode & 0o777).toBe(0o600);
    expect(statSync(trust.bundleFile).mode & 0o777).toBe(0o600);
    trust.cleanup();
    expect(existsSync(trust.caFile)).toBe(false);
    expect(existsSync(dir)).toBe(false);
    trust.cleanup();
  });

  test("the environment names no value beyond the proxy URL and file paths", () => {
    const trust = build();
    const { NODE_OPTIONS, PYTHONPATH, PHP_INI_SCAN_DIR, WGETRC, ...rest } = trust.env; // the client shims: client-shims.test.ts
    const dir = join(trust.caFile, "..");
    expect([NODE_OPTIONS, PYTHONPATH, PHP_INI_SCAN_DIR, WGETRC]).toEqual([`--require "${dir}/node-proxy.cjs"`, dir, dir, `${dir}/wgetrc`]);
    const values = new Set(Object.values(rest));
    expect([...values].sort()).toEqual([PROXY_URL, trust.bundleFile, trust.caFile, "1"].sort());
  });
});
