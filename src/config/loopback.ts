// Which host names count as this machine when deciding whether cleartext is acceptable (a bearer token
// over plain http, a jwks_url, a server listening without TLS): localhost, 127.0.0.0/8 and ::1 only.
// Stricter than blind mode's host rules on purpose: `*.localhost` names may be resolved through DNS.

/** `host` as a URL's hostname or a listen address: case, brackets and a trailing dot are ignored. */
export function isLoopbackName(host: string): boolean {
  const h = host.toLowerCase().replace(/^\[(.*)\]$/, "$1").replace(/\.$/, "");
  return h === "localhost" || h === "::1" || /^127\.\d+\.\d+\.\d+$/.test(h);
}
