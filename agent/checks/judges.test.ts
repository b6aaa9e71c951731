import { describe, expect, it } from 'vitest';
import { judgeCpus, judgeMemory } from './cpu-mem.js';
import { judgePort } from './ports.js';
import { judgeDirAvailable, judgeFileAvailable } from './files.js';
import { judgeSwap } from './swap.js';
import { judgeSysctlIsOne } from './forwarding.js';
import { judgeBinary } from './binaries.js';
import { judgeCriSockets } from './cri.js';
import { judgeKubeletVersion } from './kubelet-version.js';
import { isValidNodeName, judgeHostname, namesInHostsFile } from './hostname.js';
import { judgeRoot } from './root.js';
import { judgeMachineId, judgeProductUuid } from './identity.js';
import { activeUnits, judgeTimeSync } from './time-sync.js';
import { judgeNameservers } from './resolv-conf.js';
import { judgeFreeDisk } from './disk.js';

const GiB = 1024 ** 3;

describe('judges of simple checks', () => {
  it.each([
    ['root', judgeRoot(0), 'pass'],
    ['uid 1000', judgeRoot(1000), 'fail'],
    ['2 CPUs', judgeCpus(2), 'pass'],
    ['1 CPU', judgeCpus(1), 'fail'],
    ['1700 MB', judgeMemory(1700 * 1024 * 1024), 'pass'],
    ['1699 MB', judgeMemory(1699 * 1024 * 1024), 'fail'],
    ['a free port', judgePort(6443, 'kube-apiserver', [], true), 'pass'],
    [
      'a port with a listener',
      judgePort(6443, 'kube-apiserver', [{ family: 6, address: '::', port: 6443 }], true),
      'fail',
    ],
    [
      'a port that cannot be bound',
      judgePort(6443, 'kube-apiserver', [{ family: 4, address: '0.0.0.0', port: 22 }], false),
      'fail',
    ],
    ['an absent file', judgeFileAvailable('/etc/kubernetes/kubelet.conf', false), 'pass'],
    ['a present file', judgeFileAvailable('/etc/kubernetes/kubelet.conf', true), 'fail'],
    ['an absent directory', judgeDirAvailable('/var/lib/etcd', undefined), 'pass'],
    ['an empty directory', judgeDirAvailable('/var/lib/etcd', []), 'pass'],
    ['a directory with entries', judgeDirAvailable('/var/lib/etcd', ['member']), 'fail'],
    ['no swap', judgeSwap([]), 'pass'],
    [
      'a swap file',
      judgeSwap([{ filename: '/swapfile', type: 'file', sizeKiB: 1024, usedKiB: 0, priority: -2 }]),
      'fail',
    ],
    ['ip_forward 1', judgeSysctlIsOne('net.ipv4.ip_forward', '1', 'r'), 'pass'],
    ['ip_forward 0', judgeSysctlIsOne('net.ipv4.ip_forward', '0', 'r'), 'fail'],
    [
      'a missing bridge sysctl',
      judgeSysctlIsOne('net.bridge.bridge-nf-call-iptables', undefined, 'r'),
      'fail',
    ],
    ['a binary on PATH', judgeBinary('ip', '/usr/sbin/ip', 'iproute2'), 'pass'],
    ['a binary not on PATH', judgeBinary('socat', undefined, 'socat'), 'fail'],
    [
      'one CRI socket',
      judgeCriSockets(['unix:///var/run/containerd/containerd.sock'], undefined, false),
      'pass',
    ],
    ['no CRI socket', judgeCriSockets([], undefined, false), 'fail'],
    ['two CRI sockets', judgeCriSockets(['unix:///a.sock', 'unix:///b.sock'], undefined, false), 'fail'],
    ['a configured CRI socket present', judgeCriSockets([], 'unix:///run/crio/crio.sock', true), 'pass'],
    [
      'a configured CRI socket absent',
      judgeCriSockets(['unix:///x.sock'], 'unix:///run/crio/crio.sock', false),
      'fail',
    ],
    ['a product_uuid', judgeProductUuid('4C4C4544-0042-3510-8052-B4C04F384833'), 'pass'],
    ['no product_uuid', judgeProductUuid(''), 'fail'],
    ['a machine-id', judgeMachineId('3d1219c7c4c5404aaa1f6d2a48adfda4'), 'pass'],
    ['an uninitialized machine-id', judgeMachineId('uninitialized'), 'fail'],
    ['the timesyncd flag', judgeTimeSync(['/run/systemd/timesync/synchronized present']), 'pass'],
    ['an active chronyd', judgeTimeSync(['chronyd active']), 'pass'],
    ['no time sync', judgeTimeSync([]), 'fail'],
    ['a nameserver', judgeNameservers('search lan\nnameserver 10.0.0.2\n'), 'pass'],
    ['a resolv.conf without nameserver', judgeNameservers('search lan\n# nameserver 1.1.1.1\n'), 'fail'],
    ['no resolv.conf', judgeNameservers(undefined), 'fail'],
    ['plenty of disk', judgeFreeDisk('/var/lib', 50 * GiB), 'pass'],
    ['little disk', judgeFreeDisk('/var/lib', 5 * GiB), 'warn'],
    ['almost no disk', judgeFreeDisk('/var/lib', 1 * GiB), 'fail'],
    ['unknown disk', judgeFreeDisk('/var/lib', undefined), 'skip'],
  ])('judges %s as %s', (_name, outcome, status) => {
    expect(outcome.status).toBe(status);
    if (status === 'fail' || status === 'warn') expect(outcome.remedy).not.toBe('');
  });

  it('names the listener in the port failure', () => {
    expect(judgePort(6443, 'kube-apiserver', [{ family: 6, address: '::', port: 6443 }], true).observed).toBe(
      'listening on [::]:6443',
    );
  });

  it('reads the states printed by systemctl is-active in unit order', () => {
    expect(activeUnits(['chronyd', 'chrony', 'systemd-timesyncd'], 'inactive\ninactive\nactive\n')).toEqual([
      'systemd-timesyncd',
    ]);
  });
});

describe('kubelet version skew', () => {
  it.each([
    [undefined, 'v1.33.0', 'skip'],
    ['v1.33.2', 'v1.33.0', 'pass'],
    ['v1.30.0', 'v1.33.0', 'pass'],
    ['v1.29.9', 'v1.33.0', 'fail'],
    ['v1.34.0', 'v1.33.0', 'fail'],
  ])('kubelet %s against Kubernetes %s is %s', (kubelet, target, status) => {
    expect(judgeKubeletVersion(kubelet, target).status).toBe(status);
  });
});

describe('hostname', () => {
  it.each([
    ['node-1', true],
    ['node-1.example.com', true],
    ['Node-1', false],
    ['node_1', false],
    ['-node', false],
    ['', false],
    ['a'.repeat(254), false],
  ])('node name %j valid: %s', (name, valid) => {
    expect(isValidNodeName(name)).toBe(valid);
  });

  it('reads names from /etc/hosts without comments', () => {
    expect([
      ...namesInHostsFile('127.0.0.1 localhost\n10.0.0.5 cp-1 cp-1.lan # main\n#10.0.0.6 old\n'),
    ]).toEqual(['localhost', 'cp-1', 'cp-1.lan']);
  });

  it.each([
    ['vm', true, 'pass'],
    ['vm', false, 'fail'],
    ['VM_1', true, 'fail'],
  ])('judges %s (resolvable %s) as %s', (name, resolvable, status) => {
    expect(judgeHostname(name, resolvable).status).toBe(status);
  });
});
