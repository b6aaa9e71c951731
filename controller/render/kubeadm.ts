import { isIP } from 'node:net';
import type { ClusterSpec } from '../../proto/cluster-spec.js';
import { kubeVipAddress } from '../../proto/cluster-spec.js';
import type { NodeRole } from '../../proto/checks.js';
import { KctlError } from '../../proto/errors.js';
import { kubeadmApiVersion, kubeVersion, type KubeadmApiVersion } from './kube-version.js';
import { renderYamlDocuments } from './yaml-documents.js';

export const CRI_SOCKET = 'unix:///var/run/containerd/containerd.sock';
/** Where kubeadm's own default puts it; named so the stand-in and the reset flow agree. */
export const ETCD_DATA_DIR = '/var/lib/etcd';
/** kubeadm waits 4m by default; kube-vip must win its lease before the VIP answers, so allow a little more. */
export const CONTROL_PLANE_HEALTH_TIMEOUT = '5m0s';
export const DISCOVERY_TIMEOUT = '5m0s';
/** The init token only has to outlive init; joins get their own short-lived tokens. */
export const INIT_TOKEN_TTL = '1h0m0s';

const TOKEN = /^[a-z0-9]{6}\.[a-z0-9]{16}$/;
const CERTIFICATE_KEY = /^[0-9a-f]{64}$/;
const CA_CERT_HASH = /^sha256:[0-9a-f]{64}$/;
const DURATION = /^(\d+h)?(\d+m)?(\d+s)?$/;

/** The node a config is rendered for. `HostAssignment` from controller/spec/resolve.ts fits. */
export interface KubeadmNode {
  name: string;
  role: NodeRole;
  /** advertise address; kubeadm picks the default route's when absent */
  address?: string | undefined;
}

export interface InitSecrets {
  /** bootstrap token, [a-z0-9]{6}.[a-z0-9]{16} */
  token: string;
  /** 64 hex characters: the AES key for the uploaded control-plane certificates */
  certificateKey: string;
  /** Go duration, default INIT_TOKEN_TTL */
  tokenTtl?: string;
}

export interface JoinSecrets {
  token: string;
  /** sha256:<64 hex> over the cluster CA's SubjectPublicKeyInfo; at least one */
  caCertHashes: readonly string[];
  /** required for control planes, ignored for workers */
  certificateKey?: string | undefined;
}

/** `host:port`, with IPv6 literals in brackets. */
export function hostPort(host: string, port: number): string {
  return isIP(host) === 6 ? `[${host}]:${port}` : `${host}:${port}`;
}

/**
 * The port each API server listens on. With kube-vip (or no HA) clients reach it directly, so it is
 * the endpoint's port; behind an external load balancer the backends listen on kubeadm's 6443.
 */
export function apiServerBindPort(spec: Pick<ClusterSpec, 'ha' | 'controlPlaneEndpoint'>): number {
  return spec.ha.mode === 'external-lb' ? 6443 : spec.controlPlaneEndpoint.port;
}

type ExtraArgs = Record<string, string> | Array<{ name: string; value: string }>;

/** v1beta3 takes a map, v1beta4 a list of {name, value}; empty means the key is left out. */
function extraArgs(
  api: KubeadmApiVersion,
  args: Readonly<Record<string, string>>,
): { extraArgs?: ExtraArgs } {
  const entries = Object.entries(args);
  if (entries.length === 0) return {};
  if (api === 'kubeadm.k8s.io/v1beta3') return { extraArgs: Object.fromEntries(entries) };
  return { extraArgs: entries.map(([name, value]) => ({ name, value })) };
}

