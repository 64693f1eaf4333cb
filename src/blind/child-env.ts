// The blind child's environment, as a pure function. The child gets tokens under the secrets' names,
// raw values only for secrets marked blind = false, the proxy and CA variables of this run (inherited
// ones replaced, each name once), and nothing that could bypass the proxy: no inherited variable whose
// value contains a real value (an env provider's source variable included), and none of the backend
// credentials kz itself used to fetch the secrets.

/** Credentials for the backends: with these the child could fetch the real values itself. */
export const BACKEND_CREDENTIAL_NAMES = [
  "VAULT_TOKEN", "VAULT_ROLE_ID", "VAULT_SECRET_ID",
  "OP_SERVICE_ACCOUNT_TOKEN", "OP_CONNECT_TOKEN",
  "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN",
  "KZ_IDENTITY_TOKEN",
];

export interface BlindEnvInput {
  /** The environment the child would get without blind mode's additions (--clean-env already applied). */
  base: Record<string, string>;
  /** Secret name → token, for blinded secrets. */
  tokens: Map<string, string>;
  /** Secret name → raw value, for secrets with blind = false. */
  raw: Map<string, string>;
  /** Real values of the blinded secrets: no inherited variable may contain one. */
  realValues: string[];
  /** The run's proxy and CA variables to set, and inherited ones to remove (NO_PROXY…). */
  trust: { env: Record<string, string>; unset: string[] };
  /** Extra variable names to drop (e.g. those a provider setting names via *_env). */
  alsoDrop?: string[];
}

export function isBlockedName(name: string, alsoDrop: string[] = []): boolean {
  return (
    BACKEND_CREDENTIAL_NAMES.includes(name) ||
    name.startsWith("OP_SESSION_") ||
    alsoDrop.includes(name)
  );
}

export function buildBlindChildEnv(input: BlindEnvInput): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries(input.base)) {
    if (isBlockedName(name, input.alsoDrop) || input.trust.unset.includes(name)) continue;
    if (input.realValues.some((real) => value.includes(real))) continue;
    env[name] = value;
  }
  for (const [name, value] of Object.entries(input.trust.env)) env[name] = value; // replaces inherited ones
  for (const [name, token] of input.tokens) env[name] = token;
  for (const [name, value] of input.raw) env[name] = value;
  return env;
}
