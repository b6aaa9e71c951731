import type { ClusterSpec } from '../../proto/cluster-spec.js';
import type { HostSpec } from '../../proto/host-spec.js';
import { KctlError } from '../../proto/errors.js';
import {
  haproxyKeepalivedPackages,
  loadBalancerFiles,
  nonlocalBindSysctl,
  type LbControlPlane,
} from '../render/haproxy-keepalived-inputs.js';
import type { PackageFormat } from '../render/types.js';
import { bundleRepoFiles } from './host-spec.js';

/**
 * What a dedicated lb host (role lb, ha.mode haproxy-keepalived) converges to: haproxy and
 * keepalived (from the host's repositories or the bundle, not held), haproxy.cfg binding the VIP
 * with every control plane's API server as a backend, its own keepalived.conf (peers: the other lb
 * hosts, priority by their order in cluster.yaml) and the track script, ip_nonlocal_bind so HAProxy
 * starts on a backup, and both services running. No kubelet, no kubeadm, no containerd, no
 * Kubernetes sysctls or modules; swap is left alone.
 */
export function lbHostSpec(
  spec: ClusterSpec,
  self: LbControlPlane,
  options: {
    /** every lb host in cluster.yaml's order (self among them) */
    balancers: readonly LbControlPlane[];
    /** every control plane in cluster.yaml's order: HAProxy's backends */
    controlPlanes: readonly LbControlPlane[];
    packageFormat: PackageFormat | undefined;
  },
): HostSpec {
  if (spec.ha.mode !== 'haproxy-keepalived')
    throw new KctlError(
      'invalid_spec',
      `Host "${self.name}" has role lb, but ha.mode is ${spec.ha.mode}, not haproxy-keepalived`,
      { details: { field: 'ha.mode' } },
    );
  const installs = spec.packages.source !== 'preinstalled' && options.packageFormat !== undefined;
  const lb = haproxyKeepalivedPackages(spec, 'lb', true);
  return {
    hostName: self.name,
    role: 'lb',
    kubernetesVersion: spec.kubernetesVersion,
    kubeProxyMode: spec.kubeProxy.mode,
    swap: 'keep',
    sysctls: nonlocalBindSysctl(spec.ha.vip),
    modules: [],
    files: [
      ...loadBalancerFiles(spec, self.name, {
        balancers: options.balancers,
        controlPlanes: options.controlPlanes,
        placement: 'dedicated',
      }),
      ...(installs ? bundleRepoFiles(spec, options.packageFormat) : []),
    ],
    ...(installs && spec.packages.source === 'bundle' ? { packagesFrom: 'bundle' as const } : {}),
    packages: installs ? lb.packages : [],
    services: lb.services,
  };
}
