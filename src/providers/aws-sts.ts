// aws-sts provider: temporary AWS credentials from one STS AssumeRole call, scoped down by a session
// policy (inline JSON or a file) and/or managed policy ARNs, for `duration` (15m by default). A secret
// takes one part of them: field = "access_key_id" | "secret_access_key" | "session_token". The secrets
// of one resolution that name the same role share one AssumeRole call (another run, or another server
// request, gets its own). The ref is the role ARN when given, else [providers.aws-sts] role_arn.
//
// @aws-sdk/client-sts is imported on the first fetch, like the Secrets Manager client in aws-sm.ts: a
// plain `kz run` never pays for loading it. The caller's own credentials sign the call: source_profile
// (else AWS_PROFILE) through the SDK's chain, else static keys in the environment, else the SDK's
// default chain. STS credentials cannot be renewed or revoked: they end when `duration` runs out, which
// the provider reports to the request's LeaseSink (expires) so that kz run can warn before then.

import { readFile } from "node:fs/promises";
import { isAbsolute, join } from "node:path";
import type { AssumeRoleCommandOutput, STSClientConfig } from "@aws-sdk/client-sts";
import { checkPolicyText, isRoleArn, parseStsSettings, StsSettingError, type StsSettings } from "../config/aws-sts-settings.ts";
import { SecretValue } from "../secret.ts";
import { serviceUrl } from "./service-url.ts";
import { ProviderError, type ProviderContext, type ProviderFactory, type SecretRequest } from "./types.ts";

type Env = Record<string, string | undefined>;

export const STS_FIELDS = { access_key_id: "AccessKeyId", secret_access_key: "SecretAccessKey", session_token: "SessionToken" } as const;
type StsField = keyof typeof STS_FIELDS;

interface Credentials {
  AccessKeyId: string;
  SecretAccessKey: string;
  SessionToken: string;
  /** Date.now() when they stop working. */
  expiresAt: number;
}

const nonEmpty = (value: unknown): string | undefined => (typeof value === "string" && value !== "" ? value : undefined);

function settingsOf(settings: Record<string, unknown>): StsSettings {
  try {
    return parseStsSettings(settings);
  } catch (error) {
    if (error instanceof StsSettingError) throw new ProviderError(`[providers.aws-sts] ${error.key} ${error.message}`);
    throw error;
  }
}

/** The role for this secret: its ref when that is a role ARN, else role_arn; a ref that is neither is an error. */
export function roleFor(request: Pick<SecretRequest, "name" | "ref">, settings: StsSettings): string {
  if (request.ref !== request.name) {
    if (!isRoleArn(request.ref)) throw new ProviderError(`${request.name}: ref must be a role ARN (arn:aws:iam::<account id>:role/<name>) or left out to use [providers.aws-sts] role_arn`);
    return request.ref;
  }
  if (!settings.roleArn) throw new ProviderError("no role to assume: set [providers.aws-sts] role_arn (or the secret's ref to a role ARN)");
  return settings.roleArn;
}

/** The field named by the secret, or one line listing the three. */
export function fieldFor(name: string, field: string | undefined): StsField {
  if (field !== undefined && field in STS_FIELDS) return field as StsField;
  const choices = Object.keys(STS_FIELDS).map((f) => `"${f}"`).join(", ");
  throw new ProviderError(`${name}: ${field === undefined ? "missing" : "unknown"} field — an aws-sts secret takes field = ${choices}`);
}

async function sessionPolicy(settings: StsSettings, configDir: string): Promise<string | undefined> {
  const policy = settings.sessionPolicy;
  if (!policy) return undefined;
  if ("inline" in policy) return policy.inline;
  const path = isAbsolute(policy.file) ? policy.file : join(configDir, policy.file);
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new ProviderError(`[providers.aws-sts] session_policy: cannot read ${path} (${code === "ENOENT" ? "it does not exist" : code})`);
  }
  try {
    return checkPolicyText(text);
  } catch (error) {
    if (error instanceof StsSettingError) throw new ProviderError(`[providers.aws-sts] session_policy file ${path} ${error.message}`);
    throw error;
  }
}

