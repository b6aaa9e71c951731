import type { Logger } from 'pino';
import { KctlError } from '../../proto/errors.js';
import type { Host } from '../host/host.js';

/**
 * Files `kubeadm join` writes before it is done (kubelet.conf, written last, says it is done).
 * A join that died half-way (its agent killed while it ran on the agent's pipes, the host
 * rebooted, a timeout) leaves some of them, and kubeadm's own preflight then refuses every later
 * join on the host for good (`FileAvailable--etc-kubernetes-pki-ca.crt`,
 * `FileAvailable--etc-kubernetes-bootstrap-kubelet.conf`, `DirAvailable--etc-kubernetes-manifests`).
 * kctl's control-plane joins always download the shared certificates with a certificate key, so
 * a ca.crt before a join is a leftover on every kind of node.
 */
export const JOIN_LEFTOVERS = [
  '/etc/kubernetes/pki/ca.crt',
  '/etc/kubernetes/bootstrap-kubelet.conf',
  '/etc/kubernetes/manifests/etcd.yaml',
  '/etc/kubernetes/manifests/kube-apiserver.yaml',
  '/etc/kubernetes/manifests/kube-controller-manager.yaml',
  '/etc/kubernetes/manifests/kube-scheduler.yaml',
] as const;

export function isJoinLeftover(path: string): boolean {
  return (JOIN_LEFTOVERS as readonly string[]).includes(path);
}

/** Which of the half-done join's files are on the host. */
export async function findJoinLeftovers(host: Host): Promise<string[]> {
  const present = await Promise.all(JOIN_LEFTOVERS.map((p) => host.exists(p)));
  return JOIN_LEFTOVERS.filter((_, i) => present[i]);
}

/**
 * Before a join on a host that is not joined: when an earlier join left files behind, `kubeadm
 * reset -f` removes them, as a person would by hand. The caller runs in the kubeadm lane after
 * the wait for an orphaned kubeadm, so no kubeadm is running that could still be writing them.
 * Returns the leftovers it found (empty: nothing to do).
 */
export async function resetHalfDoneJoin(
  host: Host,
  log: Logger,
  progress: (p: { message: string }) => void,
): Promise<string[]> {
  const found = await findJoinLeftovers(host);
  if (found.length === 0) return [];
  log.warn({ leftovers: found }, 'half-done join found; kubeadm reset before joining');
  progress({ message: `an earlier join did not finish (left ${found.join(', ')}): kubeadm reset -f` });
  await host.run('kubeadm', ['reset', '-f'], { timeoutMs: 600_000 });
  const still = await findJoinLeftovers(host);
  if (still.length > 0) {
    throw new KctlError('step_failed', `kubeadm reset -f left ${still.join(', ')} on this host`, {
      details: { leftovers: still, remedy: 'remove these files by hand, then apply again' },
    });
  }
  return found;
}
