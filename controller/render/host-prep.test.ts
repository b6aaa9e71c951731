import { describe, expect, it } from 'vitest';
import type { ClusterSpec } from '../../proto/cluster-spec.js';
import { hostPrepSettings, ipvsModules } from './host-prep.js';

type Input = Parameters<typeof hostPrepSettings>[0];
const input = (
  version: string,
  mode: ClusterSpec['kubeProxy']['mode'],
  plugin: ClusterSpec['cni']['plugin'],
  podSubnet = '10.244.0.0/16',
): Input => ({
  kubernetesVersion: version,
  kubeProxy: { mode },
  cni: { plugin },
  networking: { podSubnet, serviceSubnet: '10.96.0.0/12', dnsDomain: 'cluster.local' },
});

describe('host preparation settings', () => {
  it.each([
    ['1.29 with calico', input('v1.29.15', 'iptables', 'calico'), true],
    ['1.30 with calico', input('v1.30.14', 'iptables', 'calico'), false],
    ['1.35 with flannel', input('v1.35.0', 'iptables', 'flannel'), true],
    ['1.35 with a CNI of your own', input('v1.35.0', 'iptables', 'none'), true],
  ])('%s: br_netfilter and bridge-nf-call are %s', (_what, spec, wanted) => {
    const s = hostPrepSettings(spec);
    expect(s.sysctls['net.ipv4.ip_forward']).toBe('1');
    expect(s.modules.some((m) => m.name === 'br_netfilter')).toBe(wanted);
    expect(s.sysctls['net.bridge.bridge-nf-call-iptables'] === '1').toBe(wanted);
    expect(s.modules[0]?.name).toBe('overlay');
  });

  it.each([
    ['iptables', []],
    ['ipvs', ['ip_vs', 'ip_vs_rr', 'ip_vs_wrr', 'ip_vs_sh', 'nf_conntrack']],
    ['nftables', ['nf_tables']],
  ] as const)('kube-proxy mode %s adds %j', (mode, extra) => {
    const names = hostPrepSettings(input('v1.33.4', mode, 'calico')).modules.map((m) => m.name);
    expect(names).toEqual(['overlay', ...extra]);
  });

  it.each([
    ['4.18.0-553.el8', 'nf_conntrack_ipv4'],
    ['4.19.0', 'nf_conntrack'],
    ['6.1.0-28-amd64', 'nf_conntrack'],
    ['', 'nf_conntrack'],
  ])('on kernel %j IPVS needs %s', (kernel, conntrack) => {
    expect(ipvsModules(kernel).at(-1)).toBe(conntrack);
  });

  it('turns on IPv6 forwarding for an IPv6 pod network', () => {
    const s = hostPrepSettings(input('v1.33.4', 'iptables', 'calico', 'fd00:10::/56'));
    expect(s.sysctls).toMatchObject({
      'net.ipv6.conf.all.forwarding': '1',
      'net.ipv6.conf.default.forwarding': '1',
    });
  });
});
