import { describe, expect, it, vi } from 'vitest';
import { SqliteStore } from './sqlite-store.js';
import { sqliteAsAsyncStore } from './sqlite-async-store.js';
import { HostStateCache } from './host-state-cache.js';

const host = (id: string, certSerial = '01') => ({
  id,
  name: `node-${id}`,
  labels: {},
  state: 'active' as const,
  certSerial,
  certNotAfter: 5_000,
  enrolledAt: 1_000,
});

async function setup() {
  const sqlite = new SqliteStore(':memory:');
  sqlite.createHost(host('a'));
  const base = sqliteAsAsyncStore(sqlite);
  const cache = await HostStateCache.load(base);
  return { sqlite, base, cache, store: cache.track() };
}

describe('HostStateCache', () => {
  it('answers a host standing from memory: no store read per check', async () => {
    const { base, cache } = await setup();
    const read = vi.spyOn(base, 'getHostState');
    for (let i = 0; i < 100; i++)
      expect(cache.getHostState('a')).toEqual({ name: 'node-a', state: 'active', certSerial: '01' });
    expect(read).not.toHaveBeenCalled();
  });

  it('follows rotation, revocation and deletion written through the tracked store', async () => {
    const { cache, store } = await setup();
    await store.setHostCertificate('a', '02', 9_000);
    expect(cache.getHostState('a')?.certSerial).toBe('02');
    await store.revokeHost('a', 10);
    expect(cache.getHostState('a')?.state).toBe('revoked');
    await store.deleteHost('a');
    expect(cache.getHostState('a')).toBeUndefined();
  });

  it('sees a host created in a transaction only once it committed, and never one rolled back', async () => {
    const { cache, store } = await setup();
    let inside: unknown = 'unset';
    await store.transaction(async (tx) => {
      await tx.createHost(host('b'));
      inside = cache.getHostState('b');
    });
    expect(inside).toBeUndefined();
    expect(cache.getHostState('b')).toEqual({ name: 'node-b', state: 'active', certSerial: '01' });
    await expect(
      store.transaction(async (tx) => {
        await tx.createHost(host('c'));
        throw new Error('rolled back');
      }),
    ).rejects.toThrow('rolled back');
    expect(cache.getHostState('c')).toBeUndefined();
  });

  it('does not see writes made around it (why main.ts writes only through track())', async () => {
    const { sqlite, cache } = await setup();
    sqlite.createHost(host('d'));
    expect(cache.getHostState('d')).toBeUndefined();
    await cache.refresh('d');
    expect(cache.getHostState('d')?.name).toBe('node-d');
  });
});
