import { afterEach, describe, expect, it } from 'vitest';
import type { HostHealth } from '../../proto/health.js';
import { SqliteStore } from '../store/sqlite-store.js';
import { recordHealth, summarizeHealth } from './health-results.js';

const result = (id: string, severity: 'ok' | 'warning' | 'critical') => ({
  id,
  title: id,
  severity,
  observed: '',
  remedy: '',
});

describe('health results for the fleet page', () => {
  let store: SqliteStore | undefined;
  afterEach(() => store?.close());

  it('counts a run by severity and names what is not ok, criticals first', () => {
    const h: HostHealth = {
      host: 'a',
      worst: 'critical',
      results: [
        result('Drift-sysctl', 'warning'),
        result('Swap', 'critical'),
        result('Service-kubelet.service', 'ok'),
      ],
    };
    expect(summarizeHealth(h, 7)).toEqual({
      worst: 'critical',
      warnings: 1,
      criticals: 1,
      findings: ['Swap', 'Drift-sysctl'],
      at: 7,
      error: null,
    });
  });

  it('keeps the newest run per host, by host name, and forgets a deleted host', () => {
    const db = new SqliteStore(':memory:');
    store = db;
    for (const id of ['a', 'b']) {
      db.createHost({
        id: `id-${id}`,
        name: id,
        labels: {},
        state: 'active',
        certSerial: '1',
        certNotAfter: 0,
        enrolledAt: 0,
      });
    }
    recordHealth(db, [{ host: 'a', worst: 'warning', results: [result('Drift-file', 'warning')] }], 1);
    recordHealth(
      db,
      [
        { host: 'a', worst: 'ok', results: [result('Swap', 'ok')] },
        {
          host: 'b',
          worst: 'critical',
          results: [],
          error: { code: 'host_offline', message: 'host "b" is offline', retryable: true },
        },
        { host: 'unknown', worst: 'ok', results: [] },
      ],
      2,
    );
    const all = db.health.all();
    expect(all.get('id-a')).toMatchObject({ worst: 'ok', warnings: 0, at: 2, findings: [] });
    expect(all.get('id-b')).toMatchObject({ worst: 'critical', error: 'host "b" is offline' });
    expect(all.size).toBe(2);
    db.deleteHost('id-b');
    expect(db.health.all().has('id-b')).toBe(false);
  });
});
