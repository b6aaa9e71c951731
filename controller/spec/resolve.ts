import { isIP } from 'node:net';
import { haVipAddress, type ClusterSpec, type SpecIssue } from '../../proto/cluster-spec.js';
import type { NodeRole } from '../../proto/checks.js';
import type { NodeTaint } from '../../proto/node-labels.js';
import { cidrContains, parseCidr, type Cidr } from './cidr.js';

/** What role resolution needs to know about an enrolled host (from the store and its facts). */
export interface EnrolledHost {
  name: string;
  labels: Record<string, string>;
  /** every address the agent reported, in its order */
  ips: string[];
}

export interface HostAssignment {
  name: string;
  role: NodeRole;
  /** the one control plane that runs kubeadm init */
  first: boolean;
  /** the address the node advertises: hosts[].address, else the first usable IP the agent reported */
  address: string | undefined;
  /** hosts[].nodeLabels, nodeTaints and schedulable of the entry that chose this host */
  nodeLabels?: Readonly<Record<string, string>> | undefined;
  nodeTaints?: readonly NodeTaint[] | undefined;
  schedulable?: boolean | undefined;
}

/** A member of the etcd cluster kctl manages (role etcd): no Kubernetes node. */
export interface EtcdMemberAssignment {
  name: string;
  /** the address its client and peer URLs use, chosen as a node's would be */
  address: string | undefined;
}

/** A dedicated HAProxy + keepalived host (role lb): no Kubernetes node. */
export interface LbHostAssignment {
  name: string;
  /** keepalived's unicast_src_ip and its peers' address for it, chosen as a node's would be */
  address: string | undefined;
}

export interface RoleResolution {
  /** the Kubernetes nodes */
  assignments: HostAssignment[];
  /** the hosts with role etcd, in cluster.yaml's order */
  etcdMembers: EtcdMemberAssignment[];
  /** the hosts with role lb, in cluster.yaml's order */
  loadBalancers: LbHostAssignment[];
  errors: SpecIssue[];
  warnings: SpecIssue[];
}

function isUsable(ip: string): boolean {
  const family = isIP(ip);
  if (family === 4) return !ip.startsWith('127.') && !ip.startsWith('169.254.');
  if (family === 6) return ip !== '::1' && !/^fe[89ab]/i.test(ip);
  return false;
}

/**
 * The address a node advertises when cluster.yaml names none: the first reported IP that is not
 * loopback or link-local, not the VIP (kube-vip adds it to the leader), and not inside the pod or
 * service network (CNI interfaces such as cni0, flannel.1 or vxlan.calico carry those).
 * Prefers the service network's IP family.
 */
export function pickNodeAddress(
  ips: readonly string[],
  exclude: { vip?: string | undefined; networks: readonly Cidr[] },
): string | undefined {
  const candidates = ips.filter(
    (ip) => isUsable(ip) && ip !== exclude.vip && !exclude.networks.some((n) => cidrContains(n, ip)),
  );
  const family = exclude.networks[0]?.family === 'ipv6' ? 6 : 4;
  return candidates.find((ip) => isIP(ip) === family) ?? candidates[0];
}

/**
 * Which enrolled host gets which role. Entries are taken in order; a label selector matches hosts
 * in name order. The first control plane found is the one that runs `kubeadm init`.
 * Safe to run again on a running cluster: the VIP on the kube-vip leader and CNI addresses inside
 * the pod network are expected there and are not errors.
 */
export function resolveHostRoles(spec: ClusterSpec, hosts: readonly EnrolledHost[]): RoleResolution {
  const errors: SpecIssue[] = [];
  const warnings: SpecIssue[] = [];
  const byName = new Map(hosts.map((h) => [h.name, h]));
  const taken = new Map<string, number>();
  const assignments: HostAssignment[] = [];
  const etcdMembers: EtcdMemberAssignment[] = [];
  const loadBalancers: LbHostAssignment[] = [];
  const vip = haVipAddress(spec);
  const pod = parseCidr(spec.networking.podSubnet);
  const svc = parseCidr(spec.networking.serviceSubnet);
  const networks = [svc, pod].filter((n): n is Cidr => n !== undefined);

  spec.hosts.forEach((entry, i) => {
    let matches: EnrolledHost[];
    if (entry.name !== undefined) {
      const h = byName.get(entry.name);
      matches = h ? [h] : [];
    } else {
      matches = hosts
        .filter((h) => Object.entries(entry.selector ?? {}).every(([k, v]) => h.labels[k] === v))
        .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    }
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
      if (entry.address !== undefined && h.ips.length > 0 && !h.ips.includes(entry.address)) {
        errors.push({
          path: `hosts[${i}].address`,
          message: `${entry.address} is not an address of host "${h.name}" (it reports ${h.ips.join(', ')})`,
        });
      }
      const address = entry.address ?? pickNodeAddress(h.ips, { vip, networks });
      const inside = h.ips.find((ip) => isUsable(ip) && ip !== vip);
      if (address === undefined && inside !== undefined) {
        const net = pod && cidrContains(pod, inside) ? 'podSubnet' : 'serviceSubnet';
        errors.push({
          path: `networking.${net}`,
          message: `${spec.networking[net]} contains ${inside}, and host "${h.name}" has no other usable address`,
        });
      } else if (address === undefined && entry.role === 'control-plane') {
        warnings.push({
          path: `hosts[${i}]`,
          message: `host "${h.name}" reported no usable address; kubeadm will pick the default route's`,
        });
      }
      // keepalived puts the VIP on a control plane or, with lb hosts, on one of those
      if (vip !== undefined && h.ips.includes(vip) && entry.role !== 'control-plane' && entry.role !== 'lb') {
        errors.push({
          path:
            spec.ha.mode === 'kube-vip' && spec.ha.vip !== undefined ? 'ha.vip' : 'controlPlaneEndpoint.host',
          message: `the VIP ${vip} is already an address of host "${h.name}", which is not a control plane`,
        });
      }
      if (entry.role === 'etcd') etcdMembers.push({ name: h.name, address });
      else if (entry.role === 'lb') loadBalancers.push({ name: h.name, address });
      else
        assignments.push({
          name: h.name,
          role: entry.role,
          first: false,
          address,
          ...(entry.nodeLabels !== undefined ? { nodeLabels: entry.nodeLabels } : {}),
          ...(entry.nodeTaints !== undefined ? { nodeTaints: entry.nodeTaints } : {}),
          ...(entry.schedulable !== undefined ? { schedulable: entry.schedulable } : {}),
        });
    }
  });

  const firstCp = assignments.find((a) => a.role === 'control-plane');
  if (firstCp) firstCp.first = true;
  const cps = assignments.filter((a) => a.role === 'control-plane').length;
  if (cps === 0 && errors.length === 0)
    errors.push({ path: 'hosts', message: 'no enrolled host has the control-plane role' });
  if (spec.etcd.mode === 'stacked' && cps > 0 && cps % 2 === 0)
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
  const seen = new Map<string, string>();
  for (const a of [...assignments, ...etcdMembers, ...loadBalancers]) {
    if (a.address === undefined) continue;
    const other = seen.get(a.address);
    if (other !== undefined)
      errors.push({ path: 'hosts', message: `hosts "${other}" and "${a.name}" both advertise ${a.address}` });
    else seen.set(a.address, a.name);
  }
  return { assignments, etcdMembers, loadBalancers, errors, warnings };
}
