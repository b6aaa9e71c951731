import { createHash, randomInt, timingSafeEqual } from 'node:crypto';
import { KctlError } from '../proto/errors.js';

/** S1: default TTL 1 h, at most 24 h; default one use. */
export const DEFAULT_TOKEN_TTL_MS = 3600_000;
export const MAX_TOKEN_TTL_MS = 24 * 3600_000;
export const DEFAULT_TOKEN_USES = 1;

const ALPHABET = 'abcdefghijklmnopqrstuvwxyz0123456789';
/** kubeadm's bootstrap token format: `<6 id>.<16 secret>`. */
export const TOKEN_PATTERN = /^([a-z0-9]{6})\.([a-z0-9]{16})$/;
const SECRET_PATTERN = /^[a-z0-9]{16}$/;

function randomString(length: number): string {
  // randomInt draws from the CSPRNG with rejection sampling, so every letter is equally likely
  let s = '';
  for (let i = 0; i < length; i++) s += ALPHABET.charAt(randomInt(ALPHABET.length));
  return s;
}

/** A bootstrap token in kubeadm's format, from the CSPRNG. Only the id may be shown again. */
export function generateToken(): { id: string; secret: string; token: string } {
  const id = randomString(6);
  const secret = randomString(16);
  return { id, secret, token: `${id}.${secret}` };
}

/**
 * What the store keeps instead of the secret. The secret is 16 characters drawn uniformly from 36
 * (log2(36^16) ≈ 82.7 bits) by the CSPRNG, so a leaked hash cannot be reversed by guessing: a slow,
 * salted password hash guards low-entropy human secrets and would add nothing here but latency.
 */
export function hashTokenSecret(secret: string): string {
  return createHash('sha256').update(secret, 'utf8').digest('hex');
}

/** Constant-time comparison of a presented secret with a stored hash. */
export function verifyTokenSecret(secret: string, hash: string): boolean {
  if (!SECRET_PATTERN.test(secret) || !/^[0-9a-f]{64}$/.test(hash)) return false;
  const a = Buffer.from(hashTokenSecret(secret), 'hex');
  const b = Buffer.from(hash, 'hex');
  return timingSafeEqual(a, b);
}

/** Splits `id.secret`; anything else is token_invalid, without echoing the input (it may be a secret). */
export function parseTokenString(token: string): { id: string; secret: string } {
  const m = TOKEN_PATTERN.exec(token);
  if (!m) throw new KctlError('token_invalid', 'token must match [a-z0-9]{6}.[a-z0-9]{16}');
  return { id: m[1] ?? '', secret: m[2] ?? '' };
}

/** S3144: expired means now >= expiresAt, so the boundary instant is already expired. */
export function isExpired(expiresAt: number, now: number): boolean {
  return now >= expiresAt;
}

const DURATION = /^(?:(\d{1,6})h)?(?:(\d{1,8})m)?(?:(\d{1,9})s)?$/;

/**
 * "24h", "30m", "90s", "1h30m" -> milliseconds. Units go h, m, s, each at most once; the error names
 * the flag. Whether the value is within a limit (MAX_TOKEN_TTL_MS) is the caller's decision.
 */
export function parseDuration(text: string, flag = 'duration'): number {
  const m = DURATION.exec(text);
  if (!m || text === '') {
    throw new KctlError('invalid_args', `${flag}: "${text}" is not a duration like 90s, 30m, 24h or 1h30m`);
  }
  const [, h = '0', min = '0', s = '0'] = m;
  const ms = (Number(h) * 3600 + Number(min) * 60 + Number(s)) * 1000;
  if (ms <= 0) throw new KctlError('invalid_args', `${flag}: "${text}" must be longer than zero`);
  return ms;
}

/** Parses a token TTL flag (default 1 h) and enforces the 24 h maximum (S1). */
export function parseTokenTtl(text: string | undefined, flag = '--ttl'): number {
  if (text === undefined) return DEFAULT_TOKEN_TTL_MS;
  const ms = parseDuration(text, flag);
  if (ms > MAX_TOKEN_TTL_MS) {
    throw new KctlError(
      'invalid_args',
      `${flag}: "${text}" is longer than the maximum token lifetime of 24h`,
    );
  }
  return ms;
}
