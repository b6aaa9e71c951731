import { describe, expect, it } from 'vitest';
import type { Change, StepPlan } from '../../proto/results.js';
import { describeChange, judgeDrift } from './drift.js';

const fileChange = (path: string, previous: string | null): Change => ({
  kind: 'file',
  path,
  mode: 0o644,
  diff: '',
  previousSha256: previous,
  nextSha256: 'b'.repeat(64),
  sensitive: false,
});

describe('judgeDrift', () => {
  it('is one ok result when no step has a pending change', () => {
    expect(judgeDrift([{ stepId: 'sysctl', title: 'sysctls', changes: [] }])).toEqual([
      expect.objectContaining({ id: 'Drift', severity: 'ok' }),
    ]);
  });

  it.each([
    [
      'a changed file',
      fileChange('/etc/sysctl.d/99-kctl.conf', 'a'.repeat(64)),
      'file /etc/sysctl.d/99-kctl.conf changed',
    ],
    [
      'a removed file',
      fileChange('/etc/modules-load.d/kctl.conf', null),
      'file /etc/modules-load.d/kctl.conf missing',
    ],
    [
      'a sysctl set back',
      { kind: 'sysctl', key: 'net.ipv4.ip_forward', from: '0', to: '1' },
      'sysctl net.ipv4.ip_forward is 0, want 1',
    ],
    [
      'a module unloaded',
      { kind: 'module', name: 'br_netfilter', action: 'load', requiredFor: 'bridge' },
      'module br_netfilter not loaded',
    ],
    ['a hold released', { kind: 'package-hold', name: 'kubelet' }, 'package kubelet not held'],
    [
      'a service stopped',
      { kind: 'service', unit: 'containerd.service', action: 'start' },
      'service containerd.service needs start',
    ],
    ['swap turned on', { kind: 'swapoff', device: '/swap.img' }, 'swap on /swap.img'],
    [
      'a package changed',
      { kind: 'package', name: 'kubelet', from: '1.31.1-1.1', to: '1.31.2-1.1' },
      'package kubelet is 1.31.1-1.1, want 1.31.2-1.1',
    ],
  ] as const satisfies readonly (readonly [string, Change, string])[])(
    '%s is a warning with kctl apply as remedy',
    (_name, change, text) => {
      const plan: StepPlan[] = [
        { stepId: 'swap-off', title: 'swap off', changes: [] },
        { stepId: 'x', title: 'step x', changes: [change] },
      ];
      expect(judgeDrift(plan)).toEqual([
        {
          id: 'Drift-x',
          title: 'step x: as kctl converged it',
          severity: 'warning',
          observed: text,
          remedy: expect.stringContaining('kctl apply'),
        },
      ]);
      expect(describeChange(change)).toBe(text);
    },
  );

  it('lists at most eight changes of a step and counts the rest', () => {
    const changes = Array.from({ length: 11 }, (_, i): Change => ({ kind: 'package-hold', name: `p${i}` }));
    const [r] = judgeDrift([{ stepId: 'holds', title: 'holds', changes }]);
    expect(r!.observed).toMatch(/p7 not held and 3 more$/);
  });
});
