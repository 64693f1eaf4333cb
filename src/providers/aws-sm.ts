// aws-sm provider: one secret from AWS Secrets Manager through the AWS SDK v3 client, which is imported
// on the first fetch (one client per provider instance). ref = secret name or ARN; `version_stage` picks a
// staging label (AWSCURRENT by default); `field` selects one key of a JSON secret. A SecretBinary is
// decoded as UTF-8 text (kz hands secrets to programs as text) and, with `field`, parsed as JSON too.
//
// Settings and their fallbacks, read from the context's env: region ← AWS_REGION, AWS_DEFAULT_REGION,
// then the SDK's own chain (profile config); profile ← AWS_PROFILE (passed to the SDK's credential
// chain); endpoint ← AWS_ENDPOINT_URL_SECRETS_MANAGER, AWS_ENDPOINT_URL. Without a profile, static keys
// in that env (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY[/AWS_SESSION_TOKEN]) are used; otherwise the SDK's
// default credential chain (shared files, SSO, process, web identity, container/instance metadata).

import type { GetSecretValueCommandOutput, SecretsManagerClientConfig } from "@aws-sdk/client-secrets-manager";
import { SecretValue } from "../secret.ts";
import { selectField } from "./field.ts";
import { ProviderError, type ProviderFactory, type SecretRequest } from "./types.ts";
import { serviceUrl } from "./service-url.ts";

type Env = Record<string, string | undefined>;

export interface AwsSmOptions {
  region?: string;
  profile?: string;
  endpoint?: string;
  /** Where the endpoint came from, for messages: a setting or an env variable name. */
  endpointSource?: string;
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
}

const nonEmpty = (value: unknown): string | undefined => (typeof value === "string" && value !== "" ? value : undefined);

/** The client options from `[providers.aws-sm]` settings and the env fallbacks (pure). */
export function awsSmOptions(settings: Record<string, unknown>, env: Env): AwsSmOptions {
  const options: AwsSmOptions = {
    region: nonEmpty(settings.region) ?? nonEmpty(env.AWS_REGION) ?? nonEmpty(env.AWS_DEFAULT_REGION),
    profile: nonEmpty(settings.profile) ?? nonEmpty(env.AWS_PROFILE),
  };
  const endpointSources: [string, string | undefined][] = [
    ["[providers.aws-sm] endpoint", nonEmpty(settings.endpoint)],
    ["AWS_ENDPOINT_URL_SECRETS_MANAGER", nonEmpty(env.AWS_ENDPOINT_URL_SECRETS_MANAGER)],
    ["AWS_ENDPOINT_URL", nonEmpty(env.AWS_ENDPOINT_URL)],
  ];
  const endpoint = endpointSources.find(([, value]) => value !== undefined);
  if (endpoint) [options.endpointSource, options.endpoint] = endpoint;
  const accessKeyId = nonEmpty(env.AWS_ACCESS_KEY_ID);
  const secretAccessKey = nonEmpty(env.AWS_SECRET_ACCESS_KEY);
  // Like the SDK: a profile, when named, wins over static keys in the environment.
  if (!options.profile && accessKeyId && secretAccessKey) {
    options.credentials = { accessKeyId, secretAccessKey, sessionToken: nonEmpty(env.AWS_SESSION_TOKEN) };
  }
  return options;
}

function checkEndpoint(options: AwsSmOptions): void {
  if (options.endpoint === undefined) return;
  serviceUrl(options.endpoint, options.endpointSource ?? "[providers.aws-sm] endpoint", "https://secretsmanager.us-east-1.amazonaws.com");
}

/** The secret's text: SecretString, or SecretBinary decoded as UTF-8. */
function secretText(output: GetSecretValueCommandOutput, what: string): string {
  if (output.SecretString !== undefined) return output.SecretString;
  if (output.SecretBinary !== undefined) {
    try {
      return new TextDecoder("utf-8", { fatal: true }).decode(output.SecretBinary);
    } catch {
      throw new ProviderError(`${what} is binary and not UTF-8 text — kz passes secrets to programs as text`);
    }
  }
  throw new ProviderError(`${what} has neither SecretString nor SecretBinary`);
}

interface Where {
  ref: string;
  versionStage?: string;
  region: string;
  endpoint: string;
  profile?: string;
}

/** The first line of an AWS service message, for errors whose message says what to fix (never a value). */
const serviceReason = (error: Error) => error.message.split("\n")[0]!.slice(0, 200);

