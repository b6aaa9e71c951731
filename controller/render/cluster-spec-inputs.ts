/**
 * The one place that maps cluster.yaml (ClusterSpec) onto the renderers' own inputs (types.ts).
 * The renderers never see the schema; a schema change is absorbed here.
 */
import { haVipAddress, kubeVipAddress, type ClusterSpec } from '../../proto/cluster-spec.js';
import type { HostFile } from '../../proto/host-spec.js';
import { KctlError } from '../../proto/errors.js';
import { containerdMajor, CONTAINERD_CERTS_DIR, pauseImageFor, renderContainerdFiles } from './containerd.js';
import { CRI_SOCKET } from './kubeadm.js';
import { etcdClientUrl } from './etcd.js';
import { KUBE_VIP_MANIFEST_PATH, renderKubeVipManifest } from './kube-vip.js';
import { kctlImage } from '../images/cluster-images.js';
import type { PrepareFilesInput } from './prepare-files.js';
import { kubeadmTaints, kubeletNodeLabels, type NodeRegistrationSpec } from './node-registration.js';
import type {
  ContainerdConfigInput,
  HostPrepInput,
  KubeadmInput,
  KubeVipInput,
  PackageFormat,
  PackageRepoInput,
  RegistryInput,
} from './types.js';

/** The node a kubeadm config is rendered for. `HostAssignment` from controller/spec/resolve.ts fits. */
export interface SpecNode extends Partial<NodeRegistrationSpec> {
  name: string;
  /** advertise address; kubeadm picks the default route's when absent */
  address?: string | undefined;
}

/**
 * The port each API server listens on. With kube-vip (or no HA) clients reach it directly, so it is
 * the endpoint's port; behind an external load balancer the backends listen on kubeadm's 6443.
 */
export function apiServerBindPort(spec: Pick<ClusterSpec, 'ha' | 'controlPlaneEndpoint'>): number {
  // HAProxy on the control planes takes the endpoint port; the API servers stay on kubeadm's 6443
  return spec.ha.mode === 'external-lb' || spec.ha.mode === 'haproxy-keepalived'
    ? 6443
    : spec.controlPlaneEndpoint.port;
}

/** API server certificate names: the endpoint, the VIP, the mapped address, then cluster.yaml's, once each. */
export function apiServerCertSANs(spec: ClusterSpec): string[] {
  const names = [
    spec.controlPlaneEndpoint.host,
    haVipAddress(spec),
    spec.controlPlaneEndpoint.address,
    ...spec.certSANs,
  ];
  return [...new Set(names.filter((n): n is string => n !== undefined))];
}

/**
 * The etcd client URLs the API servers use: none with stacked etcd (etcd.local), cluster.yaml's
 * endpoints for external etcd, each managed member's address (resolved like a node's) for managed.
 */
export function externalEtcdEndpoints(
  spec: Pick<ClusterSpec, 'etcd'>,
  etcdMembers: readonly { name: string; address: string | undefined }[] | undefined,
): string[] | undefined {
  switch (spec.etcd.mode) {
    case 'stacked':
      return undefined;
    case 'external':
      return [...spec.etcd.endpoints];
    case 'managed': {
      if (etcdMembers === undefined || etcdMembers.length === 0)
        throw new KctlError(
          'invalid_spec',
          "etcd.mode managed: no etcd member is resolved to render kubeadm's etcd.external",
        );
      return etcdMembers.map((m) => {
        if (m.address === undefined)
          throw new KctlError('invalid_spec', `etcd member "${m.name}" has no address: give hosts[].address`);
        return etcdClientUrl(m.address);
      });
    }
  }
}

export function kubeadmInputFor(
  spec: ClusterSpec,
  node: SpecNode,
  etcdMembers?: readonly { name: string; address: string | undefined }[],
): KubeadmInput {
  const endpoints = externalEtcdEndpoints(spec, etcdMembers);
  const taints = node.role !== undefined ? kubeadmTaints({ ...node, role: node.role }) : undefined;
  const nodeLabels = kubeletNodeLabels(node.nodeLabels);
  return {
    ...(endpoints !== undefined ? { externalEtcd: { endpoints } } : {}),
    ...(taints !== undefined ? { taints } : {}),
    ...(nodeLabels !== undefined ? { nodeLabels } : {}),
    kubernetesVersion: spec.kubernetesVersion,
    clusterName: spec.name,
    controlPlaneEndpoint: { host: spec.controlPlaneEndpoint.host, port: spec.controlPlaneEndpoint.port },
    nodeName: node.name,
    advertiseAddress: node.address,
    bindPort: apiServerBindPort(spec),
    podSubnet: spec.networking.podSubnet,
    serviceSubnet: spec.networking.serviceSubnet,
    dnsDomain: spec.networking.dnsDomain,
    imageRepository: spec.imageRepository,
    certSANs: apiServerCertSANs(spec),
    extraArgs: spec.extraArgs,
    kubeProxyMode: spec.kubeProxy.mode,
    kubeVip: spec.ha.mode === 'kube-vip',
    criSocket: CRI_SOCKET,
  };
}

