import { describe, expect, it } from 'vitest';
import { hostPrepSettings, ipvsModules } from './host-prep.js';
import type { HostPrepInput, KubeProxyMode } from './types.js';

const input = (version: string, mode: KubeProxyMode, extra: Partial<HostPrepInput> = {}): HostPrepInput => ({
  kubernetesVersion: version,
  kubeProxyMode: mode,
  ...extra,
});

describe('host preparation settings', () => {
  it.each(['v1.29.15', 'v1.30.14', 'v1.35.0'])(
    'on %s always forward IPv4 and let bridged pod traffic through iptables',
    (version) => {
      const s = hostPrepSettings(input(version, 'iptables'));
      expect(s.sysctls).toEqual({
        'net.ipv4.ip_forward': '1',
        'net.bridge.bridge-nf-call-iptables': '1',
        'net.bridge.bridge-nf-call-ip6tables': '1',
      });
      expect(s.modules).toEqual([
        { name: 'overlay', requiredFor: 'containerd overlayfs snapshotter' },
        { name: 'br_netfilter', requiredFor: 'bridged pod traffic' },
      ]);
    },
  );

  it.each([
    ['iptables', []],
    ['ipvs', ['ip_vs', 'ip_vs_rr', 'ip_vs_wrr', 'ip_vs_sh', 'nf_conntrack']],
    ['nftables', ['nf_tables']],
  ] as const)('kube-proxy mode %s adds %j, each saying it is for that mode', (mode, extra) => {
    const modules = hostPrepSettings(input('v1.33.4', mode)).modules.slice(2);
    expect(modules.map((m) => m.name)).toEqual(extra);
    for (const m of modules) expect(m.requiredFor).toBe(`kube-proxy mode ${mode}`);
  });

  it.each([
    ['4.18.0-553.el8', 'nf_conntrack_ipv4'],
    ['4.19.0', 'nf_conntrack'],
    ['6.1.0-28-amd64', 'nf_conntrack'],
    ['', 'nf_conntrack'],
  ])('on kernel %j IPVS needs %s', (kernel, conntrack) => {
    expect(ipvsModules(kernel).at(-1)).toBe(conntrack);
    const names = hostPrepSettings(input('v1.31.2', 'ipvs', { kernelRelease: kernel })).modules.map(
      (m) => m.name,
    );
    expect(names.at(-1)).toBe(conntrack);
  });

  it.each([
    ['an IPv6 pod network', 'fd00:10::/56', true],
    ['a dual-stack pod network', '10.244.0.0/16,fd00:10::/56', true],
    ['an IPv4 pod network', '10.244.0.0/16', false],
  ])('with %s forwards IPv6: %s', (_what, podSubnet, v6) => {
    const s = hostPrepSettings(input('v1.33.4', 'iptables', { podSubnet }));
    expect(s.sysctls['net.ipv6.conf.all.forwarding'] === '1').toBe(v6);
    expect(s.sysctls['net.ipv6.conf.default.forwarding'] === '1').toBe(v6);
  });

  it('refuses a version that is not a Kubernetes version', () => {
    expect(() => hostPrepSettings(input('latest', 'iptables'))).toThrow(/Kubernetes version/);
  });
});
