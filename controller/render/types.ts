/**
 * What the renderers take. Small, flat and independent of cluster.yaml's schema: the mapping from
 * a ClusterSpec lives in one place (cluster-spec-inputs.ts), so a schema change touches only that.
 */

export type KubeProxyMode = 'iptables' | 'ipvs' | 'nftables';

/** kube-apiserver, controller-manager, scheduler, etcd and kubelet flags, without leading dashes. */
export interface ComponentExtraArgs {
  apiServer: Readonly<Record<string, string>>;
  controllerManager: Readonly<Record<string, string>>;
  scheduler: Readonly<Record<string, string>>;
  etcd: Readonly<Record<string, string>>;
  kubelet: Readonly<Record<string, string>>;
}

export interface Taint {
  key: string;
  value?: string | undefined;
  effect: 'NoSchedule' | 'PreferNoSchedule' | 'NoExecute';
}

/** Everything kubeadm's Init/Cluster/Join configs need about the cluster and the one node they are for. */
export interface KubeadmInput {
  /** "v1.31.2" */
  kubernetesVersion: string;
  clusterName: string;
  /** what kubeconfigs and joins use: the VIP, the load balancer, or a DNS name */
  controlPlaneEndpoint: { host: string; port: number };
  nodeName: string;
  /** the address this node's API server and kubelet advertise; kubeadm picks the default route's when absent */
  advertiseAddress?: string | undefined;
  /** the port this node's API server listens on (6443 behind an external load balancer) */
  bindPort: number;
  podSubnet: string;
  serviceSubnet: string;
  dnsDomain: string;
  /** kubeadm's default, registry.k8s.io, when absent */
  imageRepository?: string | undefined;
  /** extra API server certificate names; written once each, in order */
  certSANs: readonly string[];
  extraArgs: ComponentExtraArgs;
  kubeProxyMode: KubeProxyMode;
  /** kube-vip announces the VIP by ARP: with ipvs, kube-proxy then needs strictARP */
  kubeVip: boolean;
  /** e.g. unix:///var/run/containerd/containerd.sock */
  criSocket: string;
  /** absent: kubeadm's default (the control-plane NoSchedule taint on control planes, none on workers) */
  taints?: readonly Taint[] | undefined;
  /** labels the kubelet registers the node with (its node-labels flag); kctl sets the rest with kubectl */
  nodeLabels?: string | undefined;
  /** etcd outside the control planes (etcd.mode managed or external): its client URLs; absent: etcd.local */
  externalEtcd?: { endpoints: readonly string[] } | undefined;
}

/** What `kubeadm init` gets besides the cluster: its bootstrap token and the upload-certs key. */
export interface InitSecrets {
  /** [a-z0-9]{6}.[a-z0-9]{16} */
  token: string;
  /** 64 hex characters: the AES key for the uploaded control-plane certificates */
  certificateKey: string;
  /** Go duration; INIT_TOKEN_TTL when absent */
  tokenTtl?: string | undefined;
}

/** What `kubeadm join` gets: discovery material and, for a control plane, the certificate key. */
export interface JoinInput {
  token: string;
  /** sha256:<64 hex> over the cluster CA's SubjectPublicKeyInfo; at least one */
  caCertHashes: readonly string[];
  /** required when controlPlane, never written for a worker */
  certificateKey?: string | undefined;
  controlPlane: boolean;
}

export interface KubeVipInput {
  /** the IP kube-vip announces */
  vip: string;
  /** the interface it answers ARP on */
  interface: string;
  /** the API server port behind the VIP */
  port: number;
  /** the control plane that runs `kubeadm init`: reads super-admin.conf from 1.29 */
  firstControlPlane: boolean;
  kubernetesVersion: string;
  /** KUBE_VIP_IMAGE when absent */
  image?: string | undefined;
}

export interface ContainerdConfigInput {
  /** 1 writes config version 2, 2 writes version 3 */
  containerdMajor: 1 | 2;
  /** kubeadm's pause image: pauseImageFor() */
  pauseImage: string;
  /** the certs.d directory with one hosts.toml per registry */
  registryConfigPath: string;
}

/** Registry mirrors and CA bundles by registry host (host[:port], or _default for every registry). */
export interface RegistryInput {
  registryMirrors: Readonly<Record<string, readonly string[]>>;
  /** PEM text, written to <certs.d>/<host>/ca.crt */
  registryCAs: Readonly<Record<string, string>>;
  /** hosts reached without TLS verification: plain http, or skip_verify for an https mirror */
  insecureRegistries?: readonly string[] | undefined;
}

export type PackageFormat = 'deb' | 'rpm';

export type PackageSource =
  /** pkgs.k8s.io, one repository per minor */
  | { kind: 'upstream' }
  /** a mirror of pkgs.k8s.io: baseUrl replaces https://pkgs.k8s.io, the path below it is kept */
  | { kind: 'mirror'; baseUrl: string }
  /** the controller's offline bundle, synced to the host and read by apt as a local repository */
  | { kind: 'bundle' };

export interface PackageRepoInput {
  kubernetesVersion: string;
  source: PackageSource;
}

export interface HostPrepInput {
  kubernetesVersion: string;
  kubeProxyMode: KubeProxyMode;
  /** an IPv6 (or dual-stack, comma-separated) pod network also needs IPv6 forwarding */
  podSubnet?: string | undefined;
  /** `uname -r`; kernels before 4.19 name the IPVS conntrack module nf_conntrack_ipv4 */
  kernelRelease?: string | undefined;
}

export interface KernelModule {
  name: string;
  /** what fails without it, shown in plans */
  requiredFor: string;
}

export interface HostPrepSettings {
  sysctls: Record<string, string>;
  modules: KernelModule[];
}
