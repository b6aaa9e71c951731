import { afterEach, describe, expect, it } from 'vitest';
import { tempHost, type TempHost } from '../../test/fixtures/temp-host.js';
import { HEALTH_CHECKS, runHealth } from './index.js';
import type { HealthCheck } from './health-check.js';

describe('runHealth', () => {
  let t: TempHost | undefined;
  afterEach(() => t?.cleanup());

  it('turns a check that throws into a warning naming the check, and keeps the others', async () => {
    t = await tempHost();
    const broken: HealthCheck = { id: 'Broken', run: () => Promise.reject(new Error('cannot read /proc/x')) };
    const fine: HealthCheck = {
      id: 'Fine',
      run: () => Promise.resolve([{ id: 'Fine', title: 'fine', severity: 'ok', observed: 'ok', remedy: '' }]),
    };
    const results = await runHealth({ host: t.host, now: () => 0 }, [broken, fine]);
    expect(results).toEqual([
      expect.objectContaining({
        id: 'Broken',
        severity: 'warning',
        observed: expect.stringContaining('cannot read /proc/x'),
      }),
      expect.objectContaining({ id: 'Fine', severity: 'ok' }),
    ]);
  });

  it('on a host root with the services active and no swap: every check ok, no drift check without a spec', async () => {
    t = await tempHost({
      files: { '/proc/swaps': 'Filename Type Size Used Priority\n' },
      programs: { systemctl: { exitCode: 0, stdout: 'active\n' } },
    });
    const results = await runHealth({ host: t.host, now: () => Date.now() }, HEALTH_CHECKS);
    expect(results.filter((r) => r.severity !== 'ok')).toEqual([]);
    expect(results.map((r) => r.id)).toEqual([
      'Service-containerd.service',
      'Service-kubelet.service',
      'Service-kctl-agent.service',
      'Swap',
      'ClockOffset',
    ]);
  });

  it('reports a unit systemd does not know as not installed', async () => {
    t = await tempHost({ programs: { systemctl: { exitCode: 4, stdout: 'not-found\n' } } });
    const results = await runHealth({ host: t.host, now: () => 0 }, HEALTH_CHECKS.slice(0, 1));
    expect(results.every((r) => r.severity === 'critical' && r.observed.includes('not installed'))).toBe(
      true,
    );
  });
});
