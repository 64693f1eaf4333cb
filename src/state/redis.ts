// The scale-out state backend: one Redis (or Valkey) shared by every replica, through Bun's built-in
// client. Every multi-step operation is one Lua script (atomic in Redis: a share with n views opens at most
// n times whichever replica asks). Redis expires entries itself: shares at their expiry, a tombstone per
// share (set "expired" at creation to outlive it by TOMBSTONE_MS, overwritten "consumed" at the last view),
// captured secrets at theirs, revocations at exp + grace. Leases carry no TTL (they must be revoked at the
// backend first): a sorted set by expiry feeds takeExpiredLeases. A Redis that is down or answers wrongly
// is StateUnavailableError (the caller answers 503 and reveals nothing); commands are never queued while
// disconnected, and each one after an outage tries to reconnect. Single-instance Redis: the scripts touch
// keys they compute, so Redis Cluster is not supported.

import { RedisClient } from "bun";
import { createHash } from "node:crypto";
import { ConfigError } from "../errors.ts";
import { checkCaptured, checkJti, checkLease, checkShare, revocationForgetAt, TOMBSTONE_MS } from "./common.ts";
import { redactUrl, type OpenStateOptions } from "./open.ts";
import { StateUnavailableError, type CapturedSecret, type ServerState, type ShareOpen, type SharePeek, type StoredLease, type StoredShare } from "./types.ts";

const P = "kz:";
const shareKey = (id: string) => `${P}share:{${id}}`;
const tombKey = (id: string) => `${P}tomb:{${id}}`;
const b64 = (s: string) => Buffer.from(s, "utf8").toString("base64url");
const capturedKey = (owner: string, name: string) => `${P}cap:{${b64(owner)}}:${b64(name)}`;
const capturedIndex = (owner: string) => `${P}capidx:{${b64(owner)}}`;
const revocationKey = (jti: string) => `${P}rev:${jti}`;

/** A Lua script, sent by its SHA-1 (EVALSHA) and loaded on first use (NOSCRIPT → EVAL). */
class Script {
  readonly sha: string;
  constructor(readonly source: string) {
    this.sha = createHash("sha1").update(source).digest("hex");
  }
}

const PUT_SHARE = new Script(`
if redis.call('EXISTS', KEYS[1]) == 1 then return redis.error_reply('a share with this id exists') end
redis.call('HSET', KEYS[1], 'ciphertext', ARGV[1], 'views', ARGV[2], 'expiresAt', ARGV[3], 'createdAt', ARGV[4], 'creator', ARGV[5], 'passphrase', ARGV[6])
redis.call('PEXPIREAT', KEYS[1], ARGV[3])
redis.call('SET', KEYS[2], 'expired', 'PXAT', tonumber(ARGV[3]) + tonumber(ARGV[7]))
return 1`);

// KEYS: share, tombstone. ARGV: now, tombstone ms. → {status, [ciphertext, viewsLeft, passphrase, creator]}
const OPEN_SHARE = new Script(`
local v = redis.call('HMGET', KEYS[1], 'ciphertext', 'views', 'expiresAt', 'passphrase', 'creator')
if not v[1] then
  local t = redis.call('GET', KEYS[2])
  if t then return {t} end
  return {'unknown'}
end
local now = tonumber(ARGV[1])
local views = tonumber(v[2])
if tonumber(v[3]) <= now or views <= 0 then
  redis.call('DEL', KEYS[1])
  local status = views <= 0 and 'consumed' or 'expired'
  redis.call('SET', KEYS[2], status, 'PX', ARGV[2])
  return {status}
end
local left = views - 1
if left <= 0 then
  redis.call('DEL', KEYS[1])
  redis.call('SET', KEYS[2], 'consumed', 'PX', ARGV[2])
else
  redis.call('HSET', KEYS[1], 'views', left)
end
return {'opened', v[1], tostring(left), v[4], v[5]}`);

// KEYS: share, tombstone. ARGV: now. → {status, [views, expiresAt, passphrase]}
const PEEK_SHARE = new Script(`
local v = redis.call('HMGET', KEYS[1], 'views', 'expiresAt', 'passphrase')
if not v[1] then
  local t = redis.call('GET', KEYS[2])
  if t then return {t} end
  return {'unknown'}
end
if tonumber(v[1]) <= 0 then return {'consumed'} end
if tonumber(v[2]) <= tonumber(ARGV[1]) then return {'expired'} end
return {'open', v[1], v[2], v[3]}`);

// KEYS: secret, owner's index. ARGV: json, expiresAt, name, now.
const PUT_CAPTURED = new Script(`
redis.call('SET', KEYS[1], ARGV[1], 'PXAT', ARGV[2])
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', ARGV[4])
local top = redis.call('ZRANGE', KEYS[2], -1, -1, 'WITHSCORES')
if top[2] then redis.call('PEXPIREAT', KEYS[2], top[2]) else redis.call('DEL', KEYS[2]) end
return 1`);

