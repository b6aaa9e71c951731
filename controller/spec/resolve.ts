import { isIP } from 'node:net';
import type { ClusterSpec, SpecIssue } from '../../proto/cluster-spec.js';
import type { NodeRole } from '../../proto/checks.js';
import { cidrContains, parseCidr } from './cidr.js';

export interface EnrolledHost {
  name: string;
  labels: Record<string, string>;
  ips: string[];
}

export interface HostAssignment {
  name: string;
  role: NodeRole;
  /** the one control plane that runs kubeadm init */
  first: boolean;
  /** the address the node advertises: the first non-loopback IP the agent reported */
  address: string | undefined;
}

/**
 * Which enrolled host gets which role. Entries are taken in order; a label selector matches hosts
 * in name order. The first control plane found is the one that runs `kubeadm init`.
 */
export function resolveHostRoles(
  spec: ClusterSpec,
  hosts: readonly EnrolledHost[],
): { assignments: HostAssignment[]; errors: SpecIssue[]; warnings: SpecIssue[] } {
  const errors: SpecIssue[] = [];
  const warnings: SpecIssue[] = [];
  const byName = new Map(hosts.map((h) => [h.name, h]));
  const taken = new Map<string, number>();
  const assignments: HostAssignment[] = [];
  spec.hosts.forEach((entry, i) => {
    const matches =
      entry.name !== undefined
        ? byName.has(entry.name)
          ? [byName.get(entry.name)!]
          : []
        : [...hosts]
            .filter((h) => Object.entries(entry.selector ?? {}).every(([k, v]) => h.labels[k] === v))
            .sort((a, b) => a.name.localeCompare(b.name));
    if (matches.length === 0) {
      errors.push({
        path: `hosts[${i}]`,
        message:
          entry.name !== undefined
            ? `no enrolled host is named "${entry.name}"`
            : 'the selector matches no enrolled host',
      });
    }
    for (const h of matches) {
      const prior = taken.get(h.name);
      if (prior !== undefined) {
        errors.push({
          path: `hosts[${i}]`,
          message: `host "${h.name}" is already chosen by hosts[${prior}]`,
        });
        continue;
      }
      taken.set(h.name, i);
      const address = h.ips.find((ip) => !ip.startsWith('127.') && ip !== '::1');
      assignments.push({ name: h.name, role: entry.role, first: false, address });
    }
  });
  const firstCp = assignments.find((a) => a.role === 'control-plane');
  if (firstCp) firstCp.first = true;
  const cps = assignments.filter((a) => a.role === 'control-plane').length;
  if (cps === 0 && errors.length === 0)
    errors.push({ path: 'hosts', message: 'no enrolled host has the control-plane role' });
  if (cps > 0 && cps % 2 === 0)
    warnings.push({
      path: 'hosts',
      message: `${cps} control planes: an even number adds no etcd fault tolerance`,
    });
  if (cps > 1 && spec.ha.mode === 'none') {
    errors.push({
      path: 'ha.mode',
      message: `${cps} control planes need an HA endpoint: use kube-vip or external-lb`,
    });
  }

  const vip = spec.controlPlaneEndpoint.host;
  if (isIP(vip) !== 0) {
    for (const h of hosts.filter((x) => taken.has(x.name))) {
      if (h.ips.includes(vip) && spec.ha.mode === 'kube-vip') {
        errors.push({
          path: 'controlPlaneEndpoint.host',
          message: `the VIP ${vip} is already an address of host "${h.name}"`,
        });
      }
    }
  }
  const pod = parseCidr(spec.networking.podSubnet);
  const svc = parseCidr(spec.networking.serviceSubnet);
  for (const h of hosts.filter((x) => taken.has(x.name))) {
    for (const ip of h.ips) {
      if (pod && cidrContains(pod, ip))
        errors.push({
          path: 'networking.podSubnet',
          message: `${spec.networking.podSubnet} contains ${ip}, an address of host "${h.name}"`,
        });
      if (svc && cidrContains(svc, ip))
        errors.push({
          path: 'networking.serviceSubnet',
          message: `${spec.networking.serviceSubnet} contains ${ip}, an address of host "${h.name}"`,
        });
    }
  }
  return { assignments, errors, warnings };
}
