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
import {
  planCluster,
  runClusterOperation,
  type ClusterDeps,
  type ClusterOperation,
} from './cluster-service.js';
import { resolveClusterWithEtcd } from './resolved-cluster.js';
import { LocalClusterLocks } from '../store/cluster-locks.js';

function operationOf(body: PlanRequest): ClusterOperation {
  if (body.operation?.kind === 'remove-node') return { kind: 'remove-node', node: body.operation.node };
  if (body.operation?.kind === 'reset') return { kind: 'reset' };
  if (body.operation?.kind === 'renew-certs') {
    const wait = body.operation.restartWaitSeconds;
    return { kind: 'renew-certs', ...(wait !== undefined ? { restartWaitMs: wait * 1000 } : {}) };
  }
  return { kind: 'apply', ...(body.phases ? { phases: body.phases } : {}) };
}

/** The name a destructive operation must be confirmed with: what the operator is about to lose. */
function confirmationFor(op: ClusterOperation, cluster: string): string | undefined {
  if (op.kind === 'remove-node') return op.node;
  if (op.kind === 'reset') return cluster;
  return undefined;
}

/** Plan and apply routes: every change to a cluster, one at a time per cluster. */
export function clusterRoutes(deps: ClusterDeps): Route[] {
  const locks = deps.clusterLocks ?? new LocalClusterLocks();
  return [
    {
      method: 'GET',
      path: '/v1/admin/applies',
      auth: 'admin',
      handle: async (ctx): Promise<ApplyStatusView> => {
        const limit = queryInteger(ctx.url, 'limit', { min: 1, max: 50, fallback: 5 });
        const records = await deps.applyStore.listApplies(limit);
        const stepsOf = await Promise.all(records.map((a) => deps.applyStore.steps(a.id)));
        const applies = records.map((a, i) => {
          const steps = stepsOf[i] ?? [];
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
        return { applies };
      },
    },
    {
      method: 'POST',
      path: '/v1/admin/plan',
      auth: 'admin',
      handle: async (ctx) => {
        const body = await ctx.body(PlanRequest);
        const cluster = await resolveClusterWithEtcd(deps, body.spec, body.cniManifest);
        return (await planCluster(deps, cluster, operationOf(body))).view;
      },
    },
    {
      method: 'POST',
      path: '/v1/admin/apply',
      auth: 'admin',
      handle: async (ctx) => {
        const body = await ctx.body(ApplyRequest);
        const cluster = await resolveClusterWithEtcd(deps, body.spec, body.cniManifest);
        const name = cluster.spec.name;
        const op = operationOf(body);
        const confirm = confirmationFor(op, name);
        if (confirm !== undefined && body.confirm !== confirm) {
          throw new KctlError(
            'invalid_args',
            `confirm: type "${confirm}" to ${op.kind === 'reset' ? 'reset every host of the cluster' : 'remove the node'}`,
          );
        }
        const actor = ctx.caller.kind === 'admin' ? `admin:${ctx.caller.name}` : 'unknown';
        return locks.with(name, op.kind, async () => {
          await deps.store.audit({
            actor,
            action: `${op.kind}.start`,
            target: name,
            details: { operation: op },
          });
          ctx.res.writeHead(200, { 'content-type': 'application/x-ndjson', 'cache-control': 'no-store' });
          // the apply goes on if kctl goes away: it is resumable, and half-done is worse than done
          const write = (line: ApplyEventLine): void => {
            if (!ctx.res.writableEnded && !ctx.res.destroyed) ctx.res.write(JSON.stringify(line) + '\n');
          };
          try {
            const outcome = await runClusterOperation(
              deps,
              cluster,
              op,
              write,
              body.planHash !== undefined ? { expectPlanHash: body.planHash } : {},
            );
            if (!outcome.noChanges) deps.metrics?.countApply(outcome.status);
            await deps.store.audit({
              actor,
              action: `${op.kind}.done`,
              target: name,
              details: { applyId: outcome.applyId, status: outcome.status, noChanges: outcome.noChanges },
            });
          } catch (err) {
            write({ type: 'error', error: toWireError(err) });
          } finally {
            ctx.res.end();
          }
          return undefined;
        });
      },
    },
  ];
}
