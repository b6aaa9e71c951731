import { describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { stableCommandId } from '../host-client.js';
import {
  JOIN_BUDGET_MS,
  JOIN_TOKEN_TTL_MS,
  JoinMaterialCache,
  materialFresh,
  UPLOADED_CERTS_TTL_MS,
} from './join-material.js';

const HASH = `sha256:${'a'.repeat(64)}`;

describe('join material', () => {
  it('is fresh only while the token and the uploaded certificates outlive a join started now', () => {
    const m = {
      token: 'abcdef.0123456789abcdef',
      certificateKey: 'k',
      caCertHash: HASH,
      tokenExpiresAt: 0,
      certsUploadedAt: 0,
    };
    const now = 1_000_000_000;
    expect(materialFresh({ ...m, tokenExpiresAt: now + JOIN_BUDGET_MS, certsUploadedAt: now }, now)).toBe(
      true,
    );
    // a token with less than a join's budget left is as good as expired
    expect(materialFresh({ ...m, tokenExpiresAt: now + JOIN_BUDGET_MS - 1, certsUploadedAt: now }, now)).toBe(
      false,
    );
    // kubeadm deletes uploaded certificates 2 h after the upload
    const lateUpload = now - (UPLOADED_CERTS_TTL_MS - JOIN_BUDGET_MS) - 1;
    expect(
      materialFresh({ ...m, tokenExpiresAt: now + JOIN_TOKEN_TTL_MS, certsUploadedAt: lateUpload }, now),
    ).toBe(false);
  });

  it('reuses material within its life, mints anew when it would expire mid-join or when asked for fresh', async () => {
    let now = 1_000_000_000;
    const minted: string[] = [];
    const cache = new JoinMaterialCache(
      (s) => {
        minted.push(s.token);
        expect(s.tokenTtl).toBe(`${JOIN_TOKEN_TTL_MS / 60_000}m`);
        return Promise.resolve({ caCertHash: HASH });
      },
      pino({ level: 'silent' }),
      () => now,
    );
    const a = await cache.get();
    expect(await cache.get()).toBe(a);
    now += JOIN_TOKEN_TTL_MS - JOIN_BUDGET_MS + 1;
    const b = await cache.get();
    expect(b.token).not.toBe(a.token);
    const c = await cache.get({ fresh: true });
    expect(c.token).not.toBe(b.token);
    expect(minted).toHaveLength(3);
  });

  it('takes the material kubeadm init registered, and drops it when told to forget', async () => {
    const now = 1_000_000_000;
    let mints = 0;
    const cache = new JoinMaterialCache(
      () => (mints++, Promise.resolve({ caCertHash: HASH })),
      pino({ level: 'silent' }),
      () => now,
    );
    const init = {
      token: 'abcdef.0123456789abcdef',
      certificateKey: 'f'.repeat(64),
      caCertHash: HASH,
      tokenExpiresAt: now + 3_600_000,
      certsUploadedAt: now,
    };
    cache.remember(init);
    expect(await cache.get()).toBe(init);
    cache.forget();
    await cache.get();
    expect(mints).toBe(1);
  });
});

describe('stable command ids', () => {
  it('are the same for the same task attempt, call and args, and differ otherwise', () => {
    const id = stableCommandId(['apply-1', 'workers/w-1', 1, 0, 'w-1', 'kubeadm.state'], {});
    expect(id).toMatch(/^k[0-9a-f]{40}$/);
    expect(stableCommandId(['apply-1', 'workers/w-1', 1, 0, 'w-1', 'kubeadm.state'], {})).toBe(id);
    expect(stableCommandId(['apply-1', 'workers/w-1', 2, 0, 'w-1', 'kubeadm.state'], {})).not.toBe(id);
    expect(stableCommandId(['apply-1', 'workers/w-1', 1, 1, 'w-1', 'kubeadm.state'], {})).not.toBe(id);
    // fresh secrets in the args give a fresh id: such a command is never answered from an old run
    expect(
      stableCommandId(['apply-1', 'workers/w-1', 1, 0, 'w-1', 'kubeadm.join'], { config: 'token: a' }),
    ).not.toBe(
      stableCommandId(['apply-1', 'workers/w-1', 1, 0, 'w-1', 'kubeadm.join'], { config: 'token: b' }),
    );
  });
});