function nodeRegistration(api: KubeadmApiVersion, spec: ClusterSpec, node: KubeadmNode): object {
  // node-ip keeps the kubelet on the advertised network when a host has several; cluster.yaml can override it
  const kubelet = {
    ...(node.address !== undefined ? { 'node-ip': node.address } : {}),
    ...spec.extraArgs.kubelet,
  };
  const args = extraArgs(api, kubelet).extraArgs;
  return {
    name: node.name,
    criSocket: CRI_SOCKET,
    ...(args !== undefined ? { kubeletExtraArgs: args } : {}),
  };
}

function localAPIEndpoint(spec: ClusterSpec, node: KubeadmNode): object {
  return {
    ...(node.address !== undefined ? { advertiseAddress: node.address } : {}),
    bindPort: apiServerBindPort(spec),
  };
}

function requireSecret(ok: boolean, what: string): void {
  // the message names the rule, never the value
  if (!ok) throw new KctlError('invalid_args', `The ${what} is not in kubeadm's format`);
}

/** API server certificate names: the endpoint, the VIP, then cluster.yaml's, without repeats. */
export function apiServerCertSANs(spec: ClusterSpec): string[] {
  const names = [
    spec.controlPlaneEndpoint.host,
    kubeVipAddress(spec),
    spec.controlPlaneEndpoint.address,
    ...spec.certSANs,
  ];
  return [...new Set(names.filter((n): n is string => n !== undefined))];
}

function section(key: string, body: object): Record<string, object> {
  return Object.keys(body).length > 0 ? { [key]: body } : {};
}

export function clusterConfiguration(spec: ClusterSpec): object {
  const api = kubeadmApiVersion(spec.kubernetesVersion);
  const v1beta3 = api === 'kubeadm.k8s.io/v1beta3';
  return {
    apiVersion: api,
    kind: 'ClusterConfiguration',
    clusterName: spec.name,
    kubernetesVersion: kubeVersion(spec.kubernetesVersion).text,
    controlPlaneEndpoint: hostPort(spec.controlPlaneEndpoint.host, spec.controlPlaneEndpoint.port),
    imageRepository: spec.imageRepository,
    networking: {
      dnsDomain: spec.networking.dnsDomain,
      podSubnet: spec.networking.podSubnet,
      serviceSubnet: spec.networking.serviceSubnet,
    },
    apiServer: {
      certSANs: apiServerCertSANs(spec),
      ...extraArgs(api, spec.extraArgs.apiServer),
      ...(v1beta3 ? { timeoutForControlPlane: CONTROL_PLANE_HEALTH_TIMEOUT } : {}),
    },
    ...section('controllerManager', extraArgs(api, spec.extraArgs.controllerManager)),
    ...section('scheduler', extraArgs(api, spec.extraArgs.scheduler)),
    etcd: { local: { dataDir: ETCD_DATA_DIR, ...extraArgs(api, spec.extraArgs.etcd) } },
  };
}

export function kubeletConfiguration(): object {
  return {
    apiVersion: 'kubelet.config.k8s.io/v1beta1',
    kind: 'KubeletConfiguration',
    cgroupDriver: 'systemd',
  };
}

export function kubeProxyConfiguration(spec: ClusterSpec): object {
  const { minor } = kubeVersion(spec.kubernetesVersion);
  const mode = spec.kubeProxy.mode;
  return {
    apiVersion: 'kubeproxy.config.k8s.io/v1alpha1',
    kind: 'KubeProxyConfiguration',
    mode,
    // nftables is alpha before 1.31 and needs its gate
    ...(mode === 'nftables' && minor < 31 ? { featureGates: { NFTablesProxyMode: true } } : {}),
    // ARP-based VIPs need IPVS to stop answering ARP for addresses on kube-ipvs0
    ...(mode === 'ipvs' && spec.ha.mode === 'kube-vip' ? { ipvs: { strictARP: true } } : {}),
  };
}

/**
 * `kubeadm init --config` for the first control plane: InitConfiguration, ClusterConfiguration,
 * KubeletConfiguration and KubeProxyConfiguration. Secrets go into the text and nowhere else.
 */
