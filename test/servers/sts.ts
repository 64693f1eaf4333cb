// A fake AWS STS for tests: speaks the Query protocol the SDK's STSClient uses (POST / with a form body
// Action=AssumeRole&Version=2011-06-15&RoleArn=…, an XML answer), verifies every request's SigV4 against
// the source credentials, and records each AssumeRole (role, session name, duration, session policy,
// policy ARNs, external id). Issued credentials are kept so another test server (an S3-style upstream)
// can check requests signed with them — session token included.

import { randomBytes } from "node:crypto";
import { SigV4Error, verifySigV4, type SigningKey } from "./sigv4-verify.ts";

export interface AssumeRoleCall {
  /** The source access key id that signed the call. */
  signer: string;
  roleArn: string;
  sessionName: string;
  durationSeconds: number;
  /** The session policy as sent (text), if any. */
  policy?: string;
  policyArns: string[];
  externalId?: string;
  /** The access key id issued. */
  issued?: string;
}

export interface IssuedCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken: string;
  roleArn: string;
}

export interface StsServer {
  url: string;
  region: string;
  calls: AssumeRoleCall[];
  /** Refused requests: AWS error code and message. */
  rejections: { code: string; message: string }[];
  issued: Map<string, IssuedCredentials>;
  /** Issued credentials as SigV4 keys (with their session tokens), for an upstream to verify with. */
  issuedKeys(): Map<string, SigningKey>;
  stop(): void;
}

export interface StsServerOptions {
  region?: string;
  sourceCredentials: { accessKeyId: string; secretAccessKey: string }[];
  /** Roles that may be assumed (others: AccessDenied). */
  roles: string[];
  /** Roles whose trust policy demands this external id. */
  externalIds?: Record<string, string>;
}

const ACCOUNT = "123456789012";
const NS = "https://sts.amazonaws.com/doc/2011-06-15/";
const xmlEscape = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");

class StsError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly status = 400,
  ) {
    super(message);
  }
}

function errorResponse(e: StsError): Response {
  const body = `<ErrorResponse xmlns="${NS}"><Error><Type>Sender</Type><Code>${e.code}</Code><Message>${xmlEscape(e.message)}</Message></Error><RequestId>${crypto.randomUUID()}</RequestId></ErrorResponse>`;
  return new Response(body, { status: e.status, headers: { "content-type": "text/xml" } });
}

const upper = (n: number) => Array.from(randomBytes(n), (b) => "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"[b % 32]).join("");

