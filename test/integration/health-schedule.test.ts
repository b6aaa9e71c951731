import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { HostList } from '../../proto/admin-api.js';
import { kctl, waitFor } from './harness.js';
import { startLab, type Lab } from './ha-lab.js';

/**
 * Issue 13: health on a schedule, not only on demand. After a converged apply the controller checks
 * every host of the applied cluster every healthIntervalMs (2 s here) against the spec it converged
 * to; drift put on one host (a sysctl kctl manages changed, the sysctl file kctl wrote edited) shows
 * in `kctl hosts` (and the fleet page, same record) within a few intervals, without anyone running
 * `kctl health`; `kctl plan` shows the repair and `kctl apply` makes the finding go away.
 */
describe('scheduled health judges drift against the applied spec', () => {
  let lab: Lab;
  const INTERVAL_MS = 2000;
  const hostView = async (name: string) =>
    (await lab.controller.api.get('/v1/admin/hosts', HostList)).hosts.find((h) => h.name === name);

  beforeAll(async () => {
    lab = await startLab({ controllerSettings: { healthIntervalMs: INTERVAL_MS } });
    const apply = await kctl(['apply', '-f', lab.clusterFile], { env: lab.env });
    expect(apply.code, apply.stdout + apply.stderr).toBe(0);
    await lab.startKubelets();
  }, 300_000);
  afterAll(() => lab?.close());

  it(
    'every host gets a health record without kctl health, and drift on cp-2 is named within a few intervals',
    { timeout: 180_000 },
    async () => {
      await waitFor(
        'a scheduled health record on every host',
        async () => {
          const { hosts } = await lab.controller.api.get('/v1/admin/hosts', HostList);
          return (
            hosts.length === lab.hosts.length &&
            hosts.every((h) => h.health !== undefined && h.health !== null)
          );
        },
        60_000,
      );
      const before = await hostView('cp-2');
      expect((before?.health?.findings ?? []).filter((f) => f.startsWith('Drift-'))).toEqual([]);

      const root = lab.agents.find((a) => a.name === 'cp-2')?.hostRoot ?? '';
      const sysctlFile = join(root, 'etc/sysctl.d/99-kctl.conf');
      await writeFile(sysctlFile, `${await readFile(sysctlFile, 'utf8')}# edited by hand\n`);
      await writeFile(join(root, 'proc/sys/net/ipv4/ip_forward'), '0\n');
      const edited = Date.now();

      const drift = await waitFor(
        'drift on cp-2 in its scheduled health',
        async () => {
          const h = await hostView('cp-2');
          const found = (h?.health?.findings ?? []).filter((f) => f.startsWith('Drift-')) ?? [];
          return (h?.health?.at ?? 0) > edited && found.length > 0 ? found : undefined;
        },
        10 * INTERVAL_MS + 30_000,
      );
      expect(drift.join(' ')).toMatch(/Drift-sysctl/);
      expect((await hostView('cp-2'))?.health?.worst).not.toBe('ok');
      // only cp-2 drifted
      expect(
        ((await hostView('cp-3'))?.health?.findings ?? []).filter((f) => f.startsWith('Drift-')),
      ).toEqual([]);

      const plan = await kctl(['plan', '-f', lab.clusterFile], { env: lab.env });
      expect(plan.stdout).toMatch(/cp-2[\s\S]*net\.ipv4\.ip_forward/);
      const repair = await kctl(['apply', '-f', lab.clusterFile], { env: lab.env });
      expect(repair.code, repair.stdout + repair.stderr).toBe(0);
      const repaired = Date.now();
      await waitFor(
        'the drift gone from cp-2 after the repair',
        async () => {
          const h = await hostView('cp-2');
          return (
            (h?.health?.at ?? 0) > repaired &&
            !(h?.health?.findings ?? []).some((f) => f.startsWith('Drift-'))
          );
        },
        10 * INTERVAL_MS + 30_000,
      );
    },
  );
});
