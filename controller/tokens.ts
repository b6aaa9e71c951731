import { createHash, randomInt, timingSafeEqual } from 'node:crypto';
import { KctlError } from '../proto/errors.js';

/** S1: default TTL 1 h, at most 24 h; default one use. */
export const DEFAULT_TOKEN_TTL_MS = 3600_000;
export const MAX_TOKEN_TTL_MS = 24 * 3600_000;

const ALPHABET = 'abcdefghijklmnopqrstuvwxyz0123456789';
const TOKEN = /^([a-z0-9]{6})\.([a-z0-9]{16})$/;

function randomString(length: number): string {
  // randomInt draws uniformly (rejection sampling inside), so no modulo bias
  let s = '';
  for (let i = 0; i < length; i++) s += ALPHABET[randomInt(ALPHABET.length)];
  return s;
}

/** A bootstrap token in kubeadm's format, from the CSPRNG. */
export function generateToken(): { id: string; secret: string; token: string } {
  const id = randomString(6);
  const secret = randomString(16);
  return { id, secret, token: `${id}.${secret}` };
}

/**
 * The secret part is 16 characters of a 36-letter alphabet (~82 bits) from the CSPRNG, so one
 * SHA-256 is enough: there is nothing to brute-force that a slow hash would protect.
 */
export function hashTokenSecret(secret: string): string {
  return createHash('sha256').update(secret).digest('hex');
}

export function verifyTokenSecret(secret: string, hash: string): boolean {
  const a = Buffer.from(hashTokenSecret(secret), 'hex');
  const b = Buffer.from(hash, 'hex');
  return a.length === b.length && timingSafeEqual(a, b);
}

export function parseTokenString(token: string): { id: string; secret: string } {
  const m = TOKEN.exec(token);
  if (!m) throw new KctlError('token_invalid', 'token must match [a-z0-9]{6}.[a-z0-9]{16}');
  return { id: m[1] ?? '', secret: m[2] ?? '' };
}

/** S3144: expired means now >= expiresAt, so the boundary instant is already expired. */
export function isExpired(expiresAt: number, now: number): boolean {
  return now >= expiresAt;
}

const UNIT_MS: Record<string, number> = { h: 3600_000, m: 60_000, s: 1000 };

/** "24h", "30m", "90s", "1h30m" -> milliseconds; the error names the flag. */
export function parseDuration(text: string, flag = 'duration'): number {
  const re = /(\d+)([hms])/g;
  if (!/^(\d+[hms])+$/.test(text)) {
    throw new KctlError('invalid_args', `${flag}: "${text}" is not a duration like 30m, 1h or 1h30m`);
  }
  let ms = 0;
  for (const m of text.matchAll(re)) ms += Number(m[1]) * (UNIT_MS[m[2] ?? 's'] ?? 0);
  if (ms <= 0) throw new KctlError('invalid_args', `${flag}: "${text}" must be longer than zero`);
  return ms;
}
