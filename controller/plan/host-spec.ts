import { isIP } from 'node:net';
import type { ClusterSpec } from '../../proto/cluster-spec.js';
import type { HostSpec } from '../../proto/host-spec.js';
import type { HostAssignment } from '../spec/resolve.js';
import { hostPrepSettings } from '../render/host-prep.js';
import { checkContainerdConfigFits } from '../render/containerd.js';
import { hostPrepInputFor } from '../render/cluster-spec-inputs.js';
import { registryTrustStore } from '../render/trust-store.js';
import {
  kubernetesPackages,
  kubernetesRepoKey,
  packageRepoFile,
  type PackageFormat,
} from '../render/packages.js';
import { preflightToolPackages } from '../render/preflight-tools.js';
import {
  haproxyKeepalivedFiles,
  haproxyKeepalivedPackages,
  type LbControlPlane,
} from '../render/haproxy-keepalived-inputs.js';

/** The signing key of the upstream repo or its mirror, fetched by the agent (the bundle brings its own). */
export function prepRepoKey(spec: ClusterSpec, format: PackageFormat | undefined): Pick<HostSpec, 'repoKey'> {
  const p = spec.packages;
  if (format === undefined || (p.source !== 'upstream' && p.source !== 'mirror')) return {};
  const repoKey = kubernetesRepoKey(
    {
      kubernetesVersion: spec.kubernetesVersion,
      source: p.source === 'mirror' ? { kind: 'mirror', baseUrl: p.url } : { kind: 'upstream' },
    },
    format,
    p.keyFingerprint,
  );
  return repoKey === undefined ? {} : { repoKey };
}

/**
 * What a host that installs from the offline bundle but gets no prepare spec (an etcd or lb host)
 * needs beside `packagesFrom: 'bundle'`: the bundle's repository file, so apt or dnf reads the synced
 * copy. From upstream or a mirror those hosts take etcd, HAProxy and keepalived from their own
 * distribution's repositories, which are already configured.
 */
export function bundleRepoFiles(spec: ClusterSpec, format: PackageFormat | undefined): HostSpec['files'] {
  if (spec.packages.source !== 'bundle' || format === undefined) return [];
  return [packageRepoFile({ kubernetesVersion: spec.kubernetesVersion, source: { kind: 'bundle' } }, format)];
}

/** containerd and runc from the host's own distribution (or the bundle), the kube packages pinned and held. */
export function prepPackages(
  spec: ClusterSpec,
  format: PackageFormat | undefined,
): Pick<HostSpec, 'packages' | 'services' | 'packagesFrom'> {
  if (spec.packages.source === 'preinstalled' || format === undefined) return { packages: [], services: [] };
  return {
    // the agent syncs the bundle to /var/lib/kctl/bundle before apt reads it as a local repository
    ...(spec.packages.source === 'bundle' ? { packagesFrom: 'bundle' as const } : {}),
    // a running containerd or kubelet keeps its old binary until restarted (the kubelet's node
    // version with it): restarted after the packages step when their package moves
    packages: [
      { name: 'containerd', hold: false, restarts: ['containerd.service'] },
      { name: 'runc', hold: false },
      // the programs kubeadm's preflight wants, whatever the kube packages' Depends say
      ...preflightToolPackages(format).map((name) => ({ name, hold: false })),
      ...kubernetesPackages(spec.kubernetesVersion, format).map((p) =>
        p.name === 'kubelet' ? { ...p, restarts: ['kubelet.service'] } : p,
      ),
    ],
    // kubelet crash-loops until kubeadm configures it: enabled now, started by kubeadm
    services: [
      { unit: 'containerd.service', start: true },
      { unit: 'kubelet.service', start: false },
    ],
  };
}

/** What the prepare phase converges one host to. */
export function prepareHostSpec(
  spec: ClusterSpec,
  host: HostAssignment,
  options: {
    kernelRelease?: string;
    files?: HostSpec['files'];
    packageFormat?: PackageFormat | undefined;
    /** the containerd installed on the host (facts), whose major must read the rendered config */
    containerdVersion?: string | undefined;
    /** every control plane in cluster.yaml's order: HAProxy's backends and keepalived's peers */
    controlPlanes?: readonly LbControlPlane[];
    /** the dedicated lb hosts: when there are any, HAProxy and keepalived go there, not here */
    loadBalancers?: readonly LbControlPlane[];
  } = {},
): HostSpec {
  checkContainerdConfigFits(spec.runtime.containerd.version, options.containerdVersion, host.name);
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
    ...hostPrepSettings(hostPrepInputFor(spec, options.kernelRelease)),
    ...(hostsEntry ? { controlPlaneEndpoint: hostsEntry } : {}),
    ...withLoadBalancer(
      spec,
      host,
      prepPackages(spec, options.packageFormat),
      options.files ?? [],
      options.controlPlanes,
      (options.loadBalancers ?? []).length > 0,
    ),
    ...prepRepoKey(spec, options.packageFormat),
    ...registryTrustStore(spec.runtime.containerd.registryCAs),
  };
}

/**
 * ha.mode haproxy-keepalived: a control plane also gets HAProxy and keepalived (packages unless
 * preinstalled, their files, their services), converged with the rest of the prepare phase, so the
 * VIP answers before `kubeadm init` dials it. Not when cluster.yaml has lb hosts: they get them
 * (controller/plan/lb-host-spec.ts).
 */
function withLoadBalancer(
  spec: ClusterSpec,
  host: HostAssignment,
  prep: Pick<HostSpec, 'packages' | 'services' | 'packagesFrom'>,
  files: HostSpec['files'],
  controlPlanes: readonly LbControlPlane[] | undefined,
  dedicated: boolean,
): Pick<HostSpec, 'packages' | 'services' | 'packagesFrom' | 'files'> {
  const lb = haproxyKeepalivedPackages(spec, host.role, dedicated);
  if (lb.services.length === 0) return { ...prep, files };
  const installs = prep.packages.length > 0;
  return {
    ...prep,
    packages: installs ? [...prep.packages, ...lb.packages] : prep.packages,
    services: [...prep.services, ...lb.services],
    files: [...files, ...haproxyKeepalivedFiles(spec, host, controlPlanes ?? [host])],
  };
}