/** One actionable line for an SDK, credential or network failure. Pure; names things, never values. */
export function describeAwsError(error: unknown, where: Where): string {
  if (!(error instanceof Error)) return "AWS Secrets Manager request failed";
  const secret = `secret "${where.ref}"${where.versionStage ? ` (stage ${where.versionStage})` : ""}`;
  const code = (error as { code?: unknown }).code;
  switch (error.name) {
    case "ResourceNotFoundException":
      return where.versionStage
        ? `no secret named "${where.ref}" with stage ${where.versionStage} in region ${where.region}`
        : `no secret named "${where.ref}" in region ${where.region} — check the name and the region`;
    case "AccessDeniedException":
      return `access denied to ${secret} in region ${where.region} — the AWS identity needs secretsmanager:GetSecretValue on it`;
    case "DecryptionFailure":
      return `AWS could not decrypt ${secret} — the AWS identity needs kms:Decrypt on the secret's KMS key`;
    case "InvalidRequestException":
    case "InvalidParameterException":
      return `AWS refused to read ${secret}: ${serviceReason(error)}`;
    case "UnrecognizedClientException":
    case "InvalidClientTokenId":
      return "AWS does not recognize the access key ID — check AWS_ACCESS_KEY_ID or the profile's credentials";
    case "InvalidSignatureException":
    case "SignatureDoesNotMatch":
    case "IncompleteSignatureException":
      return "AWS rejected the request signature — the secret access key does not match the access key ID (check AWS_SECRET_ACCESS_KEY or the profile's credentials)";
    case "ExpiredTokenException":
    case "ExpiredToken":
    case "RequestExpired":
      return "the AWS credentials have expired — refresh them (e.g. aws sso login) and retry";
    case "CredentialsProviderError":
      return where.profile
        ? `could not load AWS credentials for profile "${where.profile}" — check ~/.aws/config and ~/.aws/credentials (or run aws sso login)`
        : "could not load AWS credentials — set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or [providers.aws-sm] profile";
    case "ThrottlingException":
      return "AWS Secrets Manager throttled the request — retry shortly";
    case "InternalServiceError":
      return "AWS Secrets Manager failed internally (InternalServiceError) — retry shortly";
    case "AbortError":
      return `the request to AWS Secrets Manager at ${where.endpoint} was aborted`;
  }
  if (error.message === "Region is missing") {
    return "no AWS region — set [providers.aws-sm] region, AWS_REGION, or a region in the AWS profile";
  }
  if (typeof code === "string" && /^E[A-Z_]+$/.test(code)) return `cannot reach AWS Secrets Manager at ${where.endpoint} (${code})`;
  const status = (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
  return `AWS Secrets Manager error ${error.name}${status ? ` (HTTP ${status})` : ""} reading ${secret}`;
}

async function openClient(options: AwsSmOptions) {
  const { SecretsManagerClient, GetSecretValueCommand } = await import("@aws-sdk/client-secrets-manager");
  const config: SecretsManagerClientConfig = {};
  if (options.region) config.region = options.region;
  if (options.profile) config.profile = options.profile;
  if (options.endpoint) config.endpoint = options.endpoint;
  if (options.credentials) config.credentials = options.credentials;
  const client = new SecretsManagerClient(config);
  const region = async () => {
    try {
      return await client.config.region();
    } catch {
      return "(none)";
    }
  };
  return { client, GetSecretValueCommand, region };
}

const createAwsSmProvider: ProviderFactory = ({ settings, env }) => {
  const options = awsSmOptions(settings, env);
  checkEndpoint(options);
  let opened: ReturnType<typeof openClient> | undefined;

  return {
    async fetch({ ref, field, versionStage, signal }: SecretRequest) {
      opened ??= openClient(options);
      const { client, GetSecretValueCommand, region } = await opened;
      const what = `secret "${ref}"${versionStage ? ` (stage ${versionStage})` : ""}`;
      let output: GetSecretValueCommandOutput;
      try {
        output = await client.send(new GetSecretValueCommand({ SecretId: ref, VersionStage: versionStage }), { abortSignal: signal });
      } catch (error) {
        const r = await region();
        const endpoint = options.endpoint ?? `https://secretsmanager.${r}.amazonaws.com`;
        throw new ProviderError(describeAwsError(error, { ref, versionStage, region: r, endpoint, profile: options.profile }));
      }
      const value = selectField(secretText(output, what), field, what);
      if (value === "") throw new ProviderError(`${what} is empty`);
      return new SecretValue(value);
    },
  };
};

export default createAwsSmProvider;