export function startStsServer(opts: StsServerOptions): StsServer {
  const region = opts.region ?? "us-east-1";
  const sources = new Map<string, SigningKey>(opts.sourceCredentials.map((c) => [c.accessKeyId, { secretAccessKey: c.secretAccessKey }]));
  const calls: AssumeRoleCall[] = [];
  const rejections: { code: string; message: string }[] = [];
  const issued = new Map<string, IssuedCredentials>();

  function assumeRole(form: URLSearchParams, signer: string): Response {
    const roleArn = form.get("RoleArn") ?? "";
    const sessionName = form.get("RoleSessionName") ?? "";
    const durationSeconds = Number(form.get("DurationSeconds") ?? 3600);
    const policyArns: string[] = [];
    for (let i = 1; form.has(`PolicyArns.member.${i}.arn`); i++) policyArns.push(form.get(`PolicyArns.member.${i}.arn`)!);
    const call: AssumeRoleCall = { signer, roleArn, sessionName, durationSeconds, policyArns, policy: form.get("Policy") ?? undefined, externalId: form.get("ExternalId") ?? undefined };
    calls.push(call);
    if (!/^[\w+=,.@-]{2,64}$/.test(sessionName)) throw new StsError("ValidationError", "1 validation error detected: Value at 'roleSessionName' failed to satisfy constraint");
    if (durationSeconds < 900 || durationSeconds > 43200) throw new StsError("ValidationError", "The requested DurationSeconds exceeds the MaxSessionDuration set for this role.");
    if (!opts.roles.includes(roleArn)) {
      throw new StsError("AccessDenied", `User: arn:aws:iam::${ACCOUNT}:user/kz-test is not authorized to perform: sts:AssumeRole on resource: ${roleArn}`, 403);
    }
    const wantedId = opts.externalIds?.[roleArn];
    if (wantedId !== undefined && call.externalId !== wantedId) {
      throw new StsError("AccessDenied", `User: arn:aws:iam::${ACCOUNT}:user/kz-test is not authorized to perform: sts:AssumeRole on resource: ${roleArn}`, 403);
    }
    if (call.policy !== undefined) {
      try {
        JSON.parse(call.policy);
      } catch {
        throw new StsError("MalformedPolicyDocument", "Syntax errors in policy.");
      }
    }
    const creds: IssuedCredentials = {
      accessKeyId: `ASIA${upper(16)}`,
      secretAccessKey: randomBytes(30).toString("base64"),
      // Real session tokens are long base64 with "/", "+" and "=".
      sessionToken: `IQoJb3JpZ2luX2Vj${randomBytes(300).toString("base64")}`,
      roleArn,
    };
    issued.set(creds.accessKeyId, creds);
    call.issued = creds.accessKeyId;
    const roleName = roleArn.slice(roleArn.lastIndexOf("/") + 1);
    const expiration = new Date(Date.now() + durationSeconds * 1000).toISOString().replace(/\.\d{3}Z$/, "Z");
    const body = `<AssumeRoleResponse xmlns="${NS}">
  <AssumeRoleResult>
    <AssumedRoleUser>
      <AssumedRoleId>AROA${upper(16)}:${xmlEscape(sessionName)}</AssumedRoleId>
      <Arn>arn:aws:sts::${ACCOUNT}:assumed-role/${xmlEscape(roleName)}/${xmlEscape(sessionName)}</Arn>
    </AssumedRoleUser>
    <Credentials>
      <AccessKeyId>${creds.accessKeyId}</AccessKeyId>
      <SecretAccessKey>${xmlEscape(creds.secretAccessKey)}</SecretAccessKey>
      <SessionToken>${xmlEscape(creds.sessionToken)}</SessionToken>
      <Expiration>${expiration}</Expiration>
    </Credentials>
    <PackedPolicySize>${call.policy ? 12 : 0}</PackedPolicySize>
  </AssumeRoleResult>
  <ResponseMetadata><RequestId>${crypto.randomUUID()}</RequestId></ResponseMetadata>
</AssumeRoleResponse>`;
    return new Response(body, { headers: { "content-type": "text/xml" } });
  }

  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    async fetch(req) {
      const body = new Uint8Array(await req.arrayBuffer());
      try {
        if (req.method !== "POST") throw new StsError("InvalidAction", "STS takes POST requests.");
        let signer: string;
        try {
          signer = verifySigV4(req, body, { region, service: "sts", keys: sources });
        } catch (e) {
          if (e instanceof SigV4Error) throw new StsError(e.code, e.message, 403);
          throw e;
        }
        const form = new URLSearchParams(new TextDecoder().decode(body));
        if (form.get("Version") !== "2011-06-15") throw new StsError("InvalidParameterValue", "Version must be 2011-06-15.");
        if (form.get("Action") !== "AssumeRole") throw new StsError("InvalidAction", `Could not find operation ${form.get("Action")} for version 2011-06-15`);
        return assumeRole(form, signer);
      } catch (e) {
        if (!(e instanceof StsError)) throw e;
        rejections.push({ code: e.code, message: e.message });
        return errorResponse(e);
      }
    },
  });

  return {
    url: `http://127.0.0.1:${server.port}`,
    region,
    calls,
    rejections,
    issued,
    issuedKeys: () => new Map([...issued.values()].map((c) => [c.accessKeyId, { secretAccessKey: c.secretAccessKey, sessionToken: c.sessionToken }])),
    stop: () => server.stop(true),
  };
}
