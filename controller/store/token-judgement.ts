import type { TokenRecord, TokenUse } from './store.js';

/** Whether a bootstrap token can be used now: the same judgement for every Store implementation. */
export function judgeToken(
  token: TokenRecord | undefined,
  verifySecret: (hash: string) => boolean,
  now: number,
): TokenUse {
  if (!token) return { ok: false, reason: 'unknown' };
  if (!verifySecret(token.secretHash)) return { ok: false, reason: 'mismatch' };
  if (now >= token.expiresAt) return { ok: false, reason: 'expired' };
  if (token.usesLeft <= 0) return { ok: false, reason: 'exhausted' };
  return { ok: true, token };
}
