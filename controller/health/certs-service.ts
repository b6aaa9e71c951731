import type { CertsRequest, CertsResponse, HostCertificates } from '../../proto/certs.js';
import { toWireError } from '../../proto/errors.js';
import type { Route } from '../http-router.js';
import { CertsRequest as CertsRequestSchema } from '../../proto/certs.js';
import { HostClient } from '../host-client.js';
import { mapBounded } from '../map-bounded.js';
import { resolveClusterFromStore } from '../plan/resolved-cluster.js';
import { selectHosts } from '../preflight-service.js';
import type { HealthDeps } from './health-service.js';

/** Every selected host's certificates (certs.check), soonest expiry first within each host. */
export async function runFleetCerts(deps: HealthDeps, request: CertsRequest): Promise<CertsResponse> {
  const client = new HostClient(deps.registry);
  const cluster =
    request.cluster === undefined
      ? undefined
      : await resolveClusterFromStore(
          { store: deps.store, controllerUrl: deps.controllerUrl },
          request.cluster,
          undefined,
        );
  const names = request.hosts ?? (cluster ? [...cluster.hosts.keys()] : undefined);
  const hosts = await selectHosts(deps.store, names);
  const perHost = await mapBounded(hosts, 64, async (h): Promise<HostCertificates> => {
    try {
      const { certificates } = await client.call({ hostId: h.id, name: h.name }, 'certs.check', {});
      const at = (s: string | undefined): number => (s === undefined ? -Infinity : Date.parse(s));
      certificates.sort((a, b) => at(a.notAfter) - at(b.notAfter) || a.name.localeCompare(b.name));
      return { host: h.name, certificates };
    } catch (err) {
      const e = toWireError(err);
      return { host: h.name, certificates: [], error: { code: e.code, message: e.message } };
    }
  });
  return { hosts: perHost, checkedAt: (deps.now?.() ?? new Date()).toISOString() };
}

/** POST /v1/admin/certs: what `kctl certs check` shows. Reads only. */
export function certsRoutes(deps: HealthDeps): Route[] {
  return [
    {
      method: 'POST',
      path: '/v1/admin/certs',
      auth: 'admin',
      handle: async (ctx) => runFleetCerts(deps, await ctx.body(CertsRequestSchema)),
    },
  ];
}
