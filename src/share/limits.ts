// The limits of a one-time share, shared by the server (which enforces them) and `kz share` (which checks
// them before encrypting): views 1–10 (default 1), expiry up to 7 days (default 1 hour), an envelope of
// at most 64 KiB, and ids of 128 random bits. Pure functions; each problem is one line naming the field.

export const DEFAULT_VIEWS = 1;
export const MAX_VIEWS = 10;
export const DEFAULT_EXPIRES_SECONDS = 3600;
export const MAX_EXPIRES_SECONDS = 7 * 24 * 3600;
/** The stored envelope's length in characters (base64url): values up to about 48 KiB fit. */
export const MAX_CIPHERTEXT_CHARS = 64 * 1024;
/** The largest value `kz share` accepts, so that its envelope stays within MAX_CIPHERTEXT_CHARS. */
export const MAX_VALUE_BYTES = 48 * 1024;
const ID_BYTES = 16;
const ID_PATTERN = /^[A-Za-z0-9_-]{22}$/;

export type Checked<T> = { ok: true; value: T } | { ok: false; message: string };

const UNITS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400 };

/** "90s", "15m", "1h", "7d", "1h30m" → seconds; undefined when it is not a duration. */
export function parseDuration(text: string): number | undefined {
  const trimmed = text.trim();
  if (!/^(\d+[smhd])+$/.test(trimmed)) return undefined;
  let total = 0;
  for (const [, n, unit] of trimmed.matchAll(/(\d+)([smhd])/g)) total += Number(n) * UNITS[unit!]!;
  return Number.isSafeInteger(total) ? total : undefined;
}

/** The number of views, or the default; 1–10. */
export function checkViews(views: unknown): Checked<number> {
  if (views === undefined) return { ok: true, value: DEFAULT_VIEWS };
  if (typeof views !== "number" || !Number.isInteger(views) || views < 1 || views > MAX_VIEWS) {
    return { ok: false, message: `views must be a whole number from 1 to ${MAX_VIEWS}` };
  }
  return { ok: true, value: views };
}

/** Seconds until expiry (a number of seconds or a duration such as "1h"), or the default; 1 s – 7 days. */
export function checkExpiresIn(expires: unknown): Checked<number> {
  if (expires === undefined) return { ok: true, value: DEFAULT_EXPIRES_SECONDS };
  const seconds = typeof expires === "number" ? expires : typeof expires === "string" ? parseDuration(expires) : undefined;
  if (seconds === undefined || !Number.isInteger(seconds) || seconds < 1 || seconds > MAX_EXPIRES_SECONDS) {
    return { ok: false, message: 'expiry must be from 1 second to 7 days, in seconds or as a duration such as "15m", "1h" or "7d"' };
  }
  return { ok: true, value: seconds };
}

/** A fresh share id: 128 random bits, base64url (22 characters). */
export function newShareId(): string {
  return Buffer.from(crypto.getRandomValues(new Uint8Array(ID_BYTES))).toString("base64url");
}

/** Whether `id` has the shape of a share id (anything else is answered exactly like an unknown id). */
export function isShareId(id: string): boolean {
  return ID_PATTERN.test(id);
}
