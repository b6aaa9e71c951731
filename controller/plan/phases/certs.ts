import type { CertificateInfo } from '../../../proto/certs.js';
import { phase } from '../phase.js';
import { isMember } from '../observe.js';

/** The kubelet's default fileCheckFrequency: a manifest gone this long has its pod stopped. */
export const STATIC_POD_RESTART_WAIT_MS = 20_000;

export interface RenewCertsInput {
  restartWaitMs: number;
}

/** The certificate kubeadm would renew that expires first (CAs and the kubelet's own are not renewed). */
export function soonestRenewable(certs: readonly CertificateInfo[]): CertificateInfo | undefined {
  return certs
    .filter((c) => (c.kind === 'leaf' || c.kind === 'kubeconfig') && c.notAfter !== undefined)
    .sort((a, b) => Date.parse(a.notAfter ?? '') - Date.parse(b.notAfter ?? ''))[0];
}

/**
 * `kctl certs renew`: on each control plane in turn, the first one last, `kubeadm certs renew all`,
 * then its static pods restarted so they load the new certificates. One host at a time keeps the
 * other API servers and etcd members serving. Workers have nothing kubeadm renews: their kubelet
 * rotates its own client certificate.
 */
export const renewCertsPhase = phase<RenewCertsInput>({
  id: 'renew-certs',
  operation: 'renew-certs',
  title: "Renew the control planes' certificates (one at a time)",
  summary:
    'kubeadm certs renew all on each control plane, then its static pods (etcd, API server, controller manager, scheduler) restarted',
  mode: 'serial',
  concurrency: () => 1,
  tasks: (c) => {
    const waitMs = c.renew?.restartWaitMs ?? STATIC_POD_RESTART_WAIT_MS;
    return [...c.cluster.hosts.values()]
      .filter((h) => h.role === 'control-plane' && isMember(c.observed.hosts.get(h.name)?.state))
      .sort((a, b) => Number(a.first) - Number(b.first))
      .map((h) => {
        const soonest = soonestRenewable(c.observed.hosts.get(h.name)?.certificates ?? []);
        const expiry = soonest ? ` (soonest now: ${soonest.name}, ${soonest.notAfter ?? '?'})` : '';
        return {
          host: h.name,
          title: 'renew certificates',
          input: { restartWaitMs: waitMs },
          detail: `kubeadm certs renew all${expiry}; restart etcd, kube-apiserver, kube-controller-manager, kube-scheduler (${Math.round(waitMs / 1000)} s each)`,
        };
      });
  },
  async run(input, host, t) {
    t.progress('kubeadm certs renew all');
    const r = await t.call(host, 'kubeadm.certsRenew', { restartWaitMs: input.restartWaitMs });
    return { renewed: r.renewed.length, restarted: r.restarted };
  },
});