export function renderKubeadmInit(spec: ClusterSpec, node: KubeadmNode, secrets: InitSecrets): string {
  requireSecret(TOKEN.test(secrets.token), 'bootstrap token');
  requireSecret(CERTIFICATE_KEY.test(secrets.certificateKey), 'certificate key');
  const ttl = secrets.tokenTtl ?? INIT_TOKEN_TTL;
  if (!DURATION.test(ttl) || ttl === '')
    throw new KctlError('invalid_args', `Token TTL "${ttl}" is not a duration like 1h0m0s`);
  if (node.role !== 'control-plane')
    throw new KctlError(
      'invalid_args',
      `Host "${node.name}" is a worker; only a control plane runs kubeadm init`,
    );
  const api = kubeadmApiVersion(spec.kubernetesVersion);
  const init = {
    apiVersion: api,
    kind: 'InitConfiguration',
    bootstrapTokens: [
      {
        token: secrets.token,
        description: 'kctl: kubeadm init',
        ttl,
        usages: ['signing', 'authentication'],
        groups: ['system:bootstrappers:kubeadm:default-node-token'],
      },
    ],
    nodeRegistration: nodeRegistration(api, spec, node),
    localAPIEndpoint: localAPIEndpoint(spec, node),
    certificateKey: secrets.certificateKey,
    ...(api === 'kubeadm.k8s.io/v1beta4'
      ? { timeouts: { controlPlaneComponentHealthCheck: CONTROL_PLANE_HEALTH_TIMEOUT } }
      : {}),
  };
  return renderYamlDocuments([
    init,
    clusterConfiguration(spec),
    kubeletConfiguration(),
    kubeProxyConfiguration(spec),
  ]);
}

/**
 * `kubeadm join --config` for a control plane (with controlPlane.certificateKey) or a worker. The
 * kubelet and kube-proxy settings come from the cluster's ConfigMaps, so only JoinConfiguration is written.
 */
export function renderKubeadmJoin(spec: ClusterSpec, node: KubeadmNode, secrets: JoinSecrets): string {
  requireSecret(TOKEN.test(secrets.token), 'bootstrap token');
  if (secrets.caCertHashes.length === 0)
    throw new KctlError('invalid_args', 'At least one CA certificate hash is needed to join');
  for (const h of secrets.caCertHashes) requireSecret(CA_CERT_HASH.test(h), 'CA certificate hash');
  const controlPlane = node.role === 'control-plane';
  if (controlPlane) {
    if (secrets.certificateKey === undefined)
      throw new KctlError('invalid_args', `Control plane "${node.name}" needs the certificate key to join`);
    requireSecret(CERTIFICATE_KEY.test(secrets.certificateKey), 'certificate key');
  }
  const api = kubeadmApiVersion(spec.kubernetesVersion);
  const v1beta3 = api === 'kubeadm.k8s.io/v1beta3';
  const join = {
    apiVersion: api,
    kind: 'JoinConfiguration',
    nodeRegistration: nodeRegistration(api, spec, node),
    discovery: {
      bootstrapToken: {
        token: secrets.token,
        apiServerEndpoint: hostPort(spec.controlPlaneEndpoint.host, spec.controlPlaneEndpoint.port),
        caCertHashes: [...secrets.caCertHashes],
      },
      ...(v1beta3 ? { timeout: DISCOVERY_TIMEOUT } : {}),
    },
    ...(controlPlane
      ? {
          controlPlane: {
            localAPIEndpoint: localAPIEndpoint(spec, node),
            certificateKey: secrets.certificateKey,
          },
        }
      : {}),
    ...(v1beta3
      ? {}
      : {
          timeouts: {
            discovery: DISCOVERY_TIMEOUT,
            ...(controlPlane ? { controlPlaneComponentHealthCheck: CONTROL_PLANE_HEALTH_TIMEOUT } : {}),
          },
        }),
  };
  return renderYamlDocuments([join]);
}
