import { isIP } from 'node:net';
import { KctlError } from '../../proto/errors.js';
import { kubeadmApiVersion, kubeVersion, type KubeadmApiVersion } from '../../proto/kube-version.js';
import type { InitSecrets, JoinInput, KubeadmInput } from './types.js';
import { renderYamlDocuments } from './yaml-documents.js';

export { kubeadmApiVersion, type KubeadmApiVersion } from '../../proto/kube-version.js';

export const CRI_SOCKET = 'unix:///var/run/containerd/containerd.sock';
/** Where kubeadm's own default puts it; named so the stand-in and the reset flow agree. */
export const ETCD_DATA_DIR = '/var/lib/etcd';
/** kubeadm waits 4m by default; kube-vip must win its lease before the VIP answers, so allow a little more. */
export const CONTROL_PLANE_HEALTH_TIMEOUT = '5m0s';
export const DISCOVERY_TIMEOUT = '5m0s';
/** The init token only has to outlive init; joins get their own short-lived tokens. */
export const INIT_TOKEN_TTL = '1h0m0s';
/** kubeadm's bootstrap token defaults (cluster-bootstrap; kubeadm-facts §8). */
export const BOOTSTRAP_TOKEN_USAGES = ['signing', 'authentication'] as const;
export const BOOTSTRAP_TOKEN_GROUPS = ['system:bootstrappers:kubeadm:default-node-token'] as const;
/** From 1.35 the kubelet refuses cgroup v1 unless told otherwise; kctl says so explicitly (kubespray does too). */
const FAIL_CGROUP_V1_FROM_MINOR = 35;
/** nftables mode is alpha before 1.31 and needs its feature gate there. */
const NFTABLES_BETA_MINOR = 31;

const TOKEN = /^[a-z0-9]{6}\.[a-z0-9]{16}$/;
const CERTIFICATE_KEY = /^[0-9a-f]{64}$/;
const CA_CERT_HASH = /^sha256:[0-9a-f]{64}$/;
const DURATION = /^(?=\d)(\d+h)?(\d+m)?(\d+s)?$/;

