import type { ClusterSpec } from '../../proto/cluster-spec.js';
import type { HostSpec } from '../../proto/host-spec.js';
import { parseKubeVersion } from '../../proto/checks.js';
import { parseCidr } from '../spec/cidr.js';
import { kubeVersion } from './kube-version.js';

export type HostPrepSettings = Pick<HostSpec, 'sysctls' | 'modules'>;

/** kube-proxy's IPVS modules (kubeadm-facts §3.2); nf_conntrack_ipv4 was folded into nf_conntrack in 4.19. */
export function ipvsModules(kernelRelease = ''): string[] {
  const k = parseKubeVersion(kernelRelease);
  const old = k !== undefined && (k.major < 4 || (k.major === 4 && k.minor < 19));
  return ['ip_vs', 'ip_vs_rr', 'ip_vs_wrr', 'ip_vs_sh', old ? 'nf_conntrack_ipv4' : 'nf_conntrack'];
}

/**
 * The kernel modules and sysctls a host needs for this cluster (kubeadm-facts §3).
 * - ip_forward always (kubeadm preflight fails without it); IPv6 forwarding for IPv6 networks.
 * - br_netfilter and bridge-nf-call-*: kubeadm before 1.30 fails when /proc/sys/net/bridge is
 *   missing, and bridge-based CNIs (flannel's cni0; unknown ones for `none`) need bridged traffic
 *   to pass iptables. Calico routes without a bridge, so from 1.30 it goes without.
 * - overlay for containerd's snapshotter; IPVS modules for ipvs; nf_tables for nftables.
 */
export function hostPrepSettings(
  spec: Pick<ClusterSpec, 'kubernetesVersion' | 'kubeProxy' | 'cni' | 'networking'>,
  kernelRelease = '',
): HostPrepSettings {
  const { minor } = kubeVersion(spec.kubernetesVersion);
  const modules: HostPrepSettings['modules'] = [
    { name: 'overlay', requiredFor: 'the containerd overlayfs snapshotter' },
  ];
  const sysctls: Record<string, string> = { 'net.ipv4.ip_forward': '1' };
  if (minor < 30 || spec.cni.plugin !== 'calico') {
    modules.push({ name: 'br_netfilter', requiredFor: 'bridged pod traffic through iptables' });
    sysctls['net.bridge.bridge-nf-call-iptables'] = '1';
    sysctls['net.bridge.bridge-nf-call-ip6tables'] = '1';
  }
  if (parseCidr(spec.networking.podSubnet)?.family === 'ipv6') {
    sysctls['net.ipv6.conf.all.forwarding'] = '1';
    sysctls['net.ipv6.conf.default.forwarding'] = '1';
  }
  if (spec.kubeProxy.mode === 'ipvs') {
    for (const name of ipvsModules(kernelRelease))
      modules.push({ name, requiredFor: 'kube-proxy mode ipvs' });
  }
  if (spec.kubeProxy.mode === 'nftables')
    modules.push({ name: 'nf_tables', requiredFor: 'kube-proxy mode nftables' });
  return { sysctls, modules };
}
