import { stringify as toYaml } from 'yaml';
import type { Arg } from './kubeadm-types.js';
import { serviceIps, type Component, type ResolvedCluster } from './cluster-params.js';
import { joinHostPort } from './k8s-values.js';

/**
 * What kubeadm writes on a node besides certificates and kubeconfigs: the control-plane static pod
 * manifests, /var/lib/kubelet/config.yaml and /var/lib/kubelet/kubeadm-flags.env. Pure renderers.
 */

export const MANIFESTS_DIR = '/etc/kubernetes/manifests';
export const STATIC_POD_NAMES = [
  'kube-apiserver',
  'kube-controller-manager',
  'kube-scheduler',
  'etcd',
] as const;

export interface NodeParams {
  nodeName: string;
  advertiseAddress: string;
  bindPort: number;
}

/** kubeadm's ArgumentsToCommand: extra args replace defaults of the same name; the result is sorted. */
export function mergeArgs(defaults: Record<string, string>, extra: readonly Arg[]): string[] {
  const overridden = new Set(extra.map((a) => a.name));
  const all: Arg[] = [
    ...Object.entries(defaults)
      .filter(([name]) => !overridden.has(name))
      .map(([name, value]) => ({ name, value })),
    ...extra,
  ];
  return all
    .map((a, i) => ({ a, i }))
    .sort((x, y) => (x.a.name === y.a.name ? x.i - y.i : x.a.name < y.a.name ? -1 : 1))
    .map(({ a }) => `--${a.name}=${a.value}`);
}

interface Volume {
  name: string;
  hostPath: string;
  mountPath?: string;
  type: string;
  readOnly: boolean;
}

const CA_VOLUMES: Volume[] = [
  { name: 'ca-certs', hostPath: '/etc/ssl/certs', type: 'DirectoryOrCreate', readOnly: true },
  {
    name: 'etc-ca-certificates',
    hostPath: '/etc/ca-certificates',
    type: 'DirectoryOrCreate',
    readOnly: true,
  },
  {
    name: 'usr-local-share-ca-certificates',
    hostPath: '/usr/local/share/ca-certificates',
    type: 'DirectoryOrCreate',
    readOnly: true,
  },
  {
    name: 'usr-share-ca-certificates',
    hostPath: '/usr/share/ca-certificates',
    type: 'DirectoryOrCreate',
    readOnly: true,
  },
];

function staticPod(options: {
  name: string;
  image: string;
  command: string[];
  volumes: Volume[];
  extraVolumes: Component['extraVolumes'];
  annotations?: Record<string, string>;
  probe: { host: string; port: number; path: string; scheme: 'HTTP' | 'HTTPS' };
  cpu: string;
}): string {
  const volumes = [
    ...options.volumes,
    ...options.extraVolumes.map((v): Volume => ({
      name: v.name,
      hostPath: v.hostPath,
      mountPath: v.mountPath,
      type: v.pathType ?? '',
      readOnly: v.readOnly ?? false,
    })),
  ].sort((a, b) => (a.name < b.name ? -1 : 1));
  const probe = (path: string, failureThreshold: number) => ({
    failureThreshold,
    httpGet: { host: options.probe.host, path, port: options.probe.port, scheme: options.probe.scheme },
    initialDelaySeconds: 10,
    periodSeconds: 10,
    timeoutSeconds: 15,
  });
  const pod = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      ...(options.annotations ? { annotations: options.annotations } : {}),
      labels: { component: options.name, tier: 'control-plane' },
      name: options.name,
      namespace: 'kube-system',
    },
    spec: {
      containers: [
        {
          command: options.command,
          image: options.image,
          imagePullPolicy: 'IfNotPresent',
          livenessProbe: probe(options.probe.path, 8),
          name: options.name,
          resources: { requests: { cpu: options.cpu } },
          startupProbe: probe(options.probe.path, 24),
          volumeMounts: volumes.map((v) => ({
            mountPath: v.mountPath ?? v.hostPath,
            name: v.name,
            readOnly: v.readOnly,
          })),
        },
      ],
      hostNetwork: true,
      priority: 2000001000,
      priorityClassName: 'system-node-critical',
      securityContext: { seccompProfile: { type: 'RuntimeDefault' } },
      volumes: volumes.map((v) => ({ hostPath: { path: v.hostPath, type: v.type }, name: v.name })),
    },
    status: {},
  };
  return toYaml(pod);
}

