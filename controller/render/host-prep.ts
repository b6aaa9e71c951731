import { parseKubeVersion } from '../../proto/checks.js';
import { kubeVersion } from '../../proto/kube-version.js';
import type { HostPrepInput, HostPrepSettings, KernelModule } from './types.js';

export type { HostPrepInput, HostPrepSettings, KernelModule } from './types.js';

/** kube-proxy's IPVS modules (kubeadm-facts §3.2); nf_conntrack_ipv4 was folded into nf_conntrack in 4.19. */
export function ipvsModules(kernelRelease = ''): string[] {
  const k = parseKubeVersion(kernelRelease);
  const old = k !== undefined && (k.major < 4 || (k.major === 4 && k.minor < 19));
  return ['ip_vs', 'ip_vs_rr', 'ip_vs_wrr', 'ip_vs_sh', old ? 'nf_conntrack_ipv4' : 'nf_conntrack'];
}

function hasIpv6(subnets: string | undefined): boolean {
  return (subnets ?? '').split(',').some((s) => s.includes(':'));
}

/**
 * The kernel modules and sysctls a host needs (kubeadm-facts §3):
 * - ip_forward always: kubeadm's preflight fails without it; IPv6 forwarding for IPv6 pod networks.
 * - br_netfilter and bridge-nf-call-*: kubeadm before 1.30 fails when /proc/sys/net/bridge is missing,
 *   and bridge-based CNIs need bridged pod traffic to pass iptables. Harmless where nothing bridges.
 * - overlay for containerd's snapshotter; the IPVS modules for ipvs; nf_tables for nftables.
 */
export function hostPrepSettings(input: HostPrepInput): HostPrepSettings {
  kubeVersion(input.kubernetesVersion); // a version kctl can install, or a throw
  const modules: KernelModule[] = [
    { name: 'overlay', requiredFor: 'containerd overlayfs snapshotter' },
    { name: 'br_netfilter', requiredFor: 'bridged pod traffic' },
  ];
  const sysctls: Record<string, string> = {
    'net.ipv4.ip_forward': '1',
    'net.bridge.bridge-nf-call-iptables': '1',
    'net.bridge.bridge-nf-call-ip6tables': '1',
  };
  if (hasIpv6(input.podSubnet)) {
    sysctls['net.ipv6.conf.all.forwarding'] = '1';
    sysctls['net.ipv6.conf.default.forwarding'] = '1';
  }
  switch (input.kubeProxyMode) {
    case 'ipvs':
      for (const name of ipvsModules(input.kernelRelease))
        modules.push({ name, requiredFor: 'kube-proxy mode ipvs' });
      break;
    case 'nftables':
      modules.push({ name: 'nf_tables', requiredFor: 'kube-proxy mode nftables' });
      break;
    case 'iptables':
      break;
  }
  return { sysctls, modules };
}