/** A default session name CloudTrail shows: kz-<user>. */
function defaultSessionName(env: Env): string {
  const user = (env.USER ?? env.LOGNAME ?? "user").replace(/[^\w+=,.@-]/g, "-");
  return `kz-${user}`.slice(0, 64);
}

/** One actionable line for an STS, credential or network failure; names the role, never a value. */
export function describeStsError(error: unknown, role: string, endpoint: string, profile: string | undefined): string {
  if (!(error instanceof Error)) return `AssumeRole of ${role} failed`;
  const first = error.message.split("\n")[0]!.slice(0, 200);
  switch (error.name) {
    case "AccessDenied":
    case "AccessDeniedException":
      return `AWS refused AssumeRole of ${role} — the caller needs sts:AssumeRole on it and the role's trust policy must allow the caller (and the external_id, if it asks for one)`;
    case "MalformedPolicyDocument":
    case "MalformedPolicyDocumentException":
      return `AWS rejected the session policy for ${role}: ${first}`;
    case "PackedPolicyTooLarge":
    case "PackedPolicyTooLargeException":
      return `the session policy and policy_arns for ${role} are too large once packed — shorten them`;
    case "RegionDisabledException":
      return `STS is not activated in this region for the account — use another [providers.aws-sts] region or activate it`;
    case "ValidationError":
      return `AWS refused AssumeRole of ${role}: ${first}`;
    case "InvalidClientTokenId":
    case "UnrecognizedClientException":
      return "AWS does not recognize the access key ID that signs AssumeRole — check source_profile, AWS_PROFILE or AWS_ACCESS_KEY_ID";
    case "SignatureDoesNotMatch":
    case "InvalidSignatureException":
    case "IncompleteSignature":
      return "AWS rejected the AssumeRole signature — the secret access key does not match the access key ID (check source_profile or AWS_SECRET_ACCESS_KEY)";
    case "ExpiredToken":
    case "ExpiredTokenException":
      return "the AWS credentials that sign AssumeRole have expired — refresh them (e.g. aws sso login) and retry";
    case "CredentialsProviderError":
      return profile
        ? `could not load AWS credentials for profile "${profile}" — check ~/.aws/config and ~/.aws/credentials (or run aws sso login)`
        : "could not load AWS credentials to call AssumeRole — set [providers.aws-sts] source_profile, AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY";
    case "AbortError":
      return `the AssumeRole request to ${endpoint} was aborted`;
  }
  const code = (error as { code?: unknown }).code;
  if (typeof code === "string" && /^E[A-Z_]+$/.test(code)) return `cannot reach AWS STS at ${endpoint} (${code})`;
  const status = (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
  return `AWS STS error ${error.name}${status ? ` (HTTP ${status})` : ""} assuming ${role}`;
}

interface ClientPlan {
  region: string;
  endpoint?: string;
  profile?: string;
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
}

/** Region, endpoint and the caller's credentials from the settings and env fallbacks (pure). */
export function clientPlan(settings: StsSettings, env: Env): ClientPlan {
  const plan: ClientPlan = {
    // STS is global with regional endpoints; us-east-1 is what the SDK's global endpoint signs for.
    region: settings.region ?? nonEmpty(env.AWS_REGION) ?? nonEmpty(env.AWS_DEFAULT_REGION) ?? "us-east-1",
    endpoint: settings.endpoint ?? nonEmpty(env.AWS_ENDPOINT_URL_STS) ?? nonEmpty(env.AWS_ENDPOINT_URL),
    profile: settings.sourceProfile ?? nonEmpty(env.AWS_PROFILE),
  };
  const accessKeyId = nonEmpty(env.AWS_ACCESS_KEY_ID);
  const secretAccessKey = nonEmpty(env.AWS_SECRET_ACCESS_KEY);
  if (!plan.profile && accessKeyId && secretAccessKey) plan.credentials = { accessKeyId, secretAccessKey, sessionToken: nonEmpty(env.AWS_SESSION_TOKEN) };
  return plan;
}

async function openClient(plan: ClientPlan) {
  const { STSClient, AssumeRoleCommand } = await import("@aws-sdk/client-sts");
  const config: STSClientConfig = { region: plan.region };
  if (plan.profile) config.profile = plan.profile;
  if (plan.endpoint) config.endpoint = plan.endpoint;
  if (plan.credentials) config.credentials = plan.credentials;
  return { client: new STSClient(config), AssumeRoleCommand };
}

const createAwsStsProvider: ProviderFactory = ({ settings: raw, env, configDir }: ProviderContext) => {
  const settings = settingsOf(raw);
  const plan = clientPlan(settings, env);
  const shownEndpoint = plan.endpoint
    ? serviceUrl(plan.endpoint, settings.endpoint ? "[providers.aws-sts] endpoint" : "AWS_ENDPOINT_URL_STS", "https://sts.us-east-1.amazonaws.com")
    : `https://sts.${plan.region}.amazonaws.com`;
  let opened: ReturnType<typeof openClient> | undefined;
  let policy: Promise<string | undefined> | undefined;
  // One AssumeRole per role per resolution (the request's LeaseSink marks a resolution).
  const scoped = new WeakMap<object, Map<string, Promise<Credentials>>>();
  const unscoped = {};

  const assume = async (role: string, signal: AbortSignal): Promise<Credentials> => {
    policy ??= sessionPolicy(settings, configDir);
    const Policy = await policy;
    opened ??= openClient(plan);
    const { client, AssumeRoleCommand } = await opened;
    let output: AssumeRoleCommandOutput;
    try {
      output = await client.send(
        new AssumeRoleCommand({
          RoleArn: role,
          RoleSessionName: settings.sessionName ?? defaultSessionName(env),
          DurationSeconds: settings.durationSeconds,
          ...(Policy ? { Policy } : {}),
          ...(settings.policyArns.length ? { PolicyArns: settings.policyArns.map((arn) => ({ arn })) } : {}),
          ...(settings.externalId ? { ExternalId: settings.externalId } : {}),
        }),
        { abortSignal: signal },
      );
    } catch (error) {
      throw new ProviderError(describeStsError(error, role, shownEndpoint, plan.profile));
    }
    const c = output.Credentials;
    if (!c?.AccessKeyId || !c.SecretAccessKey || !c.SessionToken) throw new ProviderError(`AWS STS answered AssumeRole of ${role} without credentials`);
    const expiresAt = c.Expiration instanceof Date && !Number.isNaN(c.Expiration.getTime()) ? c.Expiration.getTime() : Date.now() + settings.durationSeconds * 1000;
    return { AccessKeyId: c.AccessKeyId, SecretAccessKey: c.SecretAccessKey, SessionToken: c.SessionToken, expiresAt };
  };

  return {
    async fetch(request: SecretRequest) {
      const field = fieldFor(request.name, request.field);
      const role = roleFor(request, settings);
      const scope = request.leases ?? unscoped;
      let calls = scoped.get(scope);
      if (!calls) scoped.set(scope, (calls = new Map()));
      let pending = calls.get(role);
      if (!pending) {
        pending = assume(role, request.signal);
        calls.set(role, pending);
        pending.catch(() => calls.delete(role));
      }
      const credentials = await pending;
      request.leases?.expires?.({ provider: "aws-sts", what: `role ${role}`, expiresAt: credentials.expiresAt }, request.name);
      return new SecretValue(credentials[STS_FIELDS[field]]);
    },
  };
};

export default createAwsStsProvider;
