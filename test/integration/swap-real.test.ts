import { afterAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LocalHost } from '../../agent/host/local-host.js';
import { runPreflight } from '../../agent/checks/index.js';
import { applySteps } from '../../agent/steps/converge.js';
import { swapOffStep } from '../../agent/steps/swap-off.js';

const isRoot = process.getuid?.() === 0;
const haveTools = ['/sbin/mkswap', '/sbin/swapon', '/sbin/swapoff'].every(
  (p) => existsSync(p) || existsSync(p.replace('/sbin', '/usr/sbin')),
);

/** The real thing on this machine: a swap file turned on, seen by the Swap check, turned off by the step. */
describe.skipIf(!isRoot || !haveTools)(
  `real swap on this machine (needs root and util-linux; root=${isRoot})`,
  () => {
    const dir = mkdtempSync(join(tmpdir(), 'kctl-swap-'));
    const file = join(dir, 'swapfile');
    afterAll(() => {
      try {
        execFileSync('swapoff', [file], { stdio: 'ignore' });
      } catch {
        // already off: that is the point of the test
      }
      rmSync(dir, { recursive: true, force: true });
    });

    it('turns on a swap file, fails the Swap check, runs the swap step for real, and /proc/swaps is empty again', async () => {
      const fstabBefore = readFileSync('/etc/fstab', 'utf8');
      execFileSync('dd', ['if=/dev/zero', `of=${file}`, 'bs=1M', 'count=64', 'status=none']);
      execFileSync('chmod', ['600', file]);
      execFileSync('mkswap', [file], { stdio: 'ignore' });
      execFileSync('swapon', [file]);
      expect(readFileSync('/proc/swaps', 'utf8')).toContain(file);

      const host = new LocalHost({ root: '/' });
      const results = await runPreflight(host, {
        role: 'worker',
        kubernetesVersion: 'v1.33.0',
        isFirstControlPlane: false,
        kubeProxyMode: 'iptables',
      });
      const swap = results.find((r) => r.id === 'Swap');
      expect(swap?.status).toMatch(/warn|fail/);
      expect(swap?.observed).toContain(file);

      const [report] = await applySteps(host, [swapOffStep()]);
      expect(report?.status).toBe('applied');
      expect(readFileSync('/proc/swaps', 'utf8').trim().split('\n')).toHaveLength(1);
      // the file was never in fstab, and nothing else there changed
      expect(readFileSync('/etc/fstab', 'utf8')).toBe(fstabBefore);
    });
  },
);
