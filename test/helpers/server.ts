// Runs the compiled `dist/kz server start` as a real process on an ephemeral loopback port, follows its
// stderr log line by line (so a test can wait for "reloaded …" without sleeping), and mints identity
// tokens for it with jose from a test key whose JWKS the bundle trusts.

import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWTPayload } from "jose";
import { KZ } from "./kz.ts";

export const TEST_ISSUER = "https://idp.example.test";
export const TEST_AUDIENCE = "keyzero";

export interface IdentityKey {
  kid: string;
  privateKey: CryptoKey;
  jwks: { keys: Record<string, unknown>[] };
}

export async function identityKey(kid = "test-es256"): Promise<IdentityKey> {
  const { privateKey, publicKey } = await generateKeyPair("ES256");
  return { kid, privateKey, jwks: { keys: [{ ...(await exportJWK(publicKey)), kid, alg: "ES256", use: "sig" }] } };
}

/** A token valid for five minutes from now, for TEST_ISSUER/TEST_AUDIENCE, with `claims` on top. */
export async function identityToken(key: IdentityKey, claims: JWTPayload = {}, header: Record<string, unknown> = {}): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ iss: TEST_ISSUER, aud: TEST_AUDIENCE, sub: "agent-7", iat: now - 5, exp: now + 300, ...claims })
    .setProtectedHeader({ alg: "ES256", kid: key.kid, typ: "JWT", ...header })
    .sign(key.privateKey);
}

/** The issuers block for a bundle that trusts `key` via a jwks_file written into `dir`. */
export function writeIssuer(dir: string, key: IdentityKey): string {
  writeFileSync(join(dir, "jwks.json"), JSON.stringify(key.jwks));
  return `issuers:
- name: local
  issuer: ${TEST_ISSUER}
  audience: ${TEST_AUDIENCE}
  jwks_file: ./jwks.json
  algorithms: [ES256]
`;
}

export class ServerProcess {
  readonly lines: string[] = [];
  #waiters: { pattern: RegExp; resolve: (line: string) => void }[] = [];
  #done: Promise<number>;

  private constructor(
    readonly proc: Bun.Subprocess<"ignore", "pipe", "pipe">,
    readonly url: string,
  ) {
    this.#done = proc.exited;
  }

  /** Starts `kz server start --listen 127.0.0.1:0 …args` and resolves once it logs its address. */
  static async start(args: string[], opts: { cwd: string; env?: Record<string, string> }): Promise<ServerProcess> {
    const proc = Bun.spawn([KZ, "server", "start", "--listen", "127.0.0.1:0", ...args], {
      cwd: opts.cwd,
      env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: opts.cwd, NO_COLOR: "1", ...opts.env },
      stdin: "ignore",
      stdout: "pipe",
      stderr: "pipe",
    });
    const lines: string[] = [];
    let server: ServerProcess | undefined;
    const url = await new Promise<string>((resolve, reject) => {
      void (async () => {
        const decoder = new TextDecoder();
        let pending = "";
        for await (const chunk of proc.stderr as unknown as AsyncIterable<Uint8Array>) {
          pending += decoder.decode(chunk, { stream: true });
          let cut: number;
          while ((cut = pending.indexOf("\n")) >= 0) {
            const line = pending.slice(0, cut);
            pending = pending.slice(cut + 1);
            (server?.lines ?? lines).push(line);
            server?.notify(line);
            const m = /listening on (\S+)/.exec(line);
            if (m) resolve(m[1]!);
          }
        }
        reject(new Error(`kz server exited before listening:\n${lines.join("\n")}${pending}`));
      })();
    });
    server = new ServerProcess(proc, url);
    server.lines.push(...lines);
    return server;
  }

  private notify(line: string): void {
    this.#waiters = this.#waiters.filter((w) => {
      if (!w.pattern.test(line)) return true;
      w.resolve(line);
      return false;
    });
  }

  /** Resolves with the first log line (from now on, or already logged after `fromLine`) matching `pattern`. */
  waitForLine(pattern: RegExp, fromLine = this.lines.length): Promise<string> {
    const seen = this.lines.slice(fromLine).find((l) => pattern.test(l));
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve) => this.#waiters.push({ pattern, resolve }));
  }

  async post(path: string, body: unknown, token?: string, headers: Record<string, string> = {}): Promise<Response> {
    return fetch(`${this.url}${path}`, {
      method: "POST",
      headers: { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}), ...headers },
      body: typeof body === "string" ? body : JSON.stringify(body),
    });
  }

  async stop(): Promise<number> {
    this.proc.kill("SIGTERM");
    return this.#done;
  }
}
