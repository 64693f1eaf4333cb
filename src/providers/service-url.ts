// A provider's service address from the config or the environment (Vault `address`, 1Password
// `connect_host`, AWS `endpoint`): checked as an http(s) URL and reduced to what is safe to print and
// use — origin and path. A value that is not such a URL is refused as "invalid value" WITHOUT echoing
// it (a user may have pasted a credential there), and so is one carrying a user name or password.

import { ProviderError } from "./types.ts";

/** The address as `origin + path` (no trailing slash), or a ProviderError naming `label`, never the value. */
export function serviceUrl(value: string, label: string, example: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new ProviderError(`${label}: invalid value — not a URL (expected e.g. ${example})`);
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") throw new ProviderError(`${label}: invalid value — must start with https:// or http:// (e.g. ${example})`);
  if (url.username || url.password) throw new ProviderError(`${label}: invalid value — must not contain a user name or password (put credentials in the auth settings)`);
  return url.origin + url.pathname.replace(/\/+$/, "");
}
