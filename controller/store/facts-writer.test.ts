import { afterEach, describe, expect, it, vi } from 'vitest';
import { pino } from 'pino';
import type { HostFacts } from '../../proto/facts.js';
import { SqliteStore } from './sqlite-store.js';
import { sqliteAsAsyncStore } from './sqlite-async-store.js';
import type { AsyncStore } from './store.js';
import { FactsWriter, mergeFacts } from './facts-writer.js';

const FACTS: HostFacts = {
  hostname: 'h1',
  machineId: 'm',
  productUuid: 'u',
  macs: [],
  ips: [],
  os: { id: 'debian', versionId: '12', prettyName: 'Debian' },
  kernel: '6.1',
  arch: 'amd64',
  cpus: 2,
  memoryBytes: 1,
  cgroupVersion: 2,
  kubeletVersion: 'v1.31.2',
};

describe('facts writer', () => {
  const log = pino({ level: 'silent' });
  let store: SqliteStore;
  let asyncStore: AsyncStore;
  const setup = (): FactsWriter => {
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
      store.recordHostSeen(id, { at: 1, ip: '127.0.0.9', facts: FACTS });
    }
    asyncStore = sqliteAsAsyncStore(store);
    return new FactsWriter({ store: asyncStore, log, flushEveryMs: 1000 });
  };
  afterEach(() => {
    vi.useRealTimers();
    store.close();
  });

  it('writes nothing until the flush, then the newest facts of every host in one transaction', async () => {
    vi.useFakeTimers();
    const writer = setup();
    const transaction = vi.spyOn(asyncStore, 'transaction');
    const run = vi.spyOn(store, 'recordHostSeen');
    writer.note('h1', { ...FACTS, kernel: '6.2' }, 100);
    writer.note('h1', { ...FACTS, kernel: '6.3' }, 150);
    writer.note('h2', { ...FACTS, cpus: 8 }, 200);
    expect(store.getHost('h1')?.facts?.kernel).toBe('6.1');
    await vi.advanceTimersByTimeAsync(1000);
    expect(transaction).toHaveBeenCalledTimes(1);
    expect(run).toHaveBeenCalledTimes(2);
    expect(store.getHost('h1')).toMatchObject({ lastIp: '127.0.0.9', lastSeenAt: 150 });
    expect(store.getHost('h1')?.facts?.kernel).toBe('6.3');
    expect(store.getHost('h2')?.facts?.cpus).toBe(8);
  });

  it('forgets a host whose hello was just written, and survives a failing store', async () => {
    const writer = setup();
    writer.note('h1', { ...FACTS, kernel: 'old' }, 100);
    writer.forget('h1');
    await writer.flush();
    expect(store.getHost('h1')?.facts?.kernel).toBe('6.1');
    writer.note('h2', FACTS, 100);
    vi.spyOn(asyncStore, 'transaction').mockRejectedValue(new Error('disk full'));
    await expect(writer.flush()).resolves.toBeUndefined();
  });

  it('merges changed keys and drops removed ones', () => {
    expect(mergeFacts(FACTS, { kernel: '6.9' }, ['kubeletVersion'])).toEqual({
      ...Object.fromEntries(Object.entries(FACTS).filter(([k]) => k !== 'kubeletVersion')),
      kernel: '6.9',
    });
  });
});
