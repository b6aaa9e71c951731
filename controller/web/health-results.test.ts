import { afterEach, describe, expect, it } from 'vitest';
import type { HostHealth } from '../../proto/health.js';
import { SqliteStore } from '../store/sqlite-store.js';
import { sqliteAsAsyncStore } from '../store/sqlite-async-store.js';
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
      drift: [],
      certs: [],
    });
  });

  it('keeps one line per drifted change and every certificate, soonest expiry first', () => {
    const cert = (path: string, notAfter: string, severity: 'ok' | 'warning') => ({
      ...result(`CertExpiry-${path}`, severity),
      observed: `expires ${notAfter}`,
      notAfter,
    });
    const h: HostHealth = {
      host: 'a',
      worst: 'warning',
      results: [
        cert('/etc/kubernetes/pki/ca.crt', '2035-01-01T00:00:00.000Z', 'ok'),
        cert('/etc/kubernetes/pki/apiserver.crt', '2027-01-05T00:00:00.000Z', 'warning'),
        {
          id: 'Drift-sysctl',
          title: 'sysctl: as kctl converged it',
          severity: 'warning',
          observed:
            'sysctl net.ipv4.ip_forward is 0, want 1; sysctl net.bridge.bridge-nf-call-iptables is 0, want 1',
          remedy: 'kctl apply',
        },
        { ...result('Drift', 'ok'), observed: 'no difference' },
      ],
    };
    const s = summarizeHealth(h, 7);
    expect(s.drift).toEqual([
      'sysctl: sysctl net.ipv4.ip_forward is 0, want 1',
      'sysctl: sysctl net.bridge.bridge-nf-call-iptables is 0, want 1',
    ]);
    expect(s.certs).toEqual([
      { path: '/etc/kubernetes/pki/apiserver.crt', notAfter: Date.parse('2027-01-05T00:00:00.000Z') },
      { path: '/etc/kubernetes/pki/ca.crt', notAfter: Date.parse('2035-01-01T00:00:00.000Z') },
    ]);
  });

  it('keeps the newest run per host, by host name, and forgets a deleted host', async () => {
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
    await recordHealth(
      sqliteAsAsyncStore(db),
      [{ host: 'a', worst: 'warning', results: [result('Drift-file', 'warning')] }],
      1,
    );
    await recordHealth(
      sqliteAsAsyncStore(db),
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
