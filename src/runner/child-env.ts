// The child's environment, as a pure function: the parent's variables (or only a safe list with
// --clean-env) plus the resolved secrets. kz's own key material never passes to the child.

export const SAFE_ENV_NAMES = ["PATH", "HOME", "USER", "LOGNAME", "SHELL", "TERM", "LANG", "TMPDIR", "TZ"];

/**
 * Variables that hold kz's own credentials: a child with the local store key could decrypt the store, and
 * one with the identity token could ask a kz server for everything its policy grants.
 */
export const KZ_PRIVATE_NAMES = ["KZ_LOCAL_KEY", "KZ_IDENTITY_TOKEN"];

export function isSafeName(name: string): boolean {
  return SAFE_ENV_NAMES.includes(name) || name.startsWith("LC_");
}

export function buildChildEnv(
  parent: Record<string, string | undefined>,
  secrets: Map<string, string>,
  opts: { cleanEnv?: boolean; alsoPrivate?: readonly string[] } = {},
): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries(parent)) {
    if (value === undefined || KZ_PRIVATE_NAMES.includes(name) || opts.alsoPrivate?.includes(name)) continue;
    if (opts.cleanEnv && !isSafeName(name)) continue;
    env[name] = value;
  }
  for (const [name, value] of secrets) env[name] = value;
  return env;
}
