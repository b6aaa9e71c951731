import { isIP } from 'node:net';
import { z } from 'zod';
import { HostRole, KubeProxyMode } from './checks.js';
import { ImagesSpec } from './images.js';
import { NodeLabelsSpec, TaintText } from './node-labels.js';
import {
  Dns1123Label,
  Dns1123Subdomain,
  FlagValue,
  HttpUrl,
  HttpsUrl,
  InterfaceName,
  K8sLabels,
  OneLineText,
} from './validators.js';

/**
 * Kubernetes minors kctl installs. 1.29 is the floor: pkgs.k8s.io only has 1.24+, kube-vip needs
 * super-admin.conf from 1.29, and older minors are out of upstream support. 1.35 is the newest
 * minor whose kubeadm still reads v1beta3 (removed in 1.36), and the newest one checked here.
 */
export const SUPPORTED_MINORS = { min: 29, max: 35 } as const;

/** containerd release lines kctl writes a config for: 1.x gets config version 2, 2.x version 3. */
export const ContainerdVersion = z.enum(['1.6', '1.7', '2.0', '2.1', '2.2']);
export type ContainerdVersion = z.infer<typeof ContainerdVersion>;

const Name = Dns1123Label;
const HostName = Dns1123Subdomain;
const IpAddress = z
  .string()
  .max(64)
  .refine((s) => isIP(s) !== 0, 'must be an IPv4 or IPv6 address');
const HostOrIp = z
  .string()
  .min(1)
  .max(253)
  .refine(
    (s) => isIP(s) !== 0 || HostName.safeParse(s).success,
    'must be an IP address or a lowercase DNS name',
  );
const Version = z.string().regex(/^v\d+\.\d+\.\d+$/, 'must be a full version like v1.31.2');
const Cidr = z.string().regex(/^[0-9a-fA-F.:]+\/\d{1,3}$/, 'must be a CIDR like 10.244.0.0/16');
const Labels = K8sLabels;
/**
 * flag name (no leading dashes) -> value; YAML numbers and booleans are taken as their text. A
 * value is printable ASCII without spaces, quotes, backslashes or `$(` (validators.ts, FlagValue).
 */
const ExtraArgs = z.record(
  z
    .string()
    .max(128)
    .regex(/^[a-z0-9][a-z0-9-]*$/, 'must be a flag name without dashes'),
  z.union([FlagValue, z.number(), z.boolean()]).transform(String),
);
/** Parsed with the WHATWG URL parser here, so a plan never meets an URL it cannot read. */
const Url = HttpUrl;
/** A registry as containerd names its certs.d directory: host[:port], or _default for all. */
const RegistryHost = z
  .string()
  .regex(/^(_default|[a-z0-9]([-a-z0-9.]*[a-z0-9])?(:\d{1,5})?)$/, 'must be a registry host like docker.io');

/**
 * The repository signing key's primary fingerprint as `gpg --show-keys` prints it (spaces allowed):
 * hosts refuse a fetched key that is not this one.
 */
const KeyFingerprint = z
  .string()
  .regex(
    /^(?:[0-9A-Fa-f]\s*){40}(?:(?:[0-9A-Fa-f]\s*){24})?$/,
    'must be a 40 or 64 hex digit key fingerprint',
  );
/** The cluster.yaml field a refused key names. */
export const KEY_FINGERPRINT_FIELD = 'packages.keyFingerprint';

export const HostSelector = z
  .strictObject({
    /** one host by its enrolled name */
    name: HostName.optional(),
    /** or every host whose labels include all of these */
    selector: Labels.optional(),
    role: HostRole,
    /** the address the node advertises; only with `name`. Default: the host's first usable IP. */
    address: IpAddress.optional(),
    /** labels and taints kctl gives the node (`key[=value]:Effect`), at join and on every apply after */
    nodeLabels: NodeLabelsSpec.optional(),
    nodeTaints: z.array(TaintText).max(32).optional(),
    /** control planes only: true removes kubeadm's node-role.kubernetes.io/control-plane:NoSchedule taint */
    schedulable: z.boolean().optional(),
  })
  .refine((h) => (h.name === undefined) !== (h.selector === undefined), {
    message: 'give exactly one of name or selector',
  })
  .refine((h) => h.address === undefined || h.name !== undefined, {
    message: 'address is only allowed with name',
    path: ['address'],
  });
export type HostSelector = z.infer<typeof HostSelector>;

const PemCertificate = z
  .string()
  .includes('BEGIN CERTIFICATE')
  .max(64 * 1024);