/** kube-vip's input for one control plane, or undefined when the cluster does not use kube-vip. */
export function kubeVipInputFor(spec: ClusterSpec, firstControlPlane: boolean): KubeVipInput | undefined {
  if (spec.ha.mode !== 'kube-vip') return undefined;
  const vip = kubeVipAddress(spec);
  if (vip === undefined) throw new KctlError('invalid_spec', 'kube-vip needs the VIP as an IP address');
  return {
    vip,
    interface: spec.ha.interface,
    port: apiServerBindPort(spec),
    firstControlPlane,
    kubernetesVersion: spec.kubernetesVersion,
    image: kctlImage(spec, 'kube-vip'),
  };
}

/**
 * The kube-vip manifest for one host of a kube-vip cluster, or undefined (other HA modes, workers).
 * `first` is true only for the control plane that runs `kubeadm init`.
 */
export function kubeVipManifestFor(
  spec: ClusterSpec,
  host: { role: 'control-plane' | 'worker'; first: boolean },
): { path: string; content: string } | undefined {
  if (host.role !== 'control-plane') return undefined;
  const input = kubeVipInputFor(spec, host.first);
  return input && { path: KUBE_VIP_MANIFEST_PATH, content: renderKubeVipManifest(input) };
}

export function containerdConfigInputFor(spec: ClusterSpec): ContainerdConfigInput {
  return {
    containerdMajor: containerdMajor(spec.runtime.containerd.version),
    pauseImage: pauseImageFor(spec.kubernetesVersion, spec.imageRepository),
    registryConfigPath: CONTAINERD_CERTS_DIR,
  };
}

export function registryInputFor(spec: ClusterSpec): RegistryInput {
  const { registryMirrors, registryCAs, insecureRegistries } = spec.runtime.containerd;
  return { registryMirrors, registryCAs, insecureRegistries };
}

/** config.toml plus the registry hosts.toml and CA files. */
export function containerdFiles(spec: ClusterSpec): HostFile[] {
  return renderContainerdFiles(containerdConfigInputFor(spec), registryInputFor(spec));
}

/** The package repo for this format, or undefined when kctl installs nothing (`preinstalled`). */
export function packageRepoInputFor(spec: ClusterSpec, _format: PackageFormat): PackageRepoInput | undefined {
  const { kubernetesVersion, packages } = spec;
  switch (packages.source) {
    case 'upstream':
      return { kubernetesVersion, source: { kind: 'upstream' } };
    case 'mirror':
      return { kubernetesVersion, source: { kind: 'mirror', baseUrl: packages.url } };
    case 'bundle':
      // synced to the host by the agent (over its own mTLS connection), so no controller URL is needed;
      // deb hosts read its apt/, rpm hosts its rpm/ (kctl bundle build --format)
      return { kubernetesVersion, source: { kind: 'bundle' } };
    case 'preinstalled':
      return undefined;
  }
}

/** The prepare phase's files for one host; no repo file when the format is unknown or nothing is installed. */
export function prepareFilesInputFor(
  spec: ClusterSpec,
  options: { packageFormat: PackageFormat | undefined; controllerUrl?: string | undefined },
): PrepareFilesInput {
  const format = options.packageFormat;
  const repo = format && packageRepoInputFor(spec, format);
  return {
    containerd: containerdConfigInputFor(spec),
    registries: registryInputFor(spec),
    ...(format !== undefined && repo !== undefined ? { packageRepo: { format, repo } } : {}),
  };
}

export function hostPrepInputFor(spec: ClusterSpec, kernelRelease?: string): HostPrepInput {
  return {
    kubernetesVersion: spec.kubernetesVersion,
    kubeProxyMode: spec.kubeProxy.mode,
    podSubnet: spec.networking.podSubnet,
    kernelRelease,
  };
}
