import { describe, expect, it } from 'vitest';
import type { PreflightSpec } from '../../proto/checks.js';
import type { Host } from '../host/host.js';
import {
  firewallPortsFor,
  judgeFirewalld,
  judgeSelinux,
  openTcpRanges,
  selinuxFirewalldChecks,
} from './selinux-firewalld.js';

const cp: PreflightSpec = {
  role: 'control-plane',
  kubernetesVersion: 'v1.32.0',
  isFirstControlPlane: true,
  kubeProxyMode: 'iptables',
};
const worker: PreflightSpec = { ...cp, role: 'worker', isFirstControlPlane: false };

describe('SELinux', () => {
  it.each([
    ['not in the kernel', undefined, undefined, 'pass', 'SELinux not enabled'],
    ['enforcing', '1', 'SELINUX=enforcing\n', 'fail', 'SELinux enforcing'],
    ['permissive now and at boot', '0', 'SELINUX=permissive\nSELINUXTYPE=targeted\n', 'pass', 'permissive'],
    ['permissive now, enforcing at boot', '0', '# x\nSELINUX=enforcing\n', 'fail', 'after a reboot'],
  ])('%s', (_name, enforce, config, status, observed) => {
    const r = judgeSelinux(enforce, config);
    expect(r.status).toBe(status);
    expect(r.observed).toContain(observed);
    if (status === 'fail') expect(r.remedy).toContain('setenforce 0');
  });
});

describe('Firewalld', () => {
  it('reads firewall-cmd --list-ports ranges, tcp only', () => {
    expect(openTcpRanges('6443/tcp 2379-2380/tcp 8472/udp  10250/tcp\n')).toEqual([
      [6443, 6443],
      [2379, 2380],
      [10250, 10250],
    ]);
  });

  it('passes when firewalld is not active, and when every port of the role is open', () => {
    expect(judgeFirewalld(firewallPortsFor(cp), undefined).status).toBe('pass');
    expect(
      judgeFirewalld(firewallPortsFor(cp), '6443/tcp 2379-2380/tcp 10250/tcp 10257/tcp 10259/tcp').status,
    ).toBe('pass');
    expect(judgeFirewalld(firewallPortsFor(worker), '10250/tcp 30000-32767/tcp').status).toBe('pass');
  });

  it('names each closed port with its purpose and the firewall-cmd lines that open it', () => {
    const r = judgeFirewalld(firewallPortsFor({ ...cp, apiServerPort: 8443 }), '6443/tcp 2379/tcp 10250/tcp');
    expect(r.status).toBe('fail');
    expect(r.observed).toBe(
      'firewalld active; not in firewall-cmd --list-ports: 8443/tcp (kube-apiserver), 2379-2380/tcp (etcd client and peer), 10257/tcp (kube-controller-manager), 10259/tcp (kube-scheduler)',
    );
    expect(r.remedy).toMatch(/^firewall-cmd --permanent --add-port=8443\/tcp && .* && firewall-cmd --reload/);
    // a worker's NodePort range open only in part is not open
    expect(judgeFirewalld(firewallPortsFor(worker), '10250/tcp 30000-31000/tcp').observed).toContain(
      '30000-32767/tcp (NodePort services)',
    );
  });

  it('asks systemd, then firewall-cmd, through the Host (argv, no shell)', async () => {
    const calls: string[][] = [];
    const host = {
      exists: (p: string) => Promise.resolve(p === '/run/systemd/system'),
      which: (p: string) => Promise.resolve(`/usr/bin/${p}`),
      readFile: () => Promise.resolve(undefined),
      run: (program: string, args: readonly string[]) => {
        calls.push([program, ...args]);
        return Promise.resolve({
          exitCode: 0,
          stdout: program === 'systemctl' ? 'active\n' : '10250/tcp\n',
          stderr: '',
        });
      },
    } as unknown as Host;
    const [, firewalld] = selinuxFirewalldChecks(worker);
    const r = await firewalld!.run({ host } as never);
    expect(calls).toEqual([
      ['systemctl', 'is-active', 'firewalld.service'],
      ['firewall-cmd', '--list-ports'],
    ]);
    expect(r.status).toBe('fail');
    expect(r.observed).toContain('30000-32767/tcp');
  });
});
