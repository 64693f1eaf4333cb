// The MCP side's stand-in tokens: one opaque KZ_TOK_ token per secret for the life of the server process,
// minted the first time `resolve` (or `fetch` with `secret`) needs it, the same for every caller — what a
// caller may do with it is decided per call by policy, never by holding it. Tokens come from blind mode's
// minting (src/blind/tokens.ts) and are all opaque: an agent never needs a value-shaped one, and an opaque
// token needs no value to be minted. The discovery table is blind mode's TokenTable over every minted
// token with no value, no host limit and every placement: running the rewrite engine with it tells which secrets a request
// refers to — in a URL, a header, a Basic credential, a body — before any value is fetched.

import { TokenTable, opaqueToken } from "../blind/tokens.ts";
import { PLACEMENTS } from "../config/placement.ts";
import type { BlindSecret } from "../blind/types.ts";
import { SecretValue } from "../secret.ts";

const NO_VALUE = new SecretValue("");

export class McpTokens {
  readonly #byName = new Map<string, string>();
  readonly #byToken = new Map<string, string>();
  #discovery: TokenTable | undefined;

  /** The token standing for secret `name`, minted on first use. */
  tokenFor(name: string): string {
    const known = this.#byName.get(name);
    if (known) return known;
    let token = opaqueToken();
    // Opaque tokens all have one length, so "none a substring of another" is "none equal".
    while (this.#byToken.has(token)) token = opaqueToken();
    this.#byName.set(name, token);
    this.#byToken.set(token, name);
    this.#discovery = undefined;
    return token;
  }

  /** Whether `token` stands for a bundle secret (minted here). */
  knows(token: string): boolean {
    return this.#byToken.has(token);
  }

  /** The discovery table plus `extra` tokens (the caller's captured secrets), built per request. */
  discoveryTableWith(extra: readonly { name: string; token: string }[]): TokenTable {
    if (extra.length === 0) return this.discoveryTable();
    const names = new Set(extra.map((e) => e.name));
    const entries = [...this.#byName].filter(([name]) => !names.has(name)).map(([name, token]) => ({ name, token }));
    return new TokenTable(
      [...entries, ...extra].map(({ name, token }): BlindSecret => ({ name, token, value: NO_VALUE, hosts: ["*"], swap: PLACEMENTS })),
    );
  }

  /** Every minted token, as a TokenTable that lets each go anywhere and swaps in nothing (see header). */
  discoveryTable(): TokenTable {
    this.#discovery ??= new TokenTable(
      [...this.#byName].map(([name, token]): BlindSecret => ({ name, token, value: NO_VALUE, hosts: ["*"], swap: PLACEMENTS })),
    );
    return this.#discovery;
  }
}
