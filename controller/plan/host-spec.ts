import { isIP } from 'node:net';
import type { ClusterSpec } from '../../proto/cluster-spec.js';
import type { HostSpec } from '../../proto/host-spec.js';
import { parseKubeVersion } from '../../proto/checks.js';
import type { HostAssignment } from '../spec/resolve.js';

/** Kernel settings Kubernetes needs, by kube-proxy mode and version (kubeadm-facts §3). */
export function hostPrepSettings(
  spec: Pick<ClusterSpec, 'kubernetesVersion' | 'kubeProxy'>,
  kernelRelease = '',
): Pick<HostSpec, 'sysctls' | 'modules'> {
  const modules: HostSpec['modules'] = [
    { name: 'overlay', requiredFor: 'the containerd overlayfs snapshotter' },
    { name: 'br_netfilter', requiredFor: 'bridged pod traffic through iptables' },
  ];
  const sysctls: Record<string, string> = {
    'net.ipv4.ip_forward': '1',
    'net.bridge.bridge-nf-call-iptables': '1',
    'net.bridge.bridge-nf-call-ip6tables': '1',
  };
  if (spec.kubeProxy.mode === 'ipvs') {
    // nf_conntrack_ipv4 was folded into nf_conntrack in kernel 4.19
    const kernel = parseKubeVersion(kernelRelease);
    const old = kernel !== undefined && (kernel.major < 4 || (kernel.major === 4 && kernel.minor < 19));
    for (const name of ['ip_vs', 'ip_vs_rr', 'ip_vs_wrr', 'ip_vs_sh'])
      modules.push({ name, requiredFor: 'kube-proxy mode ipvs' });
    modules.push({ name: old ? 'nf_conntrack_ipv4' : 'nf_conntrack', requiredFor: 'kube-proxy mode ipvs' });
  }
  if (spec.kubeProxy.mode === 'nftables')
    modules.push({ name: 'nf_tables', requiredFor: 'kube-proxy mode nftables' });
  return { sysctls, modules };
}

/** What the prepare phase converges one host to. Renderer output (containerd, crictl, repos) joins `files`. */
export function prepareHostSpec(
  spec: ClusterSpec,
  host: HostAssignment,
  options: {
    kernelRelease?: string;
    files?: HostSpec['files'];
    packages?: HostSpec['packages'];
    services?: HostSpec['services'];
  } = {},
): HostSpec {
  const endpoint = spec.controlPlaneEndpoint;
  const hostsEntry =
    isIP(endpoint.host) === 0 && endpoint.address !== undefined
      ? { name: endpoint.host, address: endpoint.address }
      : undefined;
  return {
    hostName: host.name,
    role: host.role,
    kubernetesVersion: spec.kubernetesVersion,
    kubeProxyMode: spec.kubeProxy.mode,
    swap: 'off',
    ...hostPrepSettings(spec, options.kernelRelease),
    ...(hostsEntry ? { controlPlaneEndpoint: hostsEntry } : {}),
    files: options.files ?? [],
    packages: options.packages ?? [],
    services: options.services ?? [],
  };
}