/** Manifests by file name (kube-apiserver.yaml, ...) for a control-plane node. */
export function renderStaticPods(
  cluster: ResolvedCluster,
  node: NodeParams,
  etcdCluster: { initialCluster: string; state: 'new' | 'existing' },
): Record<string, string> {
  const pki = cluster.certificatesDir;
  const r = cluster.imageRepository;
  const v = cluster.kubernetesVersion;
  const local = cluster.etcd.kind === 'local';
  const etcdArgs: Record<string, string> =
    cluster.etcd.kind === 'local'
      ? {
          'etcd-cafile': `${pki}/etcd/ca.crt`,
          'etcd-certfile': `${pki}/apiserver-etcd-client.crt`,
          'etcd-keyfile': `${pki}/apiserver-etcd-client.key`,
          'etcd-servers': 'https://127.0.0.1:2379',
        }
      : {
          'etcd-servers': cluster.etcd.endpoints.join(','),
          ...(cluster.etcd.caFile ? { 'etcd-cafile': cluster.etcd.caFile } : {}),
          ...(cluster.etcd.certFile ? { 'etcd-certfile': cluster.etcd.certFile } : {}),
          ...(cluster.etcd.keyFile ? { 'etcd-keyfile': cluster.etcd.keyFile } : {}),
        };
  const pkiVolume: Volume = { name: 'k8s-certs', hostPath: pki, type: 'DirectoryOrCreate', readOnly: true };
  const out: Record<string, string> = {};
  out['kube-apiserver.yaml'] = staticPod({
    name: 'kube-apiserver',
    image: `${r}/kube-apiserver:${v}`,
    command: [
      'kube-apiserver',
      ...mergeArgs(
        {
          'advertise-address': node.advertiseAddress,
          'allow-privileged': 'true',
          'authorization-mode': 'Node,RBAC',
          'client-ca-file': `${pki}/ca.crt`,
          'enable-admission-plugins': 'NodeRestriction',
          'enable-bootstrap-token-auth': 'true',
          ...etcdArgs,
          'kubelet-client-certificate': `${pki}/apiserver-kubelet-client.crt`,
          'kubelet-client-key': `${pki}/apiserver-kubelet-client.key`,
          'kubelet-preferred-address-types': 'InternalIP,ExternalIP,Hostname',
          'proxy-client-cert-file': `${pki}/front-proxy-client.crt`,
          'proxy-client-key-file': `${pki}/front-proxy-client.key`,
          'requestheader-allowed-names': 'front-proxy-client',
          'requestheader-client-ca-file': `${pki}/front-proxy-ca.crt`,
          'requestheader-extra-headers-prefix': 'X-Remote-Extra-',
          'requestheader-group-headers': 'X-Remote-Group',
          'requestheader-username-headers': 'X-Remote-User',
          'secure-port': String(node.bindPort),
          'service-account-issuer': `https://kubernetes.default.svc.${cluster.dnsDomain}`,
          'service-account-key-file': `${pki}/sa.pub`,
          'service-account-signing-key-file': `${pki}/sa.key`,
          'service-cluster-ip-range': cluster.serviceSubnet,
          'tls-cert-file': `${pki}/apiserver.crt`,
          'tls-private-key-file': `${pki}/apiserver.key`,
        },
        cluster.apiServer.extraArgs,
      ),
    ],
    volumes: [...CA_VOLUMES, pkiVolume],
    extraVolumes: cluster.apiServer.extraVolumes,
    annotations: {
      'kubeadm.kubernetes.io/kube-apiserver.advertise-address.endpoint': joinHostPort(
        node.advertiseAddress,
        node.bindPort,
      ),
    },
    probe: { host: node.advertiseAddress, port: node.bindPort, path: '/livez', scheme: 'HTTPS' },
    cpu: '250m',
  });
  const cmConf = '/etc/kubernetes/controller-manager.conf';
  out['kube-controller-manager.yaml'] = staticPod({
    name: 'kube-controller-manager',
    image: `${r}/kube-controller-manager:${v}`,
    command: [
      'kube-controller-manager',
      ...mergeArgs(
        {
          ...(cluster.podSubnet ? { 'allocate-node-cidrs': 'true', 'cluster-cidr': cluster.podSubnet } : {}),
          'authentication-kubeconfig': cmConf,
          'authorization-kubeconfig': cmConf,
          'bind-address': '127.0.0.1',
          'client-ca-file': `${pki}/ca.crt`,
          'cluster-name': cluster.clusterName,
          'cluster-signing-cert-file': `${pki}/ca.crt`,
          'cluster-signing-key-file': `${pki}/ca.key`,
          controllers: '*,bootstrapsigner,tokencleaner',
          kubeconfig: cmConf,
          'leader-elect': 'true',
          'requestheader-client-ca-file': `${pki}/front-proxy-ca.crt`,
          'root-ca-file': `${pki}/ca.crt`,
          'service-account-private-key-file': `${pki}/sa.key`,
          'service-cluster-ip-range': cluster.serviceSubnet,
          'use-service-account-credentials': 'true',
        },
        cluster.controllerManager.extraArgs,
      ),
    ],
    volumes: [
      ...CA_VOLUMES,
      pkiVolume,
      {
        name: 'flexvolume-dir',
        hostPath: '/usr/libexec/kubernetes/kubelet-plugins/volume/exec',
        type: 'DirectoryOrCreate',
        readOnly: false,
      },
      { name: 'kubeconfig', hostPath: cmConf, type: 'FileOrCreate', readOnly: true },
    ],
    extraVolumes: cluster.controllerManager.extraVolumes,
    probe: { host: '127.0.0.1', port: 10257, path: '/healthz', scheme: 'HTTPS' },
    cpu: '200m',
  });
  const schedConf = '/etc/kubernetes/scheduler.conf';
  out['kube-scheduler.yaml'] = staticPod({
    name: 'kube-scheduler',
    image: `${r}/kube-scheduler:${v}`,
    command: [
      'kube-scheduler',
      ...mergeArgs(
        {
          'authentication-kubeconfig': schedConf,
          'authorization-kubeconfig': schedConf,
          'bind-address': '127.0.0.1',
          kubeconfig: schedConf,
          'leader-elect': 'true',
        },
        cluster.scheduler.extraArgs,
      ),
    ],
    volumes: [{ name: 'kubeconfig', hostPath: schedConf, type: 'FileOrCreate', readOnly: true }],
    extraVolumes: cluster.scheduler.extraVolumes,
    probe: { host: '127.0.0.1', port: 10259, path: '/healthz', scheme: 'HTTPS' },
    cpu: '100m',
  });
  if (local && cluster.etcd.kind === 'local') {
    const ip = node.advertiseAddress;
    const client = `https://${joinHostPort(ip, 2379)}`;
    const peer = `https://${joinHostPort(ip, 2380)}`;
    out['etcd.yaml'] = staticPod({
      name: 'etcd',
      image: cluster.etcd.image,
      command: [
        'etcd',
        ...mergeArgs(
          {
            'advertise-client-urls': client,
            'cert-file': `${pki}/etcd/server.crt`,
            'client-cert-auth': 'true',
            'data-dir': cluster.etcd.dataDir,
            'experimental-initial-corrupt-check': 'true',
            'experimental-watch-progress-notify-interval': '5s',
            'initial-advertise-peer-urls': peer,
            'initial-cluster': etcdCluster.initialCluster,
            ...(etcdCluster.state === 'existing' ? { 'initial-cluster-state': 'existing' } : {}),
            'key-file': `${pki}/etcd/server.key`,
            'listen-client-urls': `https://127.0.0.1:2379,${client}`,
            'listen-metrics-urls': 'http://127.0.0.1:2381',
            'listen-peer-urls': peer,
            name: node.nodeName,
            'peer-cert-file': `${pki}/etcd/peer.crt`,
            'peer-client-cert-auth': 'true',
            'peer-key-file': `${pki}/etcd/peer.key`,
            'peer-trusted-ca-file': `${pki}/etcd/ca.crt`,
            'snapshot-count': '10000',
            'trusted-ca-file': `${pki}/etcd/ca.crt`,
          },
          cluster.etcd.extraArgs,
        ),
      ],
      volumes: [
        { name: 'etcd-certs', hostPath: `${pki}/etcd`, type: 'DirectoryOrCreate', readOnly: false },
        { name: 'etcd-data', hostPath: cluster.etcd.dataDir, type: 'DirectoryOrCreate', readOnly: false },
      ],
      extraVolumes: [],
      annotations: { 'kubeadm.kubernetes.io/etcd.advertise-client-urls': client },
      probe: { host: '127.0.0.1', port: 2381, path: '/livez', scheme: 'HTTP' },
      cpu: '100m',
    });
  }
  return out;
}

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

