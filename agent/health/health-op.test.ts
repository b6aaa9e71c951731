import { afterEach, describe, expect, it } from 'vitest';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pino } from 'pino';
import { HostSpec } from '../../proto/host-spec.js';
import { tempHost, type TempHost } from '../../test/fixtures/temp-host.js';
import { hostOps } from '../ops/host-ops.js';
import type { OpContext } from '../ops/registry.js';
import { makeHealthOps } from './health-op.js';

const swapsHeader = 'Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n';

describe('health.run', () => {
  let t: TempHost | undefined;
  afterEach(async () => {
    await t?.cleanup();
    t = undefined;
  });
  const ctx = (host: TempHost['host']): OpContext => ({
    host,
    hostId: 'h',
    log: pino({ level: 'silent' }),
    signal: new AbortController().signal,
    progress: () => undefined,
  });

  it('finds no drift right after host.apply, then the sysctl file and value changed on the host', async () => {
    t = await tempHost({
      files: { '/proc/sys/net/ipv4/ip_forward': '0\n', '/proc/swaps': swapsHeader },
      programs: { systemctl: { exitCode: 0, stdout: 'active\n' } },
    });
    const spec = HostSpec.parse({
      hostName: 'w-1',
      role: 'worker',
      kubernetesVersion: 'v1.31.2',
      kubeProxyMode: 'iptables',
      sysctls: { 'net.ipv4.ip_forward': '1' },
    });
    await hostOps['host.apply'].run({ spec }, ctx(t.host));
    const health = makeHealthOps({ clockOffset: () => ({ offsetMs: 45_000, uncertaintyMs: 1 }) })[
      'health.run'
    ];

    const before = await health.run({ spec }, ctx(t.host));
    expect(before.results.filter((r) => r.severity !== 'ok').map((r) => r.id)).toEqual(['ClockOffset']);
    expect(before.results.find((r) => r.id === 'Drift')).toMatchObject({ severity: 'ok' });

    await writeFile(join(t.root, 'proc/sys/net/ipv4/ip_forward'), '0\n');
    await writeFile(join(t.root, 'etc/sysctl.d/99-kctl.conf'), '# edited by hand\n');
    const after = await health.run({ spec }, ctx(t.host));
    expect(after.results.find((r) => r.id === 'Drift-sysctl')).toMatchObject({
      severity: 'warning',
      observed: 'sysctl net.ipv4.ip_forward is 0, want 1; file /etc/sysctl.d/99-kctl.conf changed',
    });
  });
});
