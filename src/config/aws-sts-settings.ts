// `[providers.aws-sts]` settings, checked without reading anything: the role to assume, the session
// policy (inline JSON, or a file read later by the provider) and managed policy ARNs that scope it down,
// the duration (15m–12h, default 15m), external_id, source_profile, region, endpoint, session_name.
// Pure, so the config loader checks them (one line naming the file, line and key) and the provider
// parses them the same way. Messages name the key and the fix, never the value.

export const STS_DEFAULT_SECONDS = 15 * 60;
export const STS_MIN_SECONDS = 15 * 60;
export const STS_MAX_SECONDS = 12 * 60 * 60;
/** AWS's limit on a session policy's plaintext (inline and managed ARNs together, packed). */
const POLICY_MAX_CHARS = 2048;
const MAX_POLICY_ARNS = 10;

const ROLE_ARN = /^arn:aws[a-z-]*:iam::\d{12}:role\/[\w+=,.@/-]{1,512}$/;
const POLICY_ARN = /^arn:aws[a-z-]*:iam::(\d{12}|aws):policy\/[\w+=,.@/-]{1,512}$/;
const SESSION_NAME = /^[\w+=,.@-]{2,64}$/;

export type SessionPolicy = { inline: string } | { file: string };

export interface StsSettings {
  roleArn?: string;
  sessionPolicy?: SessionPolicy;
  policyArns: string[];
  durationSeconds: number;
  externalId?: string;
  sourceProfile?: string;
  region?: string;
  endpoint?: string;
  sessionName?: string;
}

/** A setting that is wrong: its key and what to write instead. */
export class StsSettingError extends Error {
  constructor(
    readonly key: string,
    message: string,
  ) {
    super(message);
    this.name = "StsSettingError";
  }
}

/** "900", "900s", "15m", "1h", "1h30m" → seconds; undefined when it is none of these. */
export function parseDuration(text: string): number | undefined {
  if (/^\d+$/.test(text)) return Number(text);
  const match = /^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$/.exec(text.trim());
  if (!match || text.trim() === "") return undefined;
  return Number(match[1] ?? 0) * 3600 + Number(match[2] ?? 0) * 60 + Number(match[3] ?? 0);
}

/** A role ARN is a well-formed arn:aws…:iam::<12 digits>:role/<name>. */
export function isRoleArn(value: string): boolean {
  return ROLE_ARN.test(value);
}

const str = (settings: Record<string, unknown>, key: string): string | undefined => {
  const value = settings[key];
  return typeof value === "string" && value !== "" ? value : undefined;
};

/** The inline policy minified, or an error saying what is wrong with it. */
export function checkPolicyText(text: string, key = "session_policy"): string {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    throw new StsSettingError(key, "is not valid JSON — write an IAM policy document ({\"Version\": \"2012-10-17\", \"Statement\": [...]}) or a path to a file holding one");
  }
  if (typeof doc !== "object" || doc === null || Array.isArray(doc) || !("Statement" in doc)) {
    throw new StsSettingError(key, 'is not an IAM policy document: it needs a "Statement"');
  }
  const packed = JSON.stringify(doc);
  if (packed.length > POLICY_MAX_CHARS) throw new StsSettingError(key, `is ${packed.length} characters once minified; AWS allows ${POLICY_MAX_CHARS}`);
  return packed;
}

export function parseStsSettings(settings: Record<string, unknown>): StsSettings {
  const roleArn = str(settings, "role_arn");
  if (roleArn !== undefined && !isRoleArn(roleArn)) throw new StsSettingError("role_arn", "is not a role ARN — write arn:aws:iam::<account id>:role/<role name>");

  let sessionPolicy: SessionPolicy | undefined;
  const policy = str(settings, "session_policy");
  if (policy !== undefined) sessionPolicy = policy.trimStart().startsWith("{") ? { inline: checkPolicyText(policy) } : { file: policy };

  const policyArns = (settings.policy_arns as string[] | undefined) ?? [];
  if (policyArns.length > MAX_POLICY_ARNS) throw new StsSettingError("policy_arns", `lists ${policyArns.length} policies; AWS allows ${MAX_POLICY_ARNS}`);
  policyArns.forEach((arn, i) => {
    if (!POLICY_ARN.test(arn)) throw new StsSettingError("policy_arns", `entry ${i + 1} is not a managed policy ARN — write arn:aws:iam::<account id>:policy/<name>`);
  });

  let durationSeconds = STS_DEFAULT_SECONDS;
  const duration = str(settings, "duration");
  if (duration !== undefined) {
    const seconds = parseDuration(duration);
    if (seconds === undefined) throw new StsSettingError("duration", 'is not a duration — write e.g. "15m", "1h" or "1h30m"');
    if (seconds < STS_MIN_SECONDS || seconds > STS_MAX_SECONDS) throw new StsSettingError("duration", "must be between 15m and 12h (AWS's limits for AssumeRole)");
    durationSeconds = seconds;
  }

  const externalId = str(settings, "external_id");
  if (externalId !== undefined && !/^[\w+=,.@:/-]{2,1224}$/.test(externalId)) {
    throw new StsSettingError("external_id", "must be 2–1224 characters of letters, digits and +=,.@:/-_");
  }
  const sessionName = str(settings, "session_name");
  if (sessionName !== undefined && !SESSION_NAME.test(sessionName)) {
    throw new StsSettingError("session_name", "must be 2–64 characters of letters, digits and +=,.@-_");
  }
  return {
    roleArn,
    sessionPolicy,
    policyArns,
    durationSeconds,
    externalId,
    sourceProfile: str(settings, "source_profile"),
    region: str(settings, "region"),
    endpoint: str(settings, "endpoint"),
    sessionName,
  };
}

/** For the config loader: the first wrong setting as { key, message }, or undefined. */
export function checkStsSettings(settings: Record<string, unknown>): { key: string; message: string } | undefined {
  try {
    parseStsSettings(settings);
    return undefined;
  } catch (error) {
    if (error instanceof StsSettingError) return { key: error.key, message: error.message };
    throw error;
  }
}
