import type { PackageFormat } from './types.js';

/**
 * The programs kubeadm's preflight looks for (FileExisting-<program>, kubeadm-facts §1.5) and the
 * distribution package that brings each. apply skips these checks before prepare ("fixed by
 * prepare"), so prepare installs the packages itself on deb hosts rather than trusting the kubelet
 * package's Depends: pkgs.k8s.io's kubelet dropped conntrack in 1.31.14 (k/k #135306) while kubeadm
 * below 1.32 still requires it. cp and touch come from coreutils, which every Debian and EL host has
 * (Essential). On rpm hosts the EL kubelet's Requires bring them (conntrack, ebtables, ethtool,
 * iproute, iptables, socat, util-linux), and their package names differ by release.
 */
export const PREFLIGHT_TOOL_PACKAGES_DEB: Readonly<Record<string, string>> = {
  conntrack: 'conntrack',
  ip: 'iproute2',
  tc: 'iproute2',
  iptables: 'iptables',
  mount: 'mount',
  nsenter: 'util-linux',
  ebtables: 'ebtables',
  ethtool: 'ethtool',
  socat: 'socat',
  cp: 'coreutils',
  touch: 'coreutils',
};

/** Packages prepare installs next to containerd and runc so the FileExisting checks hold. */
export function preflightToolPackages(format: PackageFormat): string[] {
  if (format !== 'deb') return [];
  const essential = new Set(['coreutils']);
  return [...new Set(Object.values(PREFLIGHT_TOOL_PACKAGES_DEB))].filter((p) => !essential.has(p)).sort();
}
