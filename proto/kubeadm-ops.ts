import { z } from 'zod';
import { Dns1123Label, PreflightErrorName } from './validators.js';

/**
 * Ops that drive kubeadm and kubectl on a host. Secrets (bootstrap token, certificate key) are
 * minted by the controller just in time and travel only as args: results never carry them, so the
 * agent's journal and the controller's apply journal never hold a secret.
 */
const NodeName = z
  .string()
  .regex(/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/, 'must be a node name')
  .max(253);
const Yaml = z
  .string()
  .min(1)
  .max(256 * 1024);
const ManifestFile = z.strictObject({
  path: z
    .string()
    .regex(
      /^\/etc\/kubernetes\/manifests\/[a-z0-9-]+\.yaml$/,
      'must be /etc/kubernetes/manifests/<name>.yaml',
    ),
  content: Yaml,
});
const BootstrapToken = z.string().regex(/^[a-z0-9]{6}\.[a-z0-9]{16}$/, 'must match [a-z0-9]{6}.[a-z0-9]{16}');
const CertificateKey = z.string().regex(/^[0-9a-f]{64}$/, 'must be 64 hex characters');
export const CaCertHash = z.string().regex(/^sha256:[0-9a-f]{64}$/);
const IgnorePreflight = z.array(PreflightErrorName).max(64).default([]);

export const NodeStatus = z.strictObject({
  name: z.string(),
  ready: z.boolean(),
  kubeletVersion: z.string(),
  controlPlane: z.boolean(),
  /** cordoned (spec.unschedulable): drained for an upgrade or by an operator */
  unschedulable: z.boolean().optional(),
  /** the node's labels and taints, and those kctl set (its kctl.dev/node-labels and -taints annotations) */
  labels: z.record(z.string(), z.string()).optional(),
  taints: z
    .array(z.strictObject({ key: z.string(), value: z.string().optional(), effect: z.string() }))
    .optional(),
  managed: z.strictObject({ labels: z.array(z.string()), taints: z.array(z.string()) }).optional(),
});
export type NodeStatus = z.infer<typeof NodeStatus>;

export const KubeadmOps = {
  /** `kubeadm upgrade apply vX.Y.Z -y` on the first control plane */
  'kubeadm.upgradeApply': {
    args: z.strictObject({ version: z.string().regex(/^v\d+\.\d+\.\d+$/, 'must be vX.Y.Z') }),
    result: z.strictObject({ upgraded: z.literal(true) }),
  },
  /** `kubeadm upgrade plan vX.Y.Z` on the first control plane: kubeadm's own checks, nothing changed */
  'kubeadm.upgradePlan': {
    args: z.strictObject({ version: z.string().regex(/^v\d+\.\d+\.\d+$/, 'must be vX.Y.Z') }),
    result: z.strictObject({ ok: z.literal(true) }),
  },
  /** `kubeadm upgrade node` on the other control planes and the workers */
  'kubeadm.upgradeNode': {
    args: z.strictObject({}),
    result: z.strictObject({ upgraded: z.literal(true) }),
  },
  'kubectl.uncordon': {
    args: z.strictObject({ node: NodeName }),
    result: z.strictObject({ uncordoned: z.literal(true) }),
  },
  /** drain a node before it leaves (run on a control plane with admin.conf) */
  'kubectl.drain': {
    args: z.strictObject({ node: NodeName }),
    result: z.strictObject({ drained: z.literal(true) }),
  },
  /** remove a node object (run on a control plane with admin.conf) */
  'kubectl.deleteNode': {
    args: z.strictObject({ node: NodeName }),
    result: z.strictObject({ deleted: z.boolean() }),
  },
  /** `kubeadm reset -f` (leaves etcd on a control plane), then CNI config and packet-filter state cleaned */
  'kubeadm.reset': {
    args: z.strictObject({}),
    result: z.strictObject({ wasMember: z.boolean(), cleaned: z.array(z.string()) }),
  },
  /** what kubeadm has already done on this host, read from the files it leaves (for plans and resumes) */
  'kubeadm.state': {
    args: z.strictObject({}),
    result: z.strictObject({
      initialized: z.boolean(),
      joined: z.boolean(),
      kubeletVersion: z.string().nullable(),
      /** the API server image tag in its static pod manifest: what this control plane runs */
      controlPlaneVersion: z.string().nullable().optional(),
      /** the API server's --etcd-servers in its static pod manifest (null: no manifest or no flag) */
      etcdServers: z.array(z.string().max(1024)).max(64).nullable().optional(),
    }),
  },
  /** `kubeadm init --upload-certs` on the first control plane; skipped when admin.conf exists */
  'kubeadm.init': {
    args: z.strictObject({
      config: Yaml,
      /** the kube-vip static pod, written before init so the VIP exists when init needs it */
      manifests: z.array(ManifestFile).max(8).default([]),
      ignorePreflightErrors: IgnorePreflight,
    }),
    result: z.strictObject({ alreadyInitialized: z.boolean(), caCertHash: CaCertHash }),
  },
  /** a fresh bootstrap token and a re-upload of the control-plane certificates, on the first control plane */
  'kubeadm.joinMaterial': {
    args: z.strictObject({
      token: BootstrapToken,
      tokenTtl: z.string().regex(/^\d+[smh]$/),
      certificateKey: CertificateKey.optional(),
    }),
    result: z.strictObject({ caCertHash: CaCertHash, certsUploadedAt: z.number().nullable() }),
  },
  /** `kubeadm join`; skipped when kubelet.conf exists (the node already joined) */
  'kubeadm.join': {
    args: z.strictObject({
      config: Yaml,
      controlPlane: z.boolean(),
      /** kube-vip on joining control planes, written after the join */
      manifests: z.array(ManifestFile).max(8).default([]),
      ignorePreflightErrors: IgnorePreflight,
    }),
    result: z.strictObject({ alreadyJoined: z.boolean() }),
  },
  /** `kubectl apply -f` with the host's admin.conf (CNI manifests) */
  'kubectl.apply': {
    args: z.strictObject({
      name: Dns1123Label,
      manifest: z
        .string()
        .min(1)
        .max(900 * 1024),
    }),
    result: z.strictObject({ applied: z.literal(true) }),
  },
  /** the node list as the API server sees it, read with the host's admin.conf */
  'kubectl.nodes': {
    args: z.strictObject({}),
    result: z.strictObject({ nodes: z.array(NodeStatus).max(10_000) }),
  },
} as const;
