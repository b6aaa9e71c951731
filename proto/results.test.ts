import { describe, expect, it } from 'vitest';
import { Change, planHash, type StepPlan } from './results.js';

const plan = (changes: StepPlan['changes']): StepPlan[] => [{ stepId: 'sysctl', title: 'sysctl', changes }];

describe('planHash', () => {
  it('is the same for the same plan whatever the key order', () => {
    const a = plan([{ kind: 'sysctl', key: 'net.ipv4.ip_forward', from: '0', to: '1' }]);
    const b = plan([{ to: '1', from: '0', key: 'net.ipv4.ip_forward', kind: 'sysctl' }]);
    expect(planHash(a)).toBe(planHash(b));
    expect(planHash(a)).toMatch(/^sha256:[0-9a-f]{64}$/);
  });

  it.each<[string, StepPlan['changes']]>([
    ['a different value', [{ kind: 'sysctl', key: 'net.ipv4.ip_forward', from: '0', to: '2' }]],
    ['a different current value', [{ kind: 'sysctl', key: 'net.ipv4.ip_forward', from: null, to: '1' }]],
    ['no changes', []],
  ])('changes with %s', (_what, changes) => {
    expect(planHash(plan(changes))).not.toBe(
      planHash(plan([{ kind: 'sysctl', key: 'net.ipv4.ip_forward', from: '0', to: '1' }])),
    );
  });
});

describe('Change', () => {
  it.each([
    [{ kind: 'swapoff', device: '/swapfile' }],
    [{ kind: 'unit-mask', unit: 'swapfile.swap' }],
    [{ kind: 'package', name: 'kubelet', from: null, to: '1.31.2-1.1' }],
    [
      {
        kind: 'file',
        path: '/etc/kubernetes/pki/sa.key',
        mode: 0o600,
        diff: '(content hidden: sensitive file)',
        previousSha256: null,
        nextSha256: 'ab',
        sensitive: true,
        uid: 0,
        gid: 0,
      },
    ],
  ])('accepts %j', (c) => {
    expect(Change.safeParse(c).success).toBe(true);
  });

  it.each([
    [{ kind: 'exec', command: 'rm -rf /' }],
    [{ kind: 'swapoff', device: '/swapfile', extra: true }],
    [{ kind: 'sysctl', key: 'k', to: '1' }],
  ])('rejects %j', (c) => {
    expect(Change.safeParse(c).success).toBe(false);
  });
});
