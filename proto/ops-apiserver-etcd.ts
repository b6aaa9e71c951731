import { z } from 'zod';
import { HttpsUrl } from './validators.js';

/**
 * The API servers' etcd endpoints (issue 15): after a managed etcd member is added or removed, each
 * control plane's kube-apiserver static pod is regenerated the kubeadm way with the new
 * `etcd.external.endpoints`, one control plane at a time.
 */
export const EtcdServers = z.array(HttpsUrl).min(1).max(64);

export const ApiserverEtcdOps = {
  /**
   * On a control plane: `kubeadm init phase control-plane apiserver --config F` with an
   * Init/ClusterConfiguration (no bootstrap token, no certificate key) whose etcd.external names
   * `etcdServers`, then, with `uploadConfig`, `kubeadm init phase upload-config kubeadm --config F`
   * so the kubeadm-config ConfigMap agrees; then waits `restartWaitMs` for the kubelet to restart
   * the pod and polls the API server's /readyz (its --advertise-address and --secure-port, trusting
   * the cluster CA) until it answers `ok`, or fails retryable after `healthTimeoutMs`.
   * Idempotent: a manifest that lists `etcdServers` already (in any order) is not rewritten.
   */
  'kubeadm.apiserverEtcd': {
    args: z.strictObject({
      config: z
        .string()
        .min(1)
        .max(256 * 1024),
      etcdServers: EtcdServers,
      uploadConfig: z.boolean(),
      restartWaitMs: z.number().int().min(0).max(300_000),
      healthTimeoutMs: z.number().int().min(1_000).max(600_000),
    }),
    result: z.strictObject({
      /** false: the manifest listed these servers already, kubeadm was not run for it */
      rewritten: z.boolean(),
      /** --etcd-servers before, null when the manifest had none */
      before: z.array(z.string().max(1024)).max(64).nullable(),
      etcdServers: z.array(z.string().max(1024)).max(64),
      uploaded: z.boolean(),
      /** how long after the rewrite /readyz answered ok */
      readyAfterMs: z.number().int().nonnegative(),
    }),
  },
} as const;

/** The same etcd servers in any order: kubeadm keeps the list's order, etcd does not care. */
export function sameEtcdServers(a: readonly string[], b: readonly string[]): boolean {
  const x = [...new Set(a)].sort();
  const y = [...new Set(b)].sort();
  return x.length === y.length && x.every((v, i) => v === y[i]);
}

/** One `--name=value` flag of a static pod manifest as kubeadm writes it (one list item per flag). */
export function manifestFlag(manifest: string, name: string): string | undefined {
  return new RegExp(`^\\s*-\\s*["']?--${name}=([^"'\\s]+)`, 'm').exec(manifest)?.[1];
}

/** `--etcd-servers` of a kube-apiserver manifest as a list; undefined when the flag is absent. */
export function etcdServersOf(manifest: string): string[] | undefined {
  const value = manifestFlag(manifest, 'etcd-servers');
  return value === undefined ? undefined : value.split(',').filter((s) => s !== '');
}