// KEYS: secret, owner's index. ARGV: name (as in the index). → the JSON text, or nil; removed either way.
const TAKE_CAPTURED = new Script(`
local v = redis.call('GET', KEYS[1])
if v then redis.call('DEL', KEYS[1]) end
redis.call('ZREM', KEYS[2], ARGV[1])
return v`);

// KEYS: owner's index. ARGV: now, key prefix for the owner's secrets. → JSON texts
const LIST_CAPTURED = new Script(`
local names = redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. ARGV[1], '+inf')
local out = {}
for _, name in ipairs(names) do
  local v = redis.call('GET', ARGV[2] .. name)
  if v then out[#out + 1] = v end
end
return out`);

const REVOKE = new Script(`
if not redis.call('SET', KEYS[1], '1', 'PXAT', ARGV[1], 'NX') then redis.call('PEXPIREAT', KEYS[1], ARGV[1], 'GT') end
return 1`);

const TAKE = `
local function take(ids)
  local out = {}
  for _, id in ipairs(ids) do
    local k = ARGV[1] .. 'lease:' .. id
    local v = redis.call('GET', k)
    if v then
      for _, jti in ipairs(cjson.decode(v).holders) do redis.call('SREM', ARGV[1] .. 'holder:' .. jti, id) end
      redis.call('DEL', k)
      out[#out + 1] = v
    end
    redis.call('ZREM', ARGV[1] .. 'leases', id)
  end
  return out
end
`;

// ARGV: prefix, json, leaseId, expiresAt, holder jtis…
const PUT_LEASE = new Script(`${TAKE}
take({ARGV[3]})
redis.call('SET', ARGV[1] .. 'lease:' .. ARGV[3], ARGV[2])
redis.call('ZADD', ARGV[1] .. 'leases', ARGV[4], ARGV[3])
for i = 5, #ARGV do redis.call('SADD', ARGV[1] .. 'holder:' .. ARGV[i], ARGV[3]) end
return 1`);

// ARGV: prefix, jti
const TAKE_HELD = new Script(`${TAKE}
local ids = redis.call('SMEMBERS', ARGV[1] .. 'holder:' .. ARGV[2])
table.sort(ids)
return take(ids)`);

// ARGV: prefix, now
const TAKE_EXPIRED = new Script(`${TAKE}
return take(redis.call('ZRANGEBYSCORE', ARGV[1] .. 'leases', '-inf', ARGV[2]))`);

function parseJson<T>(text: string): T {
  try {
    return JSON.parse(text) as T;
  } catch {
    throw new StateUnavailableError("server state (redis) holds a malformed entry");
  }
}

/** Checks a `state.redis` URL; the message never repeats its password. */
export function checkRedisUrl(url: string): void {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new ConfigError("state.redis: not a URL — expected redis://HOST:PORT or rediss://HOST:PORT");
  }
  if (!["redis:", "rediss:", "valkey:", "valkeys:"].includes(parsed.protocol)) {
    throw new ConfigError(`state.redis ${redactUrl(url)}: expected a redis:// or rediss:// URL`);
  }
}

export class RedisState implements ServerState {
  readonly kind = "redis" as const;
  readonly #client: RedisClient;
  readonly #now: () => number;
  readonly #shown: string;
  #connecting: Promise<void> | undefined;
  #closed = false;

  private constructor(url: string, options: OpenStateOptions) {
    checkRedisUrl(url);
    this.#shown = redactUrl(url);
    this.#now = options.now ?? Date.now;
    // No offline queue and no reconnect loop of the client's own: a command while Redis is down fails at
    // once (the next one tries to connect again), instead of waiting out the client's retries.
    this.#client = new RedisClient(url, { enableOfflineQueue: false, connectionTimeout: 2000, autoReconnect: false });
  }

  /** Connects to Redis; one that is unreachable now is logged, and requests needing state answer 503 until it is back. */
  static async open(url: string, options: OpenStateOptions = {}): Promise<RedisState> {
    const state = new RedisState(url, options);
    try {
      await state.#ensureConnected();
    } catch (error) {
      options.log?.(`state: redis at ${state.#shown} is unreachable (${(error as Error).message}); requests that need state answer 503 until it is back`);
    }
    return state;
  }

  async #ensureConnected(): Promise<void> {
    if (this.#client.connected) return;
    // Calls arriving while a connection is being made share it (one dial, however many requests).
    this.#connecting ??= this.#client.connect().finally(() => (this.#connecting = undefined));
    try {
      await this.#connecting;
    } catch (error) {
      throw new StateUnavailableError(`server state (redis at ${this.#shown}) is unreachable: ${describe(error)}`);
    }
  }

  async #send(command: string, args: string[]): Promise<unknown> {
    if (this.#closed) throw new StateUnavailableError("server state (redis) is closed");
    await this.#ensureConnected();
    try {
      return await this.#client.send(command, args);
    } catch (error) {
      throw new StateUnavailableError(`server state (redis at ${this.#shown}) failed: ${describe(error)}`);
    }
  }

