import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SqliteStore } from '../store/sqlite-store.js';
import { sqliteAsAsyncStore } from '../store/sqlite-async-store.js';
import type { HostPreflight } from '../../proto/admin-api.js';
import { recordPreflight } from './preflight-results.js';

describe('latest preflight per host', () => {
  let store: SqliteStore;
  beforeEach(() => {
    store = new SqliteStore(':memory:');
    store.createHost({
      id: 'h1',
      name: 'cp-1',
      labels: {},
      state: 'active',
      certSerial: '1',
      certNotAfter: 0,
      enrolledAt: 0,
    });
  });
  afterEach(() => store.close());

  const run = (over: Partial<HostPreflight>): HostPreflight => ({
    host: 'cp-1',
    spec: {
      role: 'control-plane',
      kubernetesVersion: 'v1.33.0',
      isFirstControlPlane: true,
      kubeProxyMode: 'iptables',
    },
    ...over,
  });
  const check = {
    id: 'Swap',
    title: 'swap',
    severity: 'error' as const,
    status: 'fail' as const,
    observed: '',
    expected: '',
    remedy: '',
  };

  it('keeps only the newest run of a host', async () => {
    await recordPreflight(sqliteAsAsyncStore(store), run({ results: [check], durationMs: 5 }), 10);
    await recordPreflight(
      sqliteAsAsyncStore(store),
      run({ error: { code: 'host_offline', message: 'offline', retryable: true } }),
      20,
    );
    const p = store.preflight.latest('h1');
    expect(p).toMatchObject({ at: 20, results: null, error: { code: 'host_offline' }, durationMs: null });
    expect(store.preflight.stamps()).toEqual(new Map([['h1', 20]]));
  });

  it('ignores a host name nobody enrolled', async () => {
    await recordPreflight(sqliteAsAsyncStore(store), run({ host: 'ghost', results: [] }), 10);
    expect(store.preflight.stamps().size).toBe(0);
  });

  it('forgets the result when the host is deleted', async () => {
    await recordPreflight(sqliteAsAsyncStore(store), run({ results: [check] }), 10);
    store.deleteHost('h1');
    expect(store.preflight.latest('h1')).toBeUndefined();
  });
});
