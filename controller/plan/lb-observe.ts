import type { StepPlan } from '../../proto/results.js';
import type { HostClient } from '../host-client.js';
import { mapBounded } from '../map-bounded.js';
import { KEEPALIVED_CONFIG_PATH } from '../render/keepalived.js';
import type { ResolvedCluster } from './resolved-cluster.js';

/** What the dedicated lb hosts report to a plan: what converging each to its spec would change. */
export interface LoadBalancerObservation {
  plans: ReadonlyMap<string, StepPlan[]>;
}

/** Hosts asked at once; lb hosts are few. */
const LB_FANOUT = 64;

export async function observeLoadBalancers(
  client: HostClient,
  cluster: ResolvedCluster,
): Promise<LoadBalancerObservation> {
  const plans = new Map(
    await mapBounded(cluster.loadBalancers, LB_FANOUT, async (lb) => {
      const plan = await client.call(lb, 'host.plan', { spec: cluster.lbHostSpecFor(lb) });
      return [lb.name, plan.steps] as const;
    }),
  );
  return { plans };
}

/**
 * kctl's keepalived.conf is about to be written for the first time: this host's keepalived has
 * never held the VIP (on a re-run after it was written, the host may hold it by design).
 */
export function createsKeepalivedConfig(steps: readonly StepPlan[] | undefined): boolean {
  return (steps ?? []).some((s) =>
    s.changes.some(
      (c) => c.kind === 'file' && c.path === KEEPALIVED_CONFIG_PATH && c.previousSha256 === null,
    ),
  );
}
