import type { Route } from '../http-router.js';
import { HealthRequest } from '../../proto/health.js';
import { runFleetHealth, type HealthDeps } from './health-service.js';
import { recordHealth } from '../web/health-results.js';

/** POST /v1/admin/health: the health checks of running nodes (docs/health.md). Reads only. */
export function healthRoutes(deps: HealthDeps): Route[] {
  return [
    {
      method: 'POST',
      path: '/v1/admin/health',
      auth: 'admin',
      handle: async (ctx) => {
        const response = await runFleetHealth(deps, await ctx.body(HealthRequest));
        // the fleet page shows each host's last run
        await recordHealth(deps.store, response.hosts);
        return response;
      },
    },
  ];
}
