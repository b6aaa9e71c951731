import { describe, expect, it } from 'vitest';
import { closureTargets, parseDepends } from './closure.js';

describe('the dependency closure of a bundle', () => {
  it('parses Depends into alternatives without versions or :any', () => {
    expect(parseDepends('iptables (>= 1.4.21), iproute2, python3:any | python3-minimal (>= 3.9),  ')).toEqual(
      [['iptables'], ['iproute2'], ['python3', 'python3-minimal']],
    );
  });

  it('asks apt for what the extra .debs depend on and do not bring themselves', () => {
    const debs = [
      {
        name: 'kubelet',
        depends: 'nodejs (>= 18), iptables (>= 1.4.21), conntrack, kubernetes-cni (>= 1.1.1)',
      },
      { name: 'kubeadm', depends: 'kubelet (>= 1.19.0), kubectl (>= 1.13.0), cri-tools (>= 1.25.0)' },
      { name: 'kubectl', depends: '' },
      { name: 'cri-tools', depends: '' },
      { name: 'kubernetes-cni', depends: '' },
    ];
    expect(closureTargets(['containerd', 'runc'], debs)).toEqual([
      'containerd',
      'runc',
      'nodejs',
      'iptables',
      'conntrack',
    ]);
  });

  it('takes the first alternative of a group no extra .deb satisfies, and none of a satisfied one', () => {
    expect(
      closureTargets(
        [],
        [
          { name: 'a', depends: 'b | c, d | a-helper' },
          { name: 'a-helper', depends: '' },
        ],
      ),
    ).toEqual(['b']);
  });
});
