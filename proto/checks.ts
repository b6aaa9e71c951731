import { z } from 'zod';
import { OneLineText, PreflightErrorName } from './validators.js';

/** Preflight: what the agent is asked to check, and what it answers (issue 3, kubeadm-facts §1). */

export const KubeProxyMode = z.enum(['iptables', 'ipvs', 'nftables']);
export type KubeProxyMode = z.infer<typeof KubeProxyMode>;

export const NodeRole = z.enum(['control-plane', 'worker']);
export type NodeRole = z.infer<typeof NodeRole>;

/**
 * A role in cluster.yaml: a Kubernetes node's (NodeRole), or `etcd`, a member of the etcd cluster
 * kctl manages (etcd.mode managed) that gets no kubelet, no kubeadm and joins no cluster, or `lb`,
 * a dedicated HAProxy + keepalived host (ha.mode haproxy-keepalived), no node either.
 */
export const HostRole = z.enum([...NodeRole.options, 'etcd', 'lb']);
export type HostRole = z.infer<typeof HostRole>;

const kubeVersion = z.string().regex(/^v?\d+\.\d+\.\d+([-+][0-9A-Za-z.+-]*)?$/, 'a version like v1.33.2');
const shortText = OneLineText(256).min(1);

/** What a host that runs HAProxy + keepalived checks before it gets them. */
export const LoadBalancerCheckSpec = z.strictObject({
  vip: z.string().min(2).max(64),
  /** ha.interface: keepalived's VRRP interface, where the VIP goes */
  interface: z.string().min(1).max(15),
  /** this host's address, keepalived's unicast_src_ip */
  address: z.string().min(2).max(64),
  /** the other keepalived hosts' addresses: VRRP adverts go to each */
  peers: z.array(z.string().min(2).max(64)).max(64),
  /** the HAProxy frontend port (controlPlaneEndpoint.port): the VIP probe dials it */
  port: z.number().int().min(1).max(65535),
  /** no keepalived of this cluster holds the VIP yet: nothing may answer on it */
  vipMustBeFree: z.boolean(),
  /** HAProxy binds the VIP itself (dedicated lb hosts): the host needs ip_nonlocal_bind */
  bindsVip: z.boolean(),
});
export type LoadBalancerCheckSpec = z.infer<typeof LoadBalancerCheckSpec>;

export const PreflightSpec = z.strictObject({
  role: NodeRole,
  kubernetesVersion: kubeVersion,
  /** the control plane that runs `kubeadm init`; other control planes join */
  isFirstControlPlane: z.boolean(),
  kubeProxyMode: KubeProxyMode,
  /** localAPIEndpoint.bindPort; 6443 when absent */
  apiServerPort: z.number().int().min(1).max(65535).optional(),
  /** host or host:port of the API endpoint (VIP or DNS name) */
  controlPlaneEndpoint: shortText.optional(),
  /** the address this node's API server advertises (control planes) */
  advertiseAddress: shortText.optional(),
  /** one CIDR, or two comma-separated for dual-stack, as in kubeadm */
  podSubnet: shortText.optional(),
  serviceSubnet: shortText.optional(),
  /** node name; the lowercased hostname when absent */
  nodeName: shortText.optional(),
  /** e.g. unix:///var/run/containerd/containerd.sock; auto-detected when absent */
  criSocket: shortText.optional(),
  /** kubeadm --ignore-preflight-errors: check ids, case-insensitive; "all" ignores every check */
  ignore: z.array(PreflightErrorName).max(256).optional(),
  /** ha.mode haproxy-keepalived on this host: the VIP and VRRP checks (agent/checks/load-balancer.ts) */
  loadBalancer: LoadBalancerCheckSpec.optional(),
  /** `load-balancer`: only those checks (a dedicated lb host runs no kubeadm) */
  only: z.literal('load-balancer').optional(),
});
export type PreflightSpec = z.infer<typeof PreflightSpec>;

export const CheckSeverity = z.enum(['error', 'warning']);
export type CheckSeverity = z.infer<typeof CheckSeverity>;

export const CheckStatus = z.enum(['pass', 'warn', 'fail', 'skip']);
export type CheckStatus = z.infer<typeof CheckStatus>;

const resultText = z.string().max(4096);

export const CheckResult = z.strictObject({
  /** kubeadm's name where one exists (e.g. Port-6443, FileAvailable--etc-kubernetes-kubelet.conf) */
  id: z.string().min(1).max(256),
  title: resultText,
  severity: CheckSeverity,
  status: CheckStatus,
  observed: resultText,
  expected: resultText,
  /** what to do when the status is warn or fail; '' on pass */
  remedy: resultText,
  /** true when a failure was turned into a warning by spec.ignore */
  ignored: z.boolean().optional(),
});
export type CheckResult = z.infer<typeof CheckResult>;

export const FleetFindingId = z.enum([
  'DuplicateProductUUID',
  'DuplicateMAC',
  'DuplicateHostname',
  'DuplicateMachineID',
  'KubeletVersionSkew',
]);
export type FleetFindingId = z.infer<typeof FleetFindingId>;

/** A problem found across hosts' facts on the controller. */
export const FleetFinding = z.strictObject({
  id: FleetFindingId,
  severity: CheckSeverity,
  /** the shared value (the duplicated MAC, the kubelet version...) */
  value: z.string().max(256),
  /** every host involved, sorted */
  hosts: z.array(z.string().max(256)).min(1),
  message: resultText,
  remedy: resultText,
});
export type FleetFinding = z.infer<typeof FleetFinding>;

export interface KubeVersion {
  major: number;
  minor: number;
  patch: number;
}

/** "v1.33.2", "1.33.2-rc.0", "1.33" -> numbers; undefined when it is not a version. */
export function parseKubeVersion(text: string): KubeVersion | undefined {
  const match = /^v?(\d+)\.(\d+)(?:\.(\d+))?/.exec(text.trim());
  if (!match) return undefined;
  return { major: Number(match[1]), minor: Number(match[2]), patch: Number(match[3] ?? 0) };
}

/** Negative, zero or positive as a is below, at or above b, comparing major.minor only. */
export function compareMinor(a: KubeVersion, b: KubeVersion): number {
  return a.major !== b.major ? a.major - b.major : a.minor - b.minor;
}

export function formatMinor(v: KubeVersion): string {
  return `${v.major}.${v.minor}`;
}
