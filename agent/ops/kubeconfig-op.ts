import type { AgentOp } from './registry.js';

/** Where the ClusterConfiguration lives while kubeadm reads it (the agent's run directory, 0600). */
const CONFIG = '/var/lib/kctl-agent/run/kubeadm-kubeconfig-user.yaml';

/**
 * `kubeadm.userKubeconfig`: `kubeadm kubeconfig user --org kubeadm:cluster-admins` with the cluster's
 * ClusterConfiguration. The kubeconfig goes back as the result and nowhere else: not to the journal
 * (secretResult, declared again in the op table so the executor knows it before loading), not to
 * the log.
 */
export const kubeadmUserKubeconfigOp: AgentOp<'kubeadm.userKubeconfig'> = {
  name: 'kubeadm.userKubeconfig',
  secretResult: true,
  async run({ config, clientName, validityHours }, { host, log }) {
    await host.writeFileAtomic(CONFIG, config, { mode: 0o600, uid: 0, gid: 0 });
    try {
      const r = await host.run(
        'kubeadm',
        [
          'kubeconfig',
          'user',
          '--config',
          CONFIG,
          '--client-name',
          clientName,
          '--org',
          'kubeadm:cluster-admins',
          '--validity-period',
          `${validityHours}h`,
        ],
        { timeoutMs: 60_000 },
      );
      log.info({ clientName, validityHours }, 'admin kubeconfig issued');
      return { kubeconfig: r.stdout };
    } finally {
      await host.removeFile(CONFIG);
    }
  },
};