/**
 * Where the cluster's etcd runs. `stacked`: kubeadm's etcd.local on every control plane. `managed`:
 * kctl installs etcd on the hosts with role etcd, with its own etcd CA (kept on the controller),
 * and kubeadm gets etcd.external. `external`: an existing etcd cluster kctl only points kubeadm at.
 */
export const EtcdSpec = z.discriminatedUnion('mode', [
  z.strictObject({ mode: z.literal('stacked') }),
  z.strictObject({ mode: z.literal('managed') }),
  z.strictObject({
    mode: z.literal('external'),
    /** the members' client URLs, e.g. https://10.0.0.21:2379 */
    endpoints: z.array(HttpsUrl).min(1).max(16),
    /** PEM: the CA that signed the members' serving certificates (to /etc/kubernetes/pki/etcd/ca.crt) */
    caCert: PemCertificate,
    /** PEM: the API servers' client certificate (to /etc/kubernetes/pki/apiserver-etcd-client.crt) */
    clientCert: PemCertificate,
    /** PEM: its private key, written 0600 (to /etc/kubernetes/pki/apiserver-etcd-client.key) */
    clientKey: z
      .string()
      .regex(/-----BEGIN ([A-Z]+ )?PRIVATE KEY-----/, 'must be a PEM private key')
      .max(16 * 1024),
  }),
]);
export type EtcdSpec = z.infer<typeof EtcdSpec>;

