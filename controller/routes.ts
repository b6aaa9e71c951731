import type { Route } from './http-router.js';
import { controllerRoutes, type RouteDeps } from './admin-routes.js';
import { clusterRoutes } from './plan/routes.js';
import { clusterRenderers } from './plan/renderers.js';
import { artifactsRoute } from './artifacts-route.js';
import type { ApplyStore } from './orchestrator/apply-store.js';

/** Every HTTP route the controller serves, in one list: the S14 test enumerates exactly this. */
export function allRoutes(
  deps: RouteDeps & { applyStore: ApplyStore; artifactsDir: string; controllerUrl?: string },
): Route[] {
  return [
    ...controllerRoutes(deps),
    ...clusterRoutes({
      store: deps.store,
      applyStore: deps.applyStore,
      registry: deps.registry,
      log: deps.log,
      renderers: clusterRenderers,
    }),
    artifactsRoute(deps.artifactsDir),
  ];
}
