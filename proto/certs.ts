import { z } from 'zod';

/**
 * Certificates of a kubeadm node, as `kubeadm certs check-expiration` lists them: every certificate
 * under /etc/kubernetes/pki, the client certificates embedded in the control-plane kubeconfigs, and
 * the kubelet's own client certificate. Public data only: no key ever leaves the host this way.
 */
export const CertificateInfo = z.strictObject({
  /** pki-relative name (`apiserver`, `etcd/server`), a kubeconfig file name, or `kubelet-client` */
  name: z.string().max(256),
  path: z.string().max(4096),
  kind: z.enum(['ca', 'leaf', 'kubeconfig', 'kubelet']),
  subject: z.string().max(1024),
  /** ISO 8601; absent when the file holds no certificate that parses */
  notAfter: z.string().max(64).optional(),
  /** a CA whose key is absent (external CA): kubeadm cannot renew what it signs */
  externallyManaged: z.boolean().optional(),
});
export type CertificateInfo = z.infer<typeof CertificateInfo>;

export const CertsOps = {
  /** the node's certificates and when each expires; read-only */
  'certs.check': {
    args: z.strictObject({}),
    result: z.strictObject({ certificates: z.array(CertificateInfo).max(500) }),
  },
  /**
   * `kubeadm certs renew all` on a control plane, then its control-plane static pods restarted one
   * by one (each manifest out of /etc/kubernetes/manifests for `restartWaitMs`, as the kubeadm
   * guide says, so the kubelet stops the pod and starts it again with the new certificates).
   */
  'kubeadm.certsRenew': {
    args: z.strictObject({ restartWaitMs: z.number().int().min(0).max(120_000).default(20_000) }),
    result: z.strictObject({
      renewed: z.array(z.string().max(256)).max(100),
      restarted: z.array(z.string().max(256)).max(16),
    }),
  },
} as const;

/** Days left under which a renewable certificate is a warning, and a critical finding. */
export const CERT_WARNING_DAYS = 30;
export const CERT_CRITICAL_DAYS = 7;

/** POST /v1/admin/certs: the certificates of the selected hosts. Reads only. */
export const CertsRequest = z.strictObject({
  hosts: z.array(z.string().min(1).max(253)).max(10_000).optional(),
  /** cluster.yaml (parsed YAML): its hosts are checked */
  cluster: z.unknown().optional(),
});
export type CertsRequest = z.infer<typeof CertsRequest>;

export const HostCertificates = z.strictObject({
  host: z.string(),
  certificates: z.array(CertificateInfo).max(500),
  error: z.strictObject({ code: z.string(), message: z.string() }).optional(),
});
export type HostCertificates = z.infer<typeof HostCertificates>;

export const CertsResponse = z.strictObject({
  hosts: z.array(HostCertificates).max(10_000),
  checkedAt: z.string(),
});
export type CertsResponse = z.infer<typeof CertsResponse>;

/** `kctl kubeconfig`: a fresh admin kubeconfig signed on a control plane (kubeadm kubeconfig user). */
export const KubeconfigRequest = z.strictObject({
  /** cluster.yaml (parsed YAML) */
  cluster: z.unknown(),
  /** how long the client certificate is valid; default 24 */
  validityHours: z.number().int().min(1).max(8760).optional(),
});
export type KubeconfigRequest = z.infer<typeof KubeconfigRequest>;

export const KubeconfigResponse = z.strictObject({
  /** the kubeconfig; a credential: written 0600 by kctl, never logged */
  kubeconfig: z.string().max(64 * 1024),
  /** the certificate's common name: who the API server's audit log will name */
  clientName: z.string(),
  host: z.string(),
  expiresAt: z.string(),
});
export type KubeconfigResponse = z.infer<typeof KubeconfigResponse>;

export const KubeconfigOps = {
  /**
   * `kubeadm kubeconfig user --org kubeadm:cluster-admins` on a control plane: a kubeconfig whose
   * client certificate the cluster CA signs just now. Its result is a credential: the agent never
   * journals it (a re-sent command signs again).
   */
  'kubeadm.userKubeconfig': {
    args: z.strictObject({
      /** a ClusterConfiguration: clusterName and controlPlaneEndpoint for the kubeconfig */
      config: z
        .string()
        .min(1)
        .max(64 * 1024),
      clientName: z.string().regex(/^[a-z0-9][a-z0-9:._@-]{0,127}$/, 'must be a client name like kctl:alice'),
      validityHours: z.number().int().min(1).max(8760),
    }),
    result: z.strictObject({ kubeconfig: z.string().max(64 * 1024) }),
  },
} as const;
