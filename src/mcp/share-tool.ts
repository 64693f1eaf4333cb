// The MCP `share` tool: hand a secret to a person as a one-time link, without the value passing through
// the agent. The server reads the value itself — a bundle secret (policy action "share") or one of the
// caller's own captured secrets — encrypts it with the share envelope (src/share/envelope.ts) under a
// fresh key, stores the ciphertext as POST /v1/shares does, and returns only the link.
//
// The link carries the key in its fragment: whoever holds the link can open it once, the agent included.
// kz cannot stop an agent from opening a link it was given; it makes doing so visible instead:
//   - an agent's share opens exactly once (views: 1): if the agent opens it, the person gets "already
//     opened" and knows the value was seen — and the open is in the audit log with its client address;
//   - sharing a captured secret hands it off: it is taken out of the state atomically, so exactly one
//     link for it ever exists (racing shares included) — an agent cannot keep a second link to peek with;
//   - every share is audited (share.created, with creator and secret name; never key, link or value).

import type { ShareArgs } from "./share-tool-definition.ts";
import { type CallContext, type ToolOutcome, decisionRef, ok, refuse } from "./calls.ts";
import { auditCaptured, ownerOf, statefulOf } from "./captured.ts";
import type { SecretValue } from "../secret.ts";
import { MAX_VALUE_BYTES } from "../share/limits.ts";

export async function shareTool(args: ShareArgs, ctx: CallContext): Promise<ToolOutcome> {
  const stateful = statefulOf(ctx);
  if (!stateful) return refuse("share: this kz server keeps no state, so it cannot create share links");
  if (!/^https?:\/\//.test(stateful.publicUrl)) return refuse("share: this kz server has no public URL (it serves MCP over stdio), so it cannot build a link a person could open");
  const { host, identity, client } = ctx;
  const name = args.secret;

  let value: SecretValue;
  let restore: (() => Promise<void>) | undefined;
  let handedOff = false;
  if (host.secrets().some((s) => s.name === name)) {
    const decision = host.decide(identity, name, { action: "share" }, client);
    if (!decision.allow) return refuse(`share: ${name} is not allowed for you to share (${decision.reason}${decisionRef(decision.decisionId)})`);
    try {
      value = await host.value(name);
    } catch (error) {
      const e = error as Error;
      return refuse(`share: ${e?.name === "AccessError" ? e.message : `cannot read ${name} (${e?.name ?? "error"})`}`);
    }
  } else {
    // One of the caller's captured secrets, handed off: taken out of the state atomically, so of
    // concurrent shares (on any replica) one gets it and no second link can ever be made; put back only
    // if no link is made.
    const owner = ownerOf(identity);
    let taken;
    try {
      taken = owner ? await stateful.captured.take(owner, name) : undefined;
    } catch {
      return refuse("share: server state is unavailable; nothing was shared");
    }
    if (!taken || !owner) {
      host.decide(identity, name, { action: "share" }, client); // an unknown name, audited like any other attempt
      return refuse(`share: no secret named ${JSON.stringify(name.slice(0, 100))}; list_secrets shows the ones you may share`);
    }
    restore = () => stateful.captured.put(taken);
    try {
      value = await stateful.unseal(taken.sealed, owner, name);
    } catch {
      await restore().catch(() => undefined);
      return refuse(`share: ${name} could not be opened (the server's state key changed?); nothing was shared`);
    }
    handedOff = true;
  }

  const plain = new TextEncoder().encode(value.reveal());
  if (plain.length > MAX_VALUE_BYTES) {
    await restore?.().catch(() => undefined);
    return refuse(`share: ${name} is larger than a share may hold (${MAX_VALUE_BYTES} bytes); no link was made`);
  }
  const { sealShare, shareLink } = await import("../share/envelope.ts");
  let sealed: Awaited<ReturnType<typeof sealShare>>;
  try {
    sealed = await sealShare(plain);
  } catch (error) {
    await restore?.().catch(() => undefined);
    return refuse(`share: cannot encrypt (${(error as Error)?.name ?? "error"}); no link was made`);
  }
  const expiresAt = stateful.now() + args.expiresIn * 1000;
  const why = (error: unknown) => ((error as Error)?.name === "StateUnavailableError" ? "server state is unavailable" : "the audit log or the state could not be written");
  let id: string;
  try {
    ({ id } = await stateful.createShare(identity, { ciphertext: sealed.ciphertext, views: 1, expiresAt, passphrase: false, secret: name }, client));
  } catch (error) {
    await restore?.().catch(() => undefined);
    return refuse(`share: ${why(error)}; no link was made`);
  }
  if (handedOff) {
    try {
      auditCaptured(ctx, stateful, "captured.shared", { name });
    } catch {
      // share.created is recorded already; this record only adds that the capture was handed off.
    }
  }
  return ok({
    link: shareLink(stateful.publicUrl, id, sealed.key),
    expires_at: new Date(expiresAt).toISOString(),
    views: 1,
    note:
      "Give this link to the person it is for and do not open it yourself: it opens once, and an earlier opening shows them " +
      `"already opened".${handedOff ? ` ${name} was handed over and is no longer among your captured secrets.` : ""}`,
  });
}
