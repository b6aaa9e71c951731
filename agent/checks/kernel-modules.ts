import type { ModuleProbe } from '../probes/modules.js';
import type { KubeProxyMode } from '../../proto/checks.js';
import type { Check, CheckOutcome } from './check.js';
import { fail, pass } from './check.js';

/** "6.18.44-fc-v595" -> [6, 18, 44]; missing parts are 0. */
export function kernelVersionParts(release: string): [number, number, number] {
  const [major = 0, minor = 0, patch = 0] = (/^(\d+)\.(\d+)(?:\.(\d+))?/.exec(release) ?? [])
    .slice(1)
    .map((p) => Number(p ?? 0));
  return [major, minor, patch];
}

export function kernelAtLeast(release: string, major: number, minor: number): boolean {
  const [have, haveMinor] = kernelVersionParts(release);
  return have !== major ? have > major : haveMinor >= minor;
}

/** kube-proxy's required modules (kubeadm-facts §3.2): nf_conntrack_ipv4 before kernel 4.19. */
export function kubeProxyModules(mode: KubeProxyMode, release: string): string[] {
  const conntrack = kernelAtLeast(release, 4, 19) ? 'nf_conntrack' : 'nf_conntrack_ipv4';
  switch (mode) {
    case 'ipvs':
      return ['ip_vs', 'ip_vs_rr', 'ip_vs_wrr', 'ip_vs_sh', conntrack];
    case 'nftables':
      return ['nf_tables', conntrack];
    case 'iptables':
      return [conntrack];
  }
}

/** nftables mode needs kernel 5.13+ (kubespray's assert, kubeadm-facts §3.2). */
export const NFTABLES_MIN_KERNEL = [5, 13] as const;

function describe(probes: readonly ModuleProbe[]): string {
  return probes.map((p) => `${p.name}: ${p.state}`).join(', ');
}

export function judgeKubeProxyModules(
  mode: KubeProxyMode,
  release: string,
  probes: readonly ModuleProbe[],
): CheckOutcome {
  const names = probes.map((p) => p.name).join(', ');
  const expected = `kube-proxy mode ${mode}: ${names} loaded, built in or loadable`;
  if (mode === 'nftables' && !kernelAtLeast(release, ...NFTABLES_MIN_KERNEL)) {
    return fail(
      `kernel ${release}`,
      `kernel ${NFTABLES_MIN_KERNEL.join('.')} or newer for kube-proxy mode nftables`,
      'use kube-proxy mode iptables, or boot a kernel 5.13 or newer',
    );
  }
  const missing = probes.filter((p) => p.state === 'missing');
  if (missing.length > 0) {
    const others =
      mode === 'ipvs' ? 'iptables or nftables' : mode === 'nftables' ? 'iptables' : 'another mode';
    const symbols = missing.map((p) => p.name.toUpperCase()).join(', ');
    return fail(
      `${describe(probes)} (${missing.map((p) => `${p.name}: ${p.evidence}`).join('; ')})`,
      expected,
      `use kube-proxy mode ${others}, or a kernel with ${symbols}`,
    );
  }
  const loadable = probes.filter((p) => p.state === 'loadable');
  const note = loadable.length > 0 ? ` (kctl apply loads ${loadable.map((p) => p.name).join(', ')})` : '';
  return pass(`${describe(probes)}${note}`, expected);
}

/** Modules the container runtime and bridge CNIs rely on; the kernel-modules step loads them. */
export const RUNTIME_MODULES = ['overlay', 'br_netfilter'] as const;

export function judgeRuntimeModules(probes: readonly ModuleProbe[]): CheckOutcome {
  const expected = `${probes.map((p) => p.name).join(', ')} loaded, built in or loadable`;
  const missing = probes.filter((p) => p.state === 'missing');
  if (missing.length > 0) {
    return fail(
      `${describe(probes)} (${missing.map((p) => `${p.name}: ${p.evidence}`).join('; ')})`,
      expected,
      "containerd's overlayfs snapshotter needs overlay and bridge CNIs need br_netfilter: use a kernel that has them",
    );
  }
  return pass(describe(probes), expected);
}

export const kernelModuleChecks = (): Check[] => [
  {
    id: 'KernelModules-KubeProxy',
    title: 'kernel modules for the kube-proxy mode',
    severity: 'error',
    appliesTo: {},
    run: async ({ probes, spec }) => {
      const release = await probes.kernelRelease();
      const found = await Promise.all(
        kubeProxyModules(spec.kubeProxyMode, release).map((m) => probes.module(m)),
      );
      return judgeKubeProxyModules(spec.kubeProxyMode, release, found);
    },
  },
  {
    id: 'KernelModules-Runtime',
    title: 'kernel modules for the container runtime (overlay, br_netfilter)',
    severity: 'warning',
    appliesTo: {},
    run: async ({ probes }) =>
      judgeRuntimeModules(await Promise.all(RUNTIME_MODULES.map((m) => probes.module(m)))),
  },
];
