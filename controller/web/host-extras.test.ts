import { afterEach, describe, expect, it } from 'vitest';
import { SqliteStore } from '../store/sqlite-store.js';
import { sqliteAsAsyncStore } from '../store/sqlite-async-store.js';
import type { HostRecord } from '../store/store.js';
import { hostExtras } from './host-extras.js';
import { recordHealth } from './health-results.js';

describe('kctl hosts extras', () => {
  let store: SqliteStore | undefined;
  afterEach(() => store?.close());

  it('adds each host its last health run and last apply, null where there is none', async () => {
    const db = new SqliteStore(':memory:');
    store = db;
    for (const name of ['a', 'b']) {
      db.createHost({
        id: `id-${name}`,
        name,
        labels: {},
        state: 'active',
        certSerial: '1',
        certNotAfter: 0,
        enrolledAt: 0,
      });
    }
    const applies = db.applies;
    applies.createApply({
      id: 'ap',
      cluster: 'lab',
      planHash: 'h',
      plan: {
        phases: [
          { id: 'workers', title: 'Join workers', tasks: [{ id: 'join/a', title: 'Join a', host: 'a' }] },
        ],
      },
      now: 1,
    });
    applies.stepStarted({ applyId: 'ap', taskId: 'join/a', phase: 'workers', host: 'a', now: 2 });
    applies.stepFinished({
      applyId: 'ap',
      taskId: 'join/a',
      status: 'failed',
      now: 3,
      error: { code: 'internal', message: 'kubeadm join failed', retryable: false },
    });
    applies.finishApply('ap', 'failed', 4);
    await recordHealth(sqliteAsAsyncStore(db), [{ host: 'b', worst: 'warning', results: [] }], 9);
    const extras = await hostExtras(sqliteAsAsyncStore(db));
    const [a, b] = db.listHosts().map(extras);
    expect(a).toEqual({
      health: null,
      lastApply: { state: 'failed', phase: 'workers', step: 'Join a', at: 3 },
    });
    expect(b).toEqual({
      health: { worst: 'warning', warnings: 0, criticals: 0, findings: [], at: 9, error: null },
      lastApply: null,
    });
  });

  it('gives a host with no health run and no apply nulls', async () => {
    const db = new SqliteStore(':memory:');
    store = db;
    const h = { id: 'id-c', name: 'c' } as HostRecord;
    expect((await hostExtras(sqliteAsAsyncStore(db)))(h)).toEqual({ health: null, lastApply: null });
  });
});
