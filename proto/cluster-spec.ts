import { z } from 'zod';
import { KubeProxyMode, NodeRole } from './checks.js';

/** Kubernetes minors kctl installs: pkgs.k8s.io has 1.24+, super-admin.conf exists from 1.29, v1beta3 goes in 1.36. */
export const SUPPORTED_MINORS = { min: 29, max: 35 } as const;

const Name = z
  .string()
  .regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, 'must be a lowercase RFC 1123 label')
  .max(63);
const HostName = z
  .string()
  .max(253)
  .regex(
    /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/,
    'must be a lowercase RFC 1123 host name',
  );
const Version = z.string().regex(/^v\d+\.\d+\.\d+$/, 'must be a full version like v1.31.2');
const Cidr = z.string().regex(/^[0-9a-fA-F.:]+\/\d{1,3}$/, 'must be a CIDR like 10.244.0.0/16');
const Labels = z.record(z.string().regex(/^[a-z0-9][a-z0-9._/-]{0,62}$/), z.string().max(63));
const ExtraArgs = z.record(
  z.string().regex(/^[a-z0-9][a-z0-9-]*$/, 'must be a flag name without dashes'),
  z.string().max(1024),
);
const Url = z.string().regex(/^https?:\/\/[^\s]+$/, 'must be an http(s) URL');

export const HostSelector = z
  .strictObject({
    /** one host by its enrolled name */
    name: HostName.optional(),
    /** or every host whose labels include all of these */
    selector: Labels.optional(),
    role: NodeRole,
  })
  .refine((h) => (h.name === undefined) !== (h.selector === undefined), {
    message: 'give exactly one of name or selector',
  });
export type HostSelector = z.infer<typeof HostSelector>;

export const ClusterSpec = z.strictObject({
  apiVersion: z.literal('kctl.dev/v1alpha1'),
  kind: z.literal('Cluster'),
  name: Name,
  kubernetesVersion: Version,
  controlPlaneEndpoint: z.strictObject({
    /** the VIP (kube-vip), the load balancer's name or address, or a DNS name */
    host: z.string().min(1).max(253),
    port: z.number().int().min(1).max(65535).default(6443),
    /** when host is a name without DNS: the address every host maps it to in /etc/hosts */
    address: z.string().max(64).optional(),
  }),
  ha: z
    .discriminatedUnion('mode', [
      z.strictObject({
        mode: z.literal('kube-vip'),
        /** interface kube-vip answers ARP on, e.g. eth0 */
        interface: z.string().regex(/^[a-zA-Z0-9._-]{1,15}$/, 'must be a network interface name'),
      }),
      z.strictObject({ mode: z.literal('external-lb') }),
      z.strictObject({ mode: z.literal('none') }),
    ])
    .default({ mode: 'none' }),
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
      manifest: z.string().max(4096).optional(),
      calico: z
        .strictObject({ ipAutodetectionMethod: z.string().max(256).default('first-found') })
        .optional(),
    })
    .default({ plugin: 'calico' }),
  runtime: z
    .strictObject({
      containerd: z
        .strictObject({
          /** the major line on the hosts: 1 (config version 2) or 2 (config version 3) */
          major: z.union([z.literal(1), z.literal(2)]).default(1),
          registryMirrors: z.record(z.string().max(253), z.array(Url).min(1).max(16)).default({}),
          /** PEM CA bundles by registry host, written to /etc/containerd/certs.d/<registry>/ca.crt */
          registryCAs: z
            .record(
              z.string().max(253),
              z
                .string()
                .includes('BEGIN CERTIFICATE')
                .max(64 * 1024),
            )
            .default({}),
        })
        .default({ major: 1, registryMirrors: {}, registryCAs: {} }),
    })
    .default({ containerd: { major: 1, registryMirrors: {}, registryCAs: {} } }),
  packages: z
    .discriminatedUnion('source', [
      z.strictObject({ source: z.literal('upstream') }),
      z.strictObject({ source: z.literal('mirror'), url: Url }),
      z.strictObject({ source: z.literal('bundle') }),
    ])
    .default({ source: 'upstream' }),
  imageRepository: z.string().max(253).default('registry.k8s.io'),
  certSANs: z.array(z.string().max(253)).max(64).default([]),
  extraArgs: z
    .strictObject({
      apiServer: ExtraArgs.default({}),
      controllerManager: ExtraArgs.default({}),
      scheduler: ExtraArgs.default({}),
      etcd: ExtraArgs.default({}),
      kubelet: ExtraArgs.default({}),
    })
    .default({ apiServer: {}, controllerManager: {}, scheduler: {}, etcd: {}, kubelet: {} }),
  hosts: z.array(HostSelector).min(1, 'at least one host entry is needed').max(10_000),
});
export type ClusterSpec = z.infer<typeof ClusterSpec>;
export type ClusterSpecInput = z.input<typeof ClusterSpec>;

export interface SpecIssue {
  /** dotted path into cluster.yaml, e.g. hosts[2].role */
  path: string;
  message: string;
}