  async #eval(script: Script, keys: string[], args: (string | number)[]): Promise<unknown> {
    const rest = [String(keys.length), ...keys, ...args.map(String)];
    try {
      return await this.#send("EVALSHA", [script.sha, ...rest]);
    } catch (error) {
      if (!/NOSCRIPT/.test(String((error as Error).message))) throw error;
      return this.#send("EVAL", [script.source, ...rest]);
    }
  }

  async putShare(share: StoredShare): Promise<void> {
    checkShare(share);
    await this.#eval(PUT_SHARE, [shareKey(share.id), tombKey(share.id)], [
      share.ciphertext,
      share.views,
      share.expiresAt,
      share.createdAt,
      share.creator,
      share.passphrase ? "1" : "0",
      TOMBSTONE_MS,
    ]);
  }

  async openShare(id: string, now = this.#now()): Promise<ShareOpen> {
    const r = (await this.#eval(OPEN_SHARE, [shareKey(id), tombKey(id)], [now, TOMBSTONE_MS])) as string[];
    if (r[0] === "opened") return { status: "opened", ciphertext: r[1]!, viewsLeft: Number(r[2]), passphrase: r[3] === "1", creator: r[4]! };
    return { status: r[0] === "consumed" || r[0] === "expired" ? r[0] : "unknown" };
  }

  async peekShare(id: string, now = this.#now()): Promise<SharePeek> {
    const r = (await this.#eval(PEEK_SHARE, [shareKey(id), tombKey(id)], [now])) as string[];
    if (r[0] === "open") return { status: "open", viewsLeft: Number(r[1]), expiresAt: Number(r[2]), passphrase: r[3] === "1" };
    return { status: r[0] === "consumed" || r[0] === "expired" ? r[0] : "unknown" };
  }

  async putCaptured(secret: CapturedSecret): Promise<void> {
    checkCaptured(secret);
    const json = JSON.stringify({ ...secret, hosts: [...secret.hosts] });
    await this.#eval(PUT_CAPTURED, [capturedKey(secret.owner, secret.name), capturedIndex(secret.owner)], [json, secret.expiresAt, b64(secret.name), this.#now()]);
  }

  async getCaptured(owner: string, name: string, now = this.#now()): Promise<CapturedSecret | undefined> {
    const text = (await this.#send("GET", [capturedKey(owner, name)])) as string | null;
    if (text === null) return undefined;
    const secret = parseJson<CapturedSecret>(text);
    return secret.owner === owner && secret.name === name && secret.expiresAt > now ? secret : undefined;
  }

  async takeCaptured(owner: string, name: string, now = this.#now()): Promise<CapturedSecret | undefined> {
    const text = (await this.#eval(TAKE_CAPTURED, [capturedKey(owner, name), capturedIndex(owner)], [b64(name)])) as string | null;
    if (!text) return undefined;
    const secret = parseJson<CapturedSecret>(text);
    return secret.owner === owner && secret.name === name && secret.expiresAt > now ? secret : undefined;
  }

  async listCaptured(owner: string, now = this.#now()): Promise<CapturedSecret[]> {
    const prefix = capturedKey(owner, ""); // + the name, base64url
    const texts = (await this.#eval(LIST_CAPTURED, [capturedIndex(owner)], [now, prefix])) as string[];
    return texts
      .map((t) => parseJson<CapturedSecret>(t))
      .filter((s) => s.owner === owner && s.expiresAt > now)
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  async revoke(jti: string, expiresAt: number): Promise<void> {
    checkJti(jti);
    const forgetAt = revocationForgetAt(expiresAt);
    if (forgetAt <= this.#now()) return;
    await this.#eval(REVOKE, [revocationKey(jti)], [forgetAt]);
  }

  async isRevoked(jti: string): Promise<boolean> {
    return Number(await this.#send("EXISTS", [revocationKey(jti)])) === 1;
  }

  async putLease(lease: StoredLease): Promise<void> {
    checkLease(lease);
    const json = JSON.stringify({ leaseId: lease.leaseId, provider: lease.provider, secret: lease.secret, holders: [...lease.holders], expiresAt: lease.expiresAt });
    await this.#eval(PUT_LEASE, [], [P, json, lease.leaseId, lease.expiresAt, ...new Set(lease.holders)]);
  }

  async takeLeasesHeldBy(jti: string): Promise<StoredLease[]> {
    return ((await this.#eval(TAKE_HELD, [], [P, jti])) as string[]).map((t) => parseJson<StoredLease>(t));
  }

  async takeExpiredLeases(now = this.#now()): Promise<StoredLease[]> {
    const taken = ((await this.#eval(TAKE_EXPIRED, [], [P, now])) as string[]).map((t) => parseJson<StoredLease>(t));
    return taken.sort((a, b) => (a.leaseId < b.leaseId ? -1 : 1));
  }

  /** Redis expires shares, tombstones, captured secrets and revocations itself. */
  async sweep(): Promise<void> {}

  async close(): Promise<void> {
    this.#closed = true;
    try {
      this.#client.close();
    } catch {
      // already closed
    }
  }
}

/** An error's first line, without any URL's userinfo. */
function describe(error: unknown): string {
  const text = String((error as Error)?.message ?? error).split("\n")[0]!;
  return text.replace(/\/\/[^/@\s]*@/g, "//");
}
