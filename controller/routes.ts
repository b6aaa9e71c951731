import type { Route } from './http-router.js';
import { controllerRoutes, type RouteDeps } from './admin-routes.js';
import { clusterRoutes } from './plan/routes.js';
import { artifactsRoute } from './artifacts-route.js';
import { bundleRoutes } from './bundle/routes.js';
import { bundleManifestPaths } from './bundle/manifest.js';
import { healthRoutes } from './health/routes.js';
import { certsRoutes } from './health/certs-service.js';
import { kubeconfigRoutes } from './health/kubeconfig-route.js';
import { etcdRoutes } from './etcd/status-route.js';
import type { ApplyStore } from './orchestrator/apply-store.js';
import type { HostStateReader } from './store/host-state-cache.js';
import { z } from 'zod';
import { createWebToken } from './web/web-tokens.js';
import { parseDuration } from './tokens.js';
import type { ClusterLockService } from './store/cluster-locks.js';

/** Every HTTP route the controller serves, in one list: the S14 test enumerates exactly this. */
export function allRoutes(
  deps: RouteDeps & {
    applyStore: ApplyStore;
    /** hosts' standing from memory, for checks that must not wait on the database */
    hostStates: HostStateReader;
    artifactsDir: string;
    /** the offline bundle directory (kctl bundle build), when this controller serves one */
    bundleDir?: string | undefined;
    controllerUrl?: string;
    /** the controller's data dir (the etcd PKI of etcd.mode managed) */
    dataDir?: string;
    /** one operation per cluster (open-store.ts picks it with the store); in-process by default */
    clusterLocks?: ClusterLockService;
  },
): Route[] {
  return [
    ...controllerRoutes(deps),
    ...clusterRoutes({
      store: deps.store,
      applyStore: deps.applyStore,
      registry: deps.registry,
      log: deps.log,
      metrics: deps.metrics,
      ...(deps.controllerUrl !== undefined ? { controllerUrl: deps.controllerUrl } : {}),
      bundlePaths: () => bundleManifestPaths(deps.bundleDir),
      dataDir: deps.dataDir,
      ...(deps.clusterLocks !== undefined ? { clusterLocks: deps.clusterLocks } : {}),
    }),
    artifactsRoute(deps.artifactsDir),
    ...healthRoutes({ store: deps.store, registry: deps.registry, controllerUrl: deps.controllerUrl }),
    ...certsRoutes({ store: deps.store, registry: deps.registry, controllerUrl: deps.controllerUrl }),
    ...kubeconfigRoutes({ store: deps.store, registry: deps.registry, controllerUrl: deps.controllerUrl }),
    ...etcdRoutes({ store: deps.store, registry: deps.registry, log: deps.log }),
    ...bundleRoutes({
      bundleDir: deps.bundleDir,
      ca: deps.ca,
      store: deps.hostStates,
      metrics: deps.metrics,
      log: deps.log,
    }),
    {
      method: 'POST',
      path: '/v1/admin/web-tokens',
      auth: 'admin',
      handle: async (ctx) => {
        const body = await ctx.body(
          z.strictObject({
            readOnly: z.boolean(),
            ttl: z.string().max(16).optional(),
            description: z.string().max(256).default(''),
          }),
        );
        const t = await createWebToken(deps.store, {
          readOnly: body.readOnly,
          description: body.description,
          ...(body.ttl !== undefined ? { ttlMs: parseDuration(body.ttl, 'ttl') } : {}),
        });
        await deps.store.audit({
          actor: ctx.caller.kind === 'admin' ? `admin:${ctx.caller.name}` : 'unknown',
          action: 'web-token.create',
          target: t.id,
          details: { readOnly: t.readOnly },
        });
        return { id: t.id, token: t.token, readOnly: t.readOnly, expiresAt: t.expiresAt };
      },
    },
  ];
}
