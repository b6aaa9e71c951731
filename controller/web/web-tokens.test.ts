import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SqliteStore } from '../store/sqlite-store.js';
import { sqliteAsAsyncStore } from '../store/sqlite-async-store.js';
import type { AsyncStore } from '../store/store.js';
import { WebTokens, createWebToken } from './web-tokens.js';

describe('web tokens', () => {
  let store: AsyncStore;
  let tokens: WebTokens;
  beforeEach(() => {
    store = sqliteAsAsyncStore(new SqliteStore(':memory:'));
    tokens = new WebTokens(store.webTokens);
  });
  afterEach(() => store.close());

  it('shows the secret once and stores only its hash', async () => {
    const t = await createWebToken(store, { readOnly: true, description: 'ops' });
    expect(t.token).toMatch(/^[a-z0-9]{8}\.[a-z0-9]{32}$/);
    const secret = t.token.split('.')[1]!;
    const stored = JSON.stringify(await store.webTokens.get(t.id));
    expect(stored).not.toContain(secret);
    expect(await tokens.list()).toMatchObject([
      { id: t.id, readOnly: true, description: 'ops', lastUsedAt: null },
    ]);
  });

  it('mints a different token every time (CSPRNG)', async () => {
    const made = await Promise.all(Array.from({ length: 50 }, () => tokens.create({ readOnly: false })));
    expect(new Set(made.map((t) => t.token)).size).toBe(50);
  });

  it('verifies the right secret and records when it was used', async () => {
    const t = await tokens.create({ readOnly: false, now: 0 });
    expect(await tokens.verify(t.token, 50)).toMatchObject({ id: t.id, readOnly: false, lastUsedAt: 50 });
    expect((await tokens.list())[0]?.lastUsedAt).toBe(50);
  });

  it.each([
    ['a wrong secret', (tok: string) => tok.slice(0, 9) + 'a'.repeat(32)],
    ['an unknown id', (tok: string) => 'zzzzzzzz' + tok.slice(8)],
    ['a malformed token', () => 'not-a-token'],
    ['a bootstrap token shape', () => 'abcdef.0123456789abcdef'],
  ])('refuses %s', async (_what, mangle) => {
    const t = await tokens.create({ readOnly: false });
    expect(await tokens.verify(mangle(t.token))).toBeUndefined();
  });

  it('refuses a token at exactly its expiry', async () => {
    const t = await tokens.create({ readOnly: false, ttlMs: 100, now: 0 });
    expect(await tokens.verify(t.token, 99)).toBeDefined();
    expect(await tokens.verify(t.token, 100)).toBeUndefined();
    expect(await tokens.isValid(t.id, 100)).toBe(false);
  });

  it('refuses a revoked token and reports it invalid to its sessions', async () => {
    const t = await tokens.create({ readOnly: false });
    expect(await tokens.isValid(t.id)).toBe(true);
    expect(await tokens.revoke(t.id)).toBe(true);
    expect(await tokens.revoke(t.id)).toBe(false);
    expect(await tokens.verify(t.token)).toBeUndefined();
    expect(await tokens.isValid(t.id)).toBe(false);
  });
});
