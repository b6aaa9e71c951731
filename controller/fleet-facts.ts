import type { HostFacts } from '../proto/facts.js';

/**
 * The Kubernetes version a host runs, from its facts: the kubelet's own answer, else the installed
 * kubelet package ("1.31.2-1.1" -> "v1.31.2"); null when it has neither.
 */
export function kubeVersionOf(facts: HostFacts | null | undefined): string | null {
  if (!facts) return null;
  if (facts.kubeletVersion !== undefined) return facts.kubeletVersion;
  const pkg = facts.kubePackages?.kubelet;
  const version = pkg === undefined ? undefined : /^(?:\d+:)?(\d+\.\d+\.\d+)/.exec(pkg)?.[1];
  return version === undefined ? null : `v${version}`;
}

/**
 * The node's units that are not active, as the facts last reported them ("kubelet inactive"):
 * an empty list when all are; null when the facts carry no unit states (systemd not init).
 */
export function inactiveServices(facts: HostFacts | null | undefined): string[] | null {
  const services = facts?.services;
  if (services === undefined) return null;
  return Object.entries(services)
    .filter(([, state]) => state !== 'active')
    .map(([unit, state]) => `${unit.replace(/\.service$/, '')} ${state}`);
}