/** `host:port`, with IPv6 literals in brackets. */
export function hostPort(host: string, port: number): string {
  return isIP(host) === 6 ? `[${host}]:${port}` : `${host}:${port}`;
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

function nodeRegistration(api: KubeadmApiVersion, input: KubeadmInput): object {
  // node-ip keeps the kubelet on the advertised network when a host has several; extraArgs can override it
  const kubelet = {
    ...(input.advertiseAddress !== undefined ? { 'node-ip': input.advertiseAddress } : {}),
    ...(input.nodeLabels !== undefined ? { 'node-labels': input.nodeLabels } : {}),
    ...input.extraArgs.kubelet,
  };
  const args = extraArgs(api, kubelet).extraArgs;
  return {
    name: input.nodeName,
    criSocket: input.criSocket,
    ...(args !== undefined ? { kubeletExtraArgs: args } : {}),
    // absent means kubeadm's default; [] would mean "no taints at all"
    ...(input.taints !== undefined ? { taints: input.taints.map((t) => ({ ...t })) } : {}),
  };
}

function localAPIEndpoint(input: KubeadmInput): object {
  return {
    ...(input.advertiseAddress !== undefined ? { advertiseAddress: input.advertiseAddress } : {}),
    bindPort: input.bindPort,
  };
}

function requireFormat(ok: boolean, what: string): void {
  // the message names the rule, never the value: these are secrets
  if (!ok) throw new KctlError('invalid_args', `The ${what} is not in kubeadm's format`);
}

function section(key: string, body: object): Record<string, object> {
  return Object.keys(body).length > 0 ? { [key]: body } : {};
}

export function clusterConfiguration(input: KubeadmInput): object {
  const api = kubeadmApiVersion(input.kubernetesVersion);
  const v1beta3 = api === 'kubeadm.k8s.io/v1beta3';
  const certSANs = [...new Set(input.certSANs)];
  return {
    apiVersion: api,
    kind: 'ClusterConfiguration',
    clusterName: input.clusterName,
    kubernetesVersion: kubeVersion(input.kubernetesVersion).text,
    controlPlaneEndpoint: hostPort(input.controlPlaneEndpoint.host, input.controlPlaneEndpoint.port),
    ...(input.imageRepository !== undefined ? { imageRepository: input.imageRepository } : {}),
    networking: {
      dnsDomain: input.dnsDomain,
      podSubnet: input.podSubnet,
      serviceSubnet: input.serviceSubnet,
    },
    apiServer: {
      ...(certSANs.length > 0 ? { certSANs } : {}),
      ...extraArgs(api, input.extraArgs.apiServer),
      ...(v1beta3 ? { timeoutForControlPlane: CONTROL_PLANE_HEALTH_TIMEOUT } : {}),
    },
    ...section('controllerManager', extraArgs(api, input.extraArgs.controllerManager)),
    ...section('scheduler', extraArgs(api, input.extraArgs.scheduler)),
    etcd: etcdSection(api, input),
  };
}

/** Where the API servers find etcd's CA and their client pair: kubeadm's own layout. */
export const EXTERNAL_ETCD_FILES = {
  caFile: '/etc/kubernetes/pki/etcd/ca.crt',
  certFile: '/etc/kubernetes/pki/apiserver-etcd-client.crt',
  keyFile: '/etc/kubernetes/pki/apiserver-etcd-client.key',
} as const;

function etcdSection(api: KubeadmApiVersion, input: KubeadmInput): object {
  if (input.externalEtcd === undefined)
    return { local: { dataDir: ETCD_DATA_DIR, ...extraArgs(api, input.extraArgs.etcd) } };
  if (input.externalEtcd.endpoints.length === 0)
    throw new KctlError('invalid_spec', 'External etcd needs at least one endpoint');
  return { external: { endpoints: [...input.externalEtcd.endpoints], ...EXTERNAL_ETCD_FILES } };
}

/** The kubelet's cgroup driver must match containerd's SystemdCgroup = true. */
export function kubeletConfiguration(kubernetesVersion: string): object {
  const { minor } = kubeVersion(kubernetesVersion);
  return {
    apiVersion: 'kubelet.config.k8s.io/v1beta1',
    kind: 'KubeletConfiguration',
    cgroupDriver: 'systemd',
    ...(minor >= FAIL_CGROUP_V1_FROM_MINOR ? { failCgroupV1: true } : {}),
  };
}

export function kubeProxyConfiguration(
  input: Pick<KubeadmInput, 'kubernetesVersion' | 'kubeProxyMode' | 'kubeVip'>,
): object {
  const { minor } = kubeVersion(input.kubernetesVersion);
  const mode = input.kubeProxyMode;
  return {
    apiVersion: 'kubeproxy.config.k8s.io/v1alpha1',
    kind: 'KubeProxyConfiguration',
    mode,
    ...(mode === 'nftables' && minor < NFTABLES_BETA_MINOR
      ? { featureGates: { NFTablesProxyMode: true } }
      : {}),
    // ARP-based VIPs need IPVS to stop answering ARP for the addresses it puts on kube-ipvs0
    ...(mode === 'ipvs' && input.kubeVip ? { ipvs: { strictARP: true } } : {}),
  };
}

/**
 * `kubeadm init --config` for the first control plane: InitConfiguration, ClusterConfiguration,
 * KubeletConfiguration and KubeProxyConfiguration. The secrets go into the text and nowhere else.
 */
export function renderKubeadmInit(input: KubeadmInput, secrets: InitSecrets): string {
  requireFormat(TOKEN.test(secrets.token), 'bootstrap token');
  requireFormat(CERTIFICATE_KEY.test(secrets.certificateKey), 'certificate key');
  const ttl = secrets.tokenTtl ?? INIT_TOKEN_TTL;
  if (!DURATION.test(ttl))
    throw new KctlError('invalid_args', `Token TTL "${ttl}" is not a duration like 1h0m0s`);
  const api = kubeadmApiVersion(input.kubernetesVersion);
  const init = {
    apiVersion: api,
    kind: 'InitConfiguration',
    bootstrapTokens: [
      {
        token: secrets.token,
        description: 'kctl: kubeadm init',
        ttl,
        usages: [...BOOTSTRAP_TOKEN_USAGES],
        groups: [...BOOTSTRAP_TOKEN_GROUPS],
      },
    ],
    nodeRegistration: nodeRegistration(api, input),
    localAPIEndpoint: localAPIEndpoint(input),
    certificateKey: secrets.certificateKey,
    ...(api === 'kubeadm.k8s.io/v1beta4'
      ? { timeouts: { controlPlaneComponentHealthCheck: CONTROL_PLANE_HEALTH_TIMEOUT } }
      : {}),
  };
  return renderYamlDocuments([
    init,
    clusterConfiguration(input),
    kubeletConfiguration(input.kubernetesVersion),
    kubeProxyConfiguration(input),
  ]);
}

/**
 * `kubeadm join --config` for a control plane (controlPlane with the certificate key) or a worker.
 * The kubelet and kube-proxy settings come from the cluster's ConfigMaps, so only JoinConfiguration
 * is written.
 */
export function renderKubeadmJoin(input: KubeadmInput, join: JoinInput): string {
  requireFormat(TOKEN.test(join.token), 'bootstrap token');
  if (join.caCertHashes.length === 0)
    throw new KctlError('invalid_args', 'At least one CA certificate hash is needed to join');
  for (const h of join.caCertHashes) requireFormat(CA_CERT_HASH.test(h), 'CA certificate hash');
  if (join.controlPlane) {
    if (join.certificateKey === undefined)
      throw new KctlError(
        'invalid_args',
        `Control plane "${input.nodeName}" needs the certificate key to join`,
      );
    requireFormat(CERTIFICATE_KEY.test(join.certificateKey), 'certificate key');
  }
  const api = kubeadmApiVersion(input.kubernetesVersion);
  const v1beta3 = api === 'kubeadm.k8s.io/v1beta3';
  const config = {
    apiVersion: api,
    kind: 'JoinConfiguration',
    nodeRegistration: nodeRegistration(api, input),
    discovery: {
      bootstrapToken: {
        token: join.token,
        apiServerEndpoint: hostPort(input.controlPlaneEndpoint.host, input.controlPlaneEndpoint.port),
        caCertHashes: [...join.caCertHashes],
      },
      ...(v1beta3 ? { timeout: DISCOVERY_TIMEOUT } : {}),
    },
    ...(join.controlPlane
      ? { controlPlane: { localAPIEndpoint: localAPIEndpoint(input), certificateKey: join.certificateKey } }
      : {}),
    ...(v1beta3
      ? {}
      : {
          timeouts: {
            discovery: DISCOVERY_TIMEOUT,
            ...(join.controlPlane ? { controlPlaneComponentHealthCheck: CONTROL_PLANE_HEALTH_TIMEOUT } : {}),
          },
        }),
  };
  return renderYamlDocuments([config]);
}
