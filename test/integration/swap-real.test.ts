import { afterAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { existsSync, lstatSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LocalHost } from '../../agent/host/local-host.js';
import { runPreflight } from '../../agent/checks/index.js';
import { applySteps } from '../../agent/steps/converge.js';
import { swapOffStep, swapUnitName } from '../../agent/steps/swap-off.js';

const isRoot = process.getuid?.() === 0;
const haveTools = ['mkswap', 'swapon', 'swapoff'].every((p) =>
  ['/sbin', '/usr/sbin'].some((d) => existsSync(join(d, p))),
);
// the step turns off every active swap: on a machine that already swaps, it would turn that off too
const otherSwap = readFileSync('/proc/swaps', 'utf8').trim().split('\n').length > 1;
const skipReason = !isRoot
  ? 'skipped: needs root for swapon'
  : !haveTools
    ? 'skipped: needs mkswap, swapon and swapoff (util-linux)'
    : otherSwap
      ? 'skipped: this machine already has swap on, which the step would turn off'
      : 'runs as root';

const UNIT_DIR = '/etc/systemd/system';
function swapMasks(): Set<string> {
  if (!existsSync(UNIT_DIR)) return new Set();
  return new Set(
    readdirSync(UNIT_DIR).filter((n) => n.endsWith('.swap') && lstatSync(join(UNIT_DIR, n)).isSymbolicLink()),
  );
}

/** The real thing on this machine: a swap file turned on, seen by the Swap check, turned off by the step. */
describe('real swap on this machine', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kctl-swap-'));
  const file = join(dir, 'swapfile');
  const masksBefore = swapMasks();
  afterAll(() => {
    try {
      execFileSync('swapoff', [file], { stdio: 'ignore' });
    } catch {
      // already off: that is the point of the test
    }
    rmSync(dir, { recursive: true, force: true });
    // undo the masks the step made for the test's own swap file, and only those
    for (const unit of swapMasks()) {
      const path = join(UNIT_DIR, unit);
      if (!masksBefore.has(unit) && readlinkSync(path) === '/dev/null') rmSync(path);
    }
  });

  it.skipIf(skipReason !== 'runs as root')(
    `turns on a 64 MiB swap file, fails the Swap check, runs the swap step for real, and /proc/swaps is empty again (${skipReason})`,
    async () => {
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

      const step = swapOffStep();
      const planned = await step.diff(host);
      expect(planned).toContainEqual({ kind: 'swapoff', device: file });
      // masks only for the active device (none when systemd does not run here)
      for (const c of planned) if (c.kind === 'unit-mask') expect(c.unit).toMatch(/\.swap$/);
      expect(planned.filter((c) => c.kind === 'fstab-comment')).toEqual([]);

      const [report] = await applySteps(host, [step]);
      expect(report?.status).toBe('applied');
      expect(readFileSync('/proc/swaps', 'utf8').trim().split('\n')).toHaveLength(1);
      expect(await step.diff(host)).toEqual([]);
      // the file was never in fstab, and nothing there changed
      expect(readFileSync('/etc/fstab', 'utf8')).toBe(fstabBefore);
      const newMasks = [...swapMasks()].filter((u) => !masksBefore.has(u));
      expect(newMasks.every((u) => planned.some((c) => c.kind === 'unit-mask' && c.unit === u))).toBe(true);
      if (!existsSync('/run/systemd/system')) expect(newMasks).toEqual([]);
      else expect(newMasks).toContain(swapUnitName(file));
    },
  );
});