export const ClusterSpec = z.strictObject({
  apiVersion: z.literal('kctl.dev/v1alpha1'),
  kind: z.literal('Cluster'),
  name: Name,
  kubernetesVersion: Version,
  controlPlaneEndpoint: z.strictObject({
    /** the VIP (kube-vip), the load balancer's name or address, or a DNS name */
    host: HostOrIp,
    port: z.number().int().min(1).max(65535).default(6443),
    /** when host is a name without DNS: the address every host maps it to in /etc/hosts */
    address: IpAddress.optional(),
  }),
  ha: z
    .discriminatedUnion('mode', [
      z.strictObject({
        mode: z.literal('kube-vip'),
        /** interface kube-vip answers ARP on, e.g. eth0 */
        interface: InterfaceName,
        /** the address kube-vip holds; defaults to controlPlaneEndpoint.host when that is an IP */
        vip: IpAddress.optional(),
      }),
      /**
       * HAProxy and keepalived on the control planes themselves (kubeadm's HA guide, "keepalived and
       * haproxy as services"), or on the hosts with role lb when there are any: keepalived holds `vip`
       * (VRRP, unicast peers), HAProxy on the VIP at controlPlaneEndpoint.port forwards to every API
       * server on 6443. On the control planes that port must differ from 6443.
       */
      z.strictObject({
        mode: z.literal('haproxy-keepalived'),
        /** interface keepalived adds the VIP to and sends VRRP from, e.g. eth0 */
        interface: InterfaceName,
        /** the address keepalived holds; controlPlaneEndpoint.host is this address or a name for it */
        vip: IpAddress,
        /** the VRRP router id, unique on the network segment */
        virtualRouterId: z.number().int().min(1).max(255).default(51),
      }),
      z.strictObject({ mode: z.literal('external-lb') }),
      z.strictObject({ mode: z.literal('none') }),
    ])
    .default({ mode: 'none' }),
  etcd: EtcdSpec.default({ mode: 'stacked' }),
  networking: z
    .strictObject({
      podSubnet: Cidr.default('10.244.0.0/16'),
      serviceSubnet: Cidr.default('10.96.0.0/12'),
      dnsDomain: HostName.default('cluster.local'),
    })
    .default({ podSubnet: '10.244.0.0/16', serviceSubnet: '10.96.0.0/12', dnsDomain: 'cluster.local' }),
  kubeProxy: z.strictObject({ mode: KubeProxyMode.default('iptables') }).default({ mode: 'iptables' }),
  cni: z
    .strictObject({
      plugin: z.enum(['calico', 'flannel', 'none']).default('calico'),
      /** the manifest kctl applies; a path relative to cluster.yaml, read by kctl */
      manifest: OneLineText(4096).optional(),
      /** the plugin version the manifest carries; shown in plans, never downloaded */
      version: z
        .string()
        .regex(/^v?\d+\.\d+(\.\d+)?$/, 'must be a version like v3.28.2')
        .optional(),
      calico: z.strictObject({ ipAutodetectionMethod: FlagValue.max(256).default('first-found') }).optional(),
      /** pod interface MTU for kctl's templates; the plugin detects it when absent */
      mtu: z.number().int().min(1280).max(9000).optional(),
    })
    .default({ plugin: 'calico' }),
  runtime: z
    .strictObject({
      containerd: z
        .strictObject({
          /** the containerd release line on the hosts: 1.x gets config version 2, 2.x version 3 */
          version: ContainerdVersion.default('1.7'),
          registryMirrors: z.record(RegistryHost, z.array(Url).min(1).max(16)).default({}),
          /** PEM CA bundles by registry host, written to /etc/containerd/certs.d/<registry>/ca.crt */
          registryCAs: z
            .record(
              RegistryHost,
              z
                .string()
                .includes('BEGIN CERTIFICATE')
                .max(64 * 1024),
            )
            .default({}),
          /**
           * Registries and mirrors (host[:port]) containerd may reach without verifying TLS: an
           * http:// mirror URL or registry is plain http, an https:// mirror gets skip_verify
           */
          insecureRegistries: z.array(RegistryHost).max(32).optional(),
        })
        .default({ version: '1.7', registryMirrors: {}, registryCAs: {} }),
    })
    .default({ containerd: { version: '1.7', registryMirrors: {}, registryCAs: {} } }),
  packages: z
    .discriminatedUnion('source', [
      z.strictObject({ source: z.literal('upstream'), keyFingerprint: KeyFingerprint.optional() }),
      /**
       * a mirror of pkgs.k8s.io: `url` replaces https://pkgs.k8s.io, the path below it is kept; https,
       * since the hosts fetch the signing key from it
       */
      z.strictObject({
        source: z.literal('mirror'),
        url: HttpsUrl,
        keyFingerprint: KeyFingerprint.optional(),
      }),
      z.strictObject({ source: z.literal('bundle') }),
      /** golden images: containerd and the kube packages are already on the hosts; kctl installs nothing */
      z.strictObject({ source: z.literal('preinstalled') }),
    ])
    .default({ source: 'upstream' }),
  imageRepository: z
    .string()
    .regex(/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?(:\d{1,5})?(\/[a-z0-9._-]+)*$/, 'must be a registry path')
    .max(253)
    .default('registry.k8s.io'),
  /** per-image overrides of the images kctl deploys itself (proto/images.ts) */
  images: ImagesSpec.default({ overrides: {} }),
  certSANs: z.array(HostOrIp).max(64).default([]),
  extraArgs: z
    .strictObject({
      apiServer: ExtraArgs.default({}),
      controllerManager: ExtraArgs.default({}),
      scheduler: ExtraArgs.default({}),
      etcd: ExtraArgs.default({}),
      kubelet: ExtraArgs.default({}),
    })
    .default({ apiServer: {}, controllerManager: {}, scheduler: {}, etcd: {}, kubelet: {} }),
  /** how many hosts parallel phases (preflight, prepare, workers) touch at once */
  rollout: z
    .strictObject({
      /** hosts prepared at once, and new workers joined at once */
      concurrency: z.number().int().min(1).max(500).default(10),
      /** workers drained and upgraded at once during an upgrade (control planes go one at a time) */
      maxUnavailable: z.number().int().min(1).max(500).default(1),
    })
    .default({ concurrency: 10, maxUnavailable: 1 }),
  hosts: z.array(HostSelector).min(1, 'at least one host entry is needed').max(10_000),
});
export type ClusterSpec = z.infer<typeof ClusterSpec>;
export type ClusterSpecInput = z.input<typeof ClusterSpec>;

export interface SpecIssue {
  /** dotted path into cluster.yaml, e.g. hosts[2].role */
  path: string;
  message: string;
}

/** The address kube-vip announces: ha.vip, else controlPlaneEndpoint.host when that is an IP. */
export function kubeVipAddress(spec: Pick<ClusterSpec, 'ha' | 'controlPlaneEndpoint'>): string | undefined {
  if (spec.ha.mode !== 'kube-vip') return undefined;
  if (spec.ha.vip !== undefined) return spec.ha.vip;
  return isIP(spec.controlPlaneEndpoint.host) !== 0 ? spec.controlPlaneEndpoint.host : undefined;
}

/** The VIP kctl makes a host hold, whichever HA mode holds it (kube-vip or keepalived). */
export function haVipAddress(spec: Pick<ClusterSpec, 'ha' | 'controlPlaneEndpoint'>): string | undefined {
  return spec.ha.mode === 'haproxy-keepalived' ? spec.ha.vip : kubeVipAddress(spec);
}
