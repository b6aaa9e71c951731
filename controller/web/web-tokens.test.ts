import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SqliteStore } from '../store/sqlite-store.js';
import { WebTokens, createWebToken } from './web-tokens.js';

describe('web tokens', () => {
  let store: SqliteStore;
  let tokens: WebTokens;
  beforeEach(() => {
    store = new SqliteStore(':memory:');
    tokens = new WebTokens(store.webTokens);
  });
  afterEach(() => store.close());

  it('shows the secret once and stores only its hash', () => {
    const t = createWebToken(store, { readOnly: true, description: 'ops' });
    expect(t.token).toMatch(/^[a-z0-9]{8}\.[a-z0-9]{32}$/);
    const secret = t.token.split('.')[1]!;
    const stored = JSON.stringify(store.webTokens.get(t.id));
    expect(stored).not.toContain(secret);
    expect(tokens.list()).toMatchObject([{ id: t.id, readOnly: true, description: 'ops', lastUsedAt: null }]);
  });

  it('mints a different token every time (CSPRNG)', () => {
    const seen = new Set(Array.from({ length: 50 }, () => tokens.create({ readOnly: false }).token));
    expect(seen.size).toBe(50);
  });

  it('verifies the right secret and records when it was used', () => {
    const t = tokens.create({ readOnly: false, now: 0 });
    expect(tokens.verify(t.token, 50)).toMatchObject({ id: t.id, readOnly: false, lastUsedAt: 50 });
    expect(tokens.list()[0]?.lastUsedAt).toBe(50);
  });

  it.each([
    ['a wrong secret', (tok: string) => tok.slice(0, 9) + 'a'.repeat(32)],
    ['an unknown id', (tok: string) => 'zzzzzzzz' + tok.slice(8)],
    ['a malformed token', () => 'not-a-token'],
    ['a bootstrap token shape', () => 'abcdef.0123456789abcdef'],
  ])('refuses %s', (_what, mangle) => {
    const t = tokens.create({ readOnly: false });
    expect(tokens.verify(mangle(t.token))).toBeUndefined();
  });

  it('refuses a token at exactly its expiry', () => {
    const t = tokens.create({ readOnly: false, ttlMs: 100, now: 0 });
    expect(tokens.verify(t.token, 99)).toBeDefined();
    expect(tokens.verify(t.token, 100)).toBeUndefined();
    expect(tokens.isValid(t.id, 100)).toBe(false);
  });

  it('refuses a revoked token and reports it invalid to its sessions', () => {
    const t = tokens.create({ readOnly: false });
    expect(tokens.isValid(t.id)).toBe(true);
    expect(tokens.revoke(t.id)).toBe(true);
    expect(tokens.revoke(t.id)).toBe(false);
    expect(tokens.verify(t.token)).toBeUndefined();
    expect(tokens.isValid(t.id)).toBe(false);
  });
});
