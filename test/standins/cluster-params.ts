import type { Arg, ClusterConfiguration } from './kubeadm-types.js';
import { nthAddress, parseCidrList, splitHostPort, joinHostPort, type Semver } from './k8s-values.js';
import type { KeyAlgorithm } from './standin-pki.js';

/**
 * ClusterConfiguration with kubeadm's defaults applied (SetDefaults_ClusterConfiguration), plus the
 * per-release image versions kubeadm pins. Pure.
 */

export const DEFAULT_SERVICE_SUBNET = '10.96.0.0/12';
export const DEFAULT_DNS_DOMAIN = 'cluster.local';
export const DEFAULT_CERTS_DIR = '/etc/kubernetes/pki';
export const DEFAULT_IMAGE_REPOSITORY = 'registry.k8s.io';
export const DEFAULT_ETCD_DATA_DIR = '/var/lib/etcd';
export const DEFAULT_CRI_SOCKET = 'unix:///var/run/containerd/containerd.sock';
export const DEFAULT_BIND_PORT = 6443;

/** Images kubeadm pins per minor (constants.go, approximately: patch releases move them). */
const ETCD_BY_MINOR: Record<number, string> = {
  29: '3.5.16-0',
  30: '3.5.16-0',
  31: '3.5.15-0',
  32: '3.5.16-0',
  33: '3.5.21-0',
  34: '3.6.4-0',
  35: '3.6.5-0',
  36: '3.6.6-0',
};
const PAUSE_BY_MINOR: Record<number, string> = {
  29: '3.9',
  30: '3.9',
  31: '3.10',
  32: '3.10',
  33: '3.10',
  34: '3.10.1',
  35: '3.10.1',
  36: '3.10.1',
};
const COREDNS_BY_MINOR: Record<number, string> = {
  29: 'v1.11.1',
  30: 'v1.11.3',
  31: 'v1.11.3',
  32: 'v1.11.3',
  33: 'v1.12.0',
  34: 'v1.12.1',
  35: 'v1.12.1',
  36: 'v1.13.1',
};

export const etcdImageTag = (minor: number): string => ETCD_BY_MINOR[minor] ?? '3.5.16-0';
export const pauseImageTag = (minor: number): string => PAUSE_BY_MINOR[minor] ?? '3.10';
export const corednsImageTag = (minor: number): string => COREDNS_BY_MINOR[minor] ?? 'v1.11.3';

export interface Component {
  extraArgs: Arg[];
  extraVolumes: {
    name: string;
    hostPath: string;
    mountPath: string;
    readOnly?: boolean | undefined;
    pathType?: string | undefined;
  }[];
}

export interface ResolvedCluster {
  kubernetesVersion: string;
  minor: number;
  clusterName: string;
  imageRepository: string;
  certificatesDir: string;
  serviceSubnet: string;
  podSubnet: string | undefined;
  dnsDomain: string;
  /** as configured, possibly without a port; undefined when not set */
  controlPlaneEndpoint: string | undefined;
  encryptionAlgorithm: KeyAlgorithm;
  etcd:
    | {
        kind: 'local';
        dataDir: string;
        image: string;
        extraArgs: Arg[];
        serverCertSANs: string[];
        peerCertSANs: string[];
      }
    | { kind: 'external'; endpoints: string[]; caFile: string; certFile: string; keyFile: string };
  apiServer: Component & { certSANs: string[] };
  controllerManager: Component;
  scheduler: Component;
}

export function resolveCluster(c: ClusterConfiguration, kubernetesVersion: Semver): ResolvedCluster {
  const imageRepository = c.imageRepository ?? DEFAULT_IMAGE_REPOSITORY;
  const local = c.etcd?.local;
  const external = c.etcd?.external;
  const component = (
    x: { extraArgs?: Arg[] | undefined; extraVolumes?: Component['extraVolumes'] | undefined } | undefined,
  ): Component => ({
    extraArgs: x?.extraArgs ?? [],
    extraVolumes: x?.extraVolumes ?? [],
  });
  return {
    kubernetesVersion: kubernetesVersion.raw,
    minor: kubernetesVersion.minor,
    clusterName: c.clusterName ?? 'kubernetes',
    imageRepository,
    certificatesDir: c.certificatesDir ?? DEFAULT_CERTS_DIR,
    serviceSubnet: c.networking?.serviceSubnet ?? DEFAULT_SERVICE_SUBNET,
    podSubnet: c.networking?.podSubnet,
    dnsDomain: c.networking?.dnsDomain ?? DEFAULT_DNS_DOMAIN,
    controlPlaneEndpoint: c.controlPlaneEndpoint || undefined,
    encryptionAlgorithm: (c.encryptionAlgorithm as KeyAlgorithm | undefined) ?? 'RSA-2048',
    etcd: external
      ? {
          kind: 'external',
          endpoints: external.endpoints,
          caFile: external.caFile ?? '',
          certFile: external.certFile ?? '',
          keyFile: external.keyFile ?? '',
        }
      : {
          kind: 'local',
          dataDir: local?.dataDir ?? DEFAULT_ETCD_DATA_DIR,
          image: `${local?.imageRepository ?? imageRepository}/etcd:${local?.imageTag ?? etcdImageTag(kubernetesVersion.minor)}`,
          extraArgs: local?.extraArgs ?? [],
          serverCertSANs: local?.serverCertSANs ?? [],
          peerCertSANs: local?.peerCertSANs ?? [],
        },
    apiServer: { ...component(c.apiServer), certSANs: c.apiServer?.certSANs ?? [] },
    controllerManager: component(c.controllerManager),
    scheduler: component(c.scheduler),
  };
}

/** The cluster endpoint every client uses: controlPlaneEndpoint (bindPort when it has no port) or the first API server. */
export function clusterEndpoint(
  cluster: ResolvedCluster,
  advertiseAddress: string,
  bindPort: number,
): string {
  if (!cluster.controlPlaneEndpoint) return joinHostPort(advertiseAddress, bindPort);
  const hp = splitHostPort(cluster.controlPlaneEndpoint);
  return joinHostPort(hp?.host ?? cluster.controlPlaneEndpoint, hp?.port ?? bindPort);
}

/** The first service IP (the `kubernetes` Service) and the DNS service IP (.10). */
export function serviceIps(cluster: ResolvedCluster): { apiServer: string; dns: string } {
  const first = parseCidrList(cluster.serviceSubnet)?.[0];
  return first
    ? { apiServer: nthAddress(first, 1), dns: nthAddress(first, 10) }
    : { apiServer: '10.96.0.1', dns: '10.96.0.10' };
}

export function imageList(cluster: ResolvedCluster): string[] {
  const r = cluster.imageRepository;
  const v = cluster.kubernetesVersion;
  return [
    `${r}/kube-apiserver:${v}`,
    `${r}/kube-controller-manager:${v}`,
    `${r}/kube-scheduler:${v}`,
    `${r}/kube-proxy:${v}`,
    `${r}/coredns/coredns:${corednsImageTag(cluster.minor)}`,
    `${r}/pause:${pauseImageTag(cluster.minor)}`,
    ...(cluster.etcd.kind === 'local' ? [cluster.etcd.image] : []),
  ];
}