function deepMerge(base: Json, over: Json): Json {
  const out: Json = { ...base };
  for (const [k, v] of Object.entries(over)) {
    const b = out[k];
    out[k] = isObject(b) && isObject(v) ? deepMerge(b, v) : v;
  }
  return out;
}

/** The KubeletConfiguration kubeadm stores in kubelet-config and writes to /var/lib/kubelet/config.yaml. */
export function defaultedKubeletConfiguration(user: Json | undefined, cluster: ResolvedCluster): Json {
  const defaults: Json = {
    apiVersion: 'kubelet.config.k8s.io/v1beta1',
    kind: 'KubeletConfiguration',
    authentication: {
      anonymous: { enabled: false },
      webhook: { cacheTTL: '0s', enabled: true },
      x509: { clientCAFile: `${cluster.certificatesDir}/ca.crt` },
    },
    authorization: { mode: 'Webhook', webhook: { cacheAuthorizedTTL: '0s', cacheUnauthorizedTTL: '0s' } },
    cgroupDriver: 'systemd',
    clusterDNS: [serviceIps(cluster).dns],
    clusterDomain: cluster.dnsDomain,
    containerRuntimeEndpoint: '',
    healthzBindAddress: '127.0.0.1',
    healthzPort: 10248,
    rotateCertificates: true,
    staticPodPath: MANIFESTS_DIR,
  };
  return deepMerge(defaults, user ?? {});
}

