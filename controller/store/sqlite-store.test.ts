import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { SqliteStore } from './sqlite-store.js';
import { MIGRATIONS } from './migrations.js';
import type { TokenRecord } from './store.js';

describe('sqlite store', () => {
  let dir: string;
  let store: SqliteStore;
  const token = (over: Partial<TokenRecord> = {}): TokenRecord => ({
    id: 'abcdef',
    secretHash: 'hash',
    createdAt: 0,
    expiresAt: 1000,
    usesTotal: 2,
    usesLeft: 2,
    labels: { role: 'worker' },
    description: '',
    ...over,
  });

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kctl-store-'));
    store = new SqliteStore(join(dir, 'state.db'));
  });
  afterEach(async () => {
    store.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('creates the database file with mode 0600 (S19)', async () => {
    expect((await stat(join(dir, 'state.db'))).mode & 0o777).toBe(0o600);
  });

  it('records the schema version and migrates an older database forward', () => {
    expect(store.schemaVersion()).toBe(MIGRATIONS.length);
    store.close();
    store = new SqliteStore(join(dir, 'state.db'));
    expect(store.schemaVersion()).toBe(MIGRATIONS.length);
  });

  it('refuses a database newer than this controller', () => {
    store.close();
    const db = new Database(join(dir, 'state.db'));
    db.pragma(`user_version = ${MIGRATIONS.length + 1}`);
    db.close();
    expect(() => new SqliteStore(join(dir, 'state.db'))).toThrow(/newer than this controller/);
    store = new SqliteStore(':memory:');
  });

  it.each([
    ['a wrong secret', () => false, 10, 'mismatch'],
    ['an expired token, at exactly its expiry', () => true, 1000, 'expired'],
  ])('refuses %s without taking a use', (_what, verify, now, reason) => {
    store.createToken(token());
    expect(store.useToken('abcdef', verify, now)).toEqual({ ok: false, reason });
    expect(store.listTokens()[0]?.usesLeft).toBe(2);
  });

  it('takes one use per enrollment and refuses when exhausted', () => {
    store.createToken(token());
    expect(store.useToken('abcdef', () => true, 10).ok).toBe(true);
    expect(store.useToken('abcdef', () => true, 10).ok).toBe(true);
    expect(store.useToken('abcdef', () => true, 10)).toEqual({ ok: false, reason: 'exhausted' });
    store.refundToken('abcdef');
    expect(store.useToken('abcdef', () => true, 10).ok).toBe(true);
  });

  it('refuses an unknown token', () => {
    expect(store.useToken('zzzzzz', () => true, 10)).toEqual({ ok: false, reason: 'unknown' });
  });

  it('keeps the audit trail append-only (S21)', () => {
    store.audit({ actor: 'admin:admin', action: 'token.create', target: 'abcdef', details: { uses: 1 } });
    expect(store.listAudit(10)).toMatchObject([
      { actor: 'admin:admin', action: 'token.create', details: { uses: 1 } },
    ]);
    expect(() => store.database.prepare('DELETE FROM audit').run()).toThrow(/append-only/);
    expect(() => store.database.prepare(`UPDATE audit SET actor = 'x'`).run()).toThrow(/append-only/);
  });

  it('stores hosts with unique names and revokes them once', () => {
    const host = {
      id: 'h1',
      name: 'cp-1',
      labels: {},
      state: 'active' as const,
      certSerial: '01',
      certNotAfter: 5,
      enrolledAt: 1,
    };
    store.createHost(host);
    expect(() => store.createHost({ ...host, id: 'h2' })).toThrow(/UNIQUE/);
    expect(store.revokeHost('h1', 9)).toBe(true);
    expect(store.revokeHost('h1', 10)).toBe(false);
    expect(store.getHostByName('cp-1')).toMatchObject({ state: 'revoked', revokedAt: 9 });
  });

  it("reads a host's name and state alone, as the check before each command does", () => {
    store.createHost({
      id: 'h1',
      name: 'cp-1',
      labels: { role: 'cp' },
      state: 'active',
      certSerial: '01',
      certNotAfter: 5,
      enrolledAt: 1,
    });
    expect(store.getHostState('h1')).toEqual({ name: 'cp-1', state: 'active', certSerial: '01' });
    store.revokeHost('h1', 9);
    expect(store.getHostState('h1')).toEqual({ name: 'cp-1', state: 'revoked', certSerial: '01' });
    expect(store.getHostState('nope')).toBeUndefined();
  });
});
