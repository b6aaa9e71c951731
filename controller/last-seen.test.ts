import { afterEach, describe, expect, it, vi } from 'vitest';
import { pino } from 'pino';
import { SqliteStore } from './store/sqlite-store.js';
import { sqliteAsAsyncStore } from './store/sqlite-async-store.js';
import type { AsyncStore } from './store/store.js';
import { LastSeenWriter, directSeenRecorder } from './last-seen.js';

describe('last-seen writer', () => {
  const log = pino({ level: 'silent' });
  let store: SqliteStore;
  /** what the writer is given: the same database as an AsyncStore */
  let asyncStore: AsyncStore;
  const setup = (): LastSeenWriter => {
    store = new SqliteStore(':memory:');
    for (const id of ['h1', 'h2']) {
      store.createHost({
        id,
        name: id,
        labels: {},
        state: 'active',
        certSerial: '01',
        certNotAfter: 0,
        enrolledAt: 0,
      });
    }
    asyncStore = sqliteAsAsyncStore(store);
    return new LastSeenWriter({ store: asyncStore, log, flushEveryMs: 1000 });
  };
  afterEach(() => {
    vi.useRealTimers();
    store.close();
  });

  it('writes nothing until the flush, then every noted host in one transaction', async () => {
    vi.useFakeTimers();
    const writer = setup();
    const transaction = vi.spyOn(asyncStore, 'transaction');
    writer.note('h1', 100, '127.0.0.2');
    writer.note('h2', 200, '127.0.0.3');
    expect(store.getHost('h1')?.lastSeenAt).toBeNull();
    await vi.advanceTimersByTimeAsync(1000);
    expect(transaction).toHaveBeenCalledTimes(1);
    expect(store.getHost('h1')).toMatchObject({ lastSeenAt: 100, lastIp: '127.0.0.2' });
    expect(store.getHost('h2')).toMatchObject({ lastSeenAt: 200, lastIp: '127.0.0.3' });
    expect(writer.pendingCount()).toBe(0);
  });

  it('keeps the latest time and the last known address when a host is noted twice', async () => {
    const writer = setup();
    writer.note('h1', 300, '127.0.0.2');
    writer.note('h1', 250, null);
    await writer.flush();
    expect(store.getHost('h1')).toMatchObject({ lastSeenAt: 300, lastIp: '127.0.0.2' });
  });

  it('forgets a host whose row was written directly, and survives a failing store', async () => {
    const writer = setup();
    writer.note('h1', 100, null);
    writer.forget('h1');
    await writer.flush();
    expect(store.getHost('h1')?.lastSeenAt).toBeNull();
    writer.note('h2', 100, null);
    vi.spyOn(asyncStore, 'transaction').mockRejectedValue(new Error('disk full'));
    await expect(writer.flush()).resolves.toBeUndefined();
    expect(writer.pendingCount()).toBe(0);
  });

  it('the direct recorder writes at once (endpoints built without the writer)', () => {
    setup();
    directSeenRecorder(asyncStore).note('h1', 500, '127.0.0.9');
    expect(store.getHost('h1')).toMatchObject({ lastSeenAt: 500, lastIp: '127.0.0.9' });
  });
});
