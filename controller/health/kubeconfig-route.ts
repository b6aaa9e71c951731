import { KctlError } from '../../proto/errors.js';
import { KubeconfigRequest, type KubeconfigResponse } from '../../proto/certs.js';
import type { Route } from '../http-router.js';
import { HostClient } from '../host-client.js';
import { clusterConfiguration } from '../render/kubeadm.js';
import { kubeadmInputFor } from '../render/cluster-spec-inputs.js';
import { renderYamlDocuments } from '../render/yaml-documents.js';
import { isMember } from '../plan/observe.js';
import { resolveClusterFromStore } from '../plan/resolved-cluster.js';
import type { HealthDeps } from './health-service.js';

const DEFAULT_VALIDITY_HOURS = 24;

/** The certificate's common name: kctl and the admin's own name, so the API server's audit log says who. */
export function clientNameFor(admin: string): string {
  const safe = admin
    .toLowerCase()
    .replace(/[^a-z0-9._@-]+/g, '-')
    .replace(/^-+/, '')
    .slice(0, 120);
  return `kctl:${safe || 'admin'}`;
}

/**
 * POST /v1/admin/kubeconfig: a fresh admin kubeconfig for the calling operator, signed on a control
 * plane by `kubeadm kubeconfig user` (group kubeadm:cluster-admins, 24 h unless asked otherwise).
 * Not admin.conf itself: each operator's credential is short-lived and names them. The response is
 * the only copy the controller sees; it is neither logged nor stored, and the audit log records who
 * got one, for which cluster, from which host.
 */
export function kubeconfigRoutes(deps: HealthDeps): Route[] {
  return [
    {
      method: 'POST',
      path: '/v1/admin/kubeconfig',
      auth: 'admin',
      handle: async (ctx): Promise<KubeconfigResponse> => {
        const body = await ctx.body(KubeconfigRequest);
        const cluster = await resolveClusterFromStore(
          { store: deps.store, controllerUrl: deps.controllerUrl },
          body.cluster,
          undefined,
        );
        const client = new HostClient(deps.registry);
        const controlPlanes = [...cluster.hosts.values()]
          .filter((h) => h.role === 'control-plane')
          .sort((a, b) => Number(b.first) - Number(a.first));
        const reasons: string[] = [];
        for (const cp of controlPlanes) {
          if (!client.isOnline(cp)) {
            reasons.push(`${cp.name}: offline`);
            continue;
          }
          const state = await client.call(cp, 'kubeadm.state', {});
          if (!isMember(state)) {
            reasons.push(`${cp.name}: not part of the cluster yet`);
            continue;
          }
          const admin = ctx.caller.kind === 'admin' ? ctx.caller.name : 'admin';
          const clientName = clientNameFor(admin);
          const validityHours = body.validityHours ?? DEFAULT_VALIDITY_HOURS;
          const config = renderYamlDocuments([
            clusterConfiguration(kubeadmInputFor(cluster.spec, { name: cp.name, address: cp.address })),
          ]);
          const { kubeconfig } = await client.call(cp, 'kubeadm.userKubeconfig', {
            config,
            clientName,
            validityHours,
          });
          const expiresAt = new Date(Date.now() + validityHours * 3_600_000).toISOString();
          await deps.store.audit({
            actor: `admin:${admin}`,
            action: 'kubeconfig.issue',
            target: cluster.spec.name,
            details: { clientName, host: cp.name, validityHours, expiresAt },
          });
          return { kubeconfig, clientName, host: cp.name, expiresAt };
        }
        throw new KctlError(
          'host_offline',
          `No control plane of cluster "${cluster.spec.name}" can sign a kubeconfig`,
          {
            details: {
              hosts: reasons,
              remedy: 'start the agent on a control plane that has joined the cluster',
            },
          },
        );
      },
    },
  ];
}
