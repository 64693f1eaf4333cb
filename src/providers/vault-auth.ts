// Vault authentication settings: turns the `[providers.vault] auth` table into either a ready token
// (method "token") or the login call to make (approle, jwt, kubernetes). Reads the credentials from the
// environment or files; makes no request itself, so the HTTP client stays in vault.ts. Messages name the
// variable or file to fix, never its contents.

import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { isAbsolute, join } from "node:path";
import { ProviderError } from "./types.ts";

export const KUBERNETES_TOKEN_FILE = "/var/run/secrets/kubernetes.io/serviceaccount/token";

export type AuthPlan =
  | { kind: "token"; token: string }
  | {
      kind: "login";
      method: "approle" | "jwt" | "kubernetes";
      /** API path without the /v1/ prefix, e.g. "auth/approle/login". */
      path: string;
      body: Record<string, string>;
      /** What to check when Vault refuses the login. */
      hint: string;
    };

type Env = Record<string, string | undefined>;
type AuthSettings = Record<string, unknown>;

function stringSetting(auth: AuthSettings, key: string): string | undefined {
  const value = auth[key];
  return typeof value === "string" && value !== "" ? value : undefined;
}

function fromEnv(env: Env, name: string, purpose: string): string {
  const value = env[name];
  if (value === undefined || value === "") {
    throw new ProviderError(`environment variable ${name} is ${value === undefined ? "not set" : "empty"} (${purpose})`);
  }
  return value;
}

async function fromFile(path: string, purpose: string): Promise<string> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new ProviderError(`cannot read ${purpose} file ${path} (${code === "ENOENT" ? "it does not exist" : code})`);
  }
  const value = text.trim();
  if (value === "") throw new ProviderError(`${purpose} file ${path} is empty`);
  return value;
}

function loginPath(auth: AuthSettings, defaultMount: string): string {
  const mount = (stringSetting(auth, "mount") ?? defaultMount).replace(/^\/+|\/+$/g, "");
  return `auth/${mount}/login`;
}

/** VAULT_TOKEN (or auth.token_env); without either, ~/.vault-token as `vault login` leaves it. */
async function tokenPlan(auth: AuthSettings, env: Env): Promise<AuthPlan> {
  const explicit = stringSetting(auth, "token_env");
  const name = explicit ?? "VAULT_TOKEN";
  const helperFile = env.HOME ? join(env.HOME, ".vault-token") : undefined;
  if (!explicit && !env[name] && helperFile && existsSync(helperFile)) {
    return { kind: "token", token: await fromFile(helperFile, "Vault token") };
  }
  return { kind: "token", token: fromEnv(env, name, "the Vault token (or run `vault login`); or pick another [providers.vault] auth.method") };
}

function approlePlan(auth: AuthSettings, env: Env): AuthPlan {
  const roleIdEnv = stringSetting(auth, "role_id_env") ?? "VAULT_ROLE_ID";
  const secretIdEnv = stringSetting(auth, "secret_id_env") ?? "VAULT_SECRET_ID";
  const roleId = stringSetting(auth, "role_id") ?? fromEnv(env, roleIdEnv, "Vault AppRole role_id");
  const secretId = fromEnv(env, secretIdEnv, "Vault AppRole secret_id");
  return {
    kind: "login",
    method: "approle",
    path: loginPath(auth, "approle"),
    body: { role_id: roleId, secret_id: secretId },
    hint: `check the role_id and the secret_id in ${secretIdEnv} (secret_ids expire and may be single-use)`,
  };
}

async function jwtPlan(auth: AuthSettings, env: Env, configDir: string): Promise<AuthPlan> {
  const jwtEnv = stringSetting(auth, "jwt_env");
  const jwtFile = stringSetting(auth, "jwt_file");
  let jwt: string;
  if (jwtEnv) jwt = fromEnv(env, jwtEnv, "JWT for Vault jwt login");
  else if (jwtFile) jwt = await fromFile(resolvePath(jwtFile, configDir), "Vault jwt login token");
  else throw new ProviderError(`Vault jwt login needs [providers.vault] auth.jwt_env or auth.jwt_file`);
  const role = stringSetting(auth, "role");
  return {
    kind: "login",
    method: "jwt",
    path: loginPath(auth, "jwt"),
    // Without a role Vault uses the auth mount's default_role.
    body: role ? { role, jwt } : { jwt },
    hint: "check auth.role and that the JWT is current and its claims match the role",
  };
}

async function kubernetesPlan(auth: AuthSettings, configDir: string): Promise<AuthPlan> {
  const role = stringSetting(auth, "role");
  if (!role) throw new ProviderError(`Vault kubernetes login needs [providers.vault] auth.role`);
  const jwtFile = stringSetting(auth, "jwt_file");
  const jwt = await fromFile(jwtFile ? resolvePath(jwtFile, configDir) : KUBERNETES_TOKEN_FILE, "Kubernetes service account token");
  return {
    kind: "login",
    method: "kubernetes",
    path: loginPath(auth, "kubernetes"),
    body: { role, jwt },
    hint: `check that role "${role}" binds this pod's service account and namespace`,
  };
}

function resolvePath(path: string, configDir: string): string {
  return isAbsolute(path) ? path : join(configDir, path);
}

/** Reads the credentials `auth` points at and says how to obtain a client token. */
export async function planAuth(auth: AuthSettings, env: Env, configDir: string): Promise<AuthPlan> {
  const method = stringSetting(auth, "method") ?? "token";
  switch (method) {
    case "token":
      return tokenPlan(auth, env);
    case "approle":
      return approlePlan(auth, env);
    case "jwt":
      return jwtPlan(auth, env, configDir);
    case "kubernetes":
      return kubernetesPlan(auth, configDir);
    default:
      throw new ProviderError(`unknown Vault auth method "${method}" (use token, approle, jwt or kubernetes)`);
  }
}

/** The client token in a login response (`auth.client_token`), if there is one. */
export function clientTokenOf(body: unknown): string | undefined {
  const auth = (body as { auth?: { client_token?: unknown } } | undefined)?.auth;
  return typeof auth?.client_token === "string" && auth.client_token !== "" ? auth.client_token : undefined;
}
