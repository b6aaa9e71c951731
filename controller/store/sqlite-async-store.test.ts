import { describe, expect, it } from 'vitest';
import { SqliteStore } from './sqlite-store.js';
import { sqliteAsAsyncStore } from './sqlite-async-store.js';

const host = (id: string) => ({
  id,
  name: `worker-${id}`,
  labels: {},
  state: 'active' as const,
  certSerial: '01',
  certNotAfter: 5_000,
  enrolledAt: 1_000,
});

describe('sqliteAsAsyncStore', () => {
  it('holds other callers until the transaction that spans awaits commits', async () => {
    const store = sqliteAsAsyncStore(new SqliteStore(':memory:'));
    let letGo!: () => void;
    const gate = new Promise<void>((resolve) => (letGo = resolve));
    const tx = store.transaction(async (t) => {
      await t.createHost(host('a'));
      await gate;
      await t.createHost(host('b'));
    });
    await new Promise((resolve) => setImmediate(resolve));
    // a read from outside while the transaction waits must not see half of it, nor fail
    const seen = store.listHosts().then((hosts) => hosts.map((h) => h.id));
    let settled = false;
    void seen.then(() => (settled = true));
    await new Promise((resolve) => setImmediate(resolve));
    expect(settled).toBe(false);
    letGo();
    await tx;
    expect(await seen).toEqual(['a', 'b']);
    await store.close();
  });

  it('rolls back what a transaction wrote across awaits when it throws, and lets the next one run', async () => {
    const store = sqliteAsAsyncStore(new SqliteStore(':memory:'));
    const failed = store.transaction(async (t) => {
      await t.createHost(host('a'));
      await new Promise((resolve) => setTimeout(resolve, 5));
      throw new Error('boom');
    });
    const next = store.transaction(async (t) => {
      await t.createHost(host('c'));
      return t.listHosts();
    });
    await expect(failed).rejects.toThrow('boom');
    expect((await next).map((h) => h.id)).toEqual(['c']);
    expect(await store.getHost('a')).toBeUndefined();
    await store.close();
  });

  it('turns a synchronous throw into a rejection', async () => {
    const store = sqliteAsAsyncStore(new SqliteStore(':memory:'));
    await store.createHost(host('a'));
    await expect(store.createHost(host('a'))).rejects.toThrow();
    expect(await store.applies.listApplies()).toEqual([]);
    await store.close();
  });
});
