import { KctlError, toWireError } from '../../proto/errors.js';
import {
  ApplyRequest,
  PlanRequest,
  type ApplyEventLine,
  type ApplyStatusView,
} from '../../proto/plan-api.js';
import type { ClusterPlan } from '../orchestrator/plan.js';
import type { Route } from '../http-router.js';
import { queryInteger } from '../request-target.js';
import { applyCluster, resolveCluster, reviewCluster, type ClusterDeps } from './cluster-service.js';
import { removeNode, resetCluster, upgradeCluster } from './lifecycle.js';
import { prepareHostSpec } from './host-spec.js';
import { packageFormatFor } from '../render/packages.js';
import { z } from 'zod';

/** Plan and apply routes; one apply per cluster at a time. */
export function clusterRoutes(deps: ClusterDeps): Route[] {
  const running = new Set<string>();
  const actor = (c: { kind: string; name?: string }): string =>
    c.kind === 'admin' ? `admin:${c.name ?? ''}` : 'unknown';
  return [
    {
      method: 'POST',
      path: '/v1/admin/nodes/:name/remove',
      auth: 'admin',
      handle: async (ctx) => {
        const name = ctx.params.name ?? '';
        deps.store.audit({
          actor: actor(ctx.caller),
          action: 'node.remove',
          target: name,
          details: null,
        });
        return removeNode(deps, name);
      },
    },
    {
      method: 'POST',
      path: '/v1/admin/reset',
      auth: 'admin',
      handle: async (ctx) => {
        const body = await ctx.body(
          z.strictObject({ spec: z.record(z.string(), z.unknown()), confirm: z.string() }),
        );
        const cluster = resolveCluster(deps, body.spec, undefined);
        if (body.confirm !== cluster.spec.name) {
          throw new KctlError(
            'invalid_args',
            `confirm: type the cluster name "${cluster.spec.name}" to reset it`,
          );
        }
        deps.store.audit({
          actor: actor(ctx.caller),
          action: 'cluster.reset',
          target: cluster.spec.name,
          details: null,
        });
        return { hosts: await resetCluster(deps, [...cluster.hosts.keys()]) };
      },
    },
    {
      method: 'POST',
      path: '/v1/admin/upgrade',
      auth: 'admin',
      handle: async (ctx) => {
        const body = await ctx.body(
          z.strictObject({ spec: z.record(z.string(), z.unknown()), to: z.string().max(32) }),
        );
        const cluster = resolveCluster(deps, body.spec, undefined);
        deps.store.audit({
          actor: actor(ctx.caller),
          action: 'cluster.upgrade',
          target: cluster.spec.name,
          details: { to: body.to },
        });
        const hosts = await upgradeCluster(deps, cluster, body.to, (h, version) =>
          prepareHostSpec({ ...cluster.spec, kubernetesVersion: version }, h, {
            kernelRelease: h.kernelRelease,
            packageFormat: packageFormatFor(h.osId),
            files: h.hostSpec.files,
          }),
        );
        return { hosts };
      },
    },
    {
      method: 'GET',
      path: '/v1/admin/applies',
      auth: 'admin',
      handle: (ctx): Promise<ApplyStatusView> => {
        const limit = queryInteger(ctx.url, 'limit', { min: 1, max: 50, fallback: 5 });
        const applies = deps.applyStore.listApplies(limit).map((a) => {
          const steps = deps.applyStore.steps(a.id);
          const plan = a.plan as ClusterPlan;
          return {
            id: a.id,
            cluster: a.cluster,
            status: a.status,
            startedAt: a.startedAt,
            finishedAt: a.finishedAt,
            error: a.error,
            phases: plan.phases.map((p) => {
              const mine = steps.filter((s) => s.phase === p.id);
              return {
                id: p.id,
                title: p.title,
                total: p.tasks.length,
                done: mine.filter((s) => s.status === 'done').length,
                failed: mine.filter((s) => s.status === 'failed').length,
                running: mine.filter((s) => s.status === 'running').map((s) => s.host),
                failures: mine
                  .filter((s) => s.status === 'failed')
                  .map((s) => ({ host: s.host, message: s.error?.message ?? 'failed' })),
              };
            }),
          };
        });
        return Promise.resolve({ applies });
      },
    },
    {
      method: 'POST',
      path: '/v1/admin/plan',
      auth: 'admin',
      handle: async (ctx) => {
        const body = await ctx.body(PlanRequest);
        return reviewCluster(deps, resolveCluster(deps, body.spec, body.cniManifest, body.phases));
      },
    },
    {
      method: 'POST',
      path: '/v1/admin/apply',
      auth: 'admin',
      handle: async (ctx) => {
        const body = await ctx.body(ApplyRequest);
        const cluster = resolveCluster(deps, body.spec, body.cniManifest, body.phases);
        if (running.has(cluster.spec.name)) {
          throw new KctlError('forbidden', `An apply of cluster "${cluster.spec.name}" is already running`, {
            retryable: true,
          });
        }
        running.add(cluster.spec.name);
        const actor = ctx.caller.kind === 'admin' ? `admin:${ctx.caller.name}` : 'unknown';
        deps.store.audit({ actor, action: 'apply.start', target: cluster.spec.name, details: null });
        ctx.res.writeHead(200, { 'content-type': 'application/x-ndjson', 'cache-control': 'no-store' });
        // the apply goes on if kctl goes away: it is resumable, and half-done is worse than done
        const write = (line: ApplyEventLine): void => {
          if (!ctx.res.writableEnded && !ctx.res.destroyed) ctx.res.write(JSON.stringify(line) + '\n');
        };
        try {
          const outcome = await applyCluster(
            deps,
            cluster,
            write,
            body.planHash !== undefined ? { expectPlanHash: body.planHash } : {},
          );
          deps.metrics?.countApply(outcome.status);
          deps.store.audit({
            actor,
            action: 'apply.done',
            target: cluster.spec.name,
            details: { applyId: outcome.applyId, status: outcome.status },
          });
        } catch (err) {
          write({ type: 'error', error: toWireError(err) });
        } finally {
          running.delete(cluster.spec.name);
          ctx.res.end();
        }
        return undefined;
      },
    },
  ];
}