export function defaultedKubeProxyConfiguration(user: Json | undefined, cluster: ResolvedCluster): Json {
  const defaults: Json = {
    apiVersion: 'kubeproxy.config.k8s.io/v1alpha1',
    kind: 'KubeProxyConfiguration',
    bindAddress: '0.0.0.0',
    clientConnection: { kubeconfig: '/var/lib/kube-proxy/kubeconfig.conf' },
    ...(cluster.podSubnet ? { clusterCIDR: cluster.podSubnet } : {}),
    mode: '',
  };
  return deepMerge(defaults, user ?? {});
}

export function renderKubeletConfigYaml(config: Json): string {
  return toYaml(config);
}

/** KUBELET_KUBEADM_ARGS: the CRI endpoint, a hostname override when the node name differs, and kubeletExtraArgs. */
export function renderKubeletFlags(options: {
  criSocket: string;
  nodeName: string;
  hostname: string;
  extraArgs: readonly Arg[];
}): string {
  const defaults: Record<string, string> = {
    'container-runtime-endpoint': options.criSocket,
    ...(options.nodeName !== options.hostname ? { 'hostname-override': options.nodeName } : {}),
  };
  return `KUBELET_KUBEADM_ARGS="${mergeArgs(defaults, options.extraArgs).join(' ')}"\n`;
}
