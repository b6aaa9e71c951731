import type { EtcdConnection, EtcdStatus } from '../../proto/etcd-ops.js';
import type { StepPlan } from '../../proto/results.js';
import { ETCD_PKI_PATHS } from '../etcd/pki.js';
import type { HostClient } from '../host-client.js';
import { mapBounded } from '../map-bounded.js';
import { etcdClientUrl } from '../render/etcd.js';
import type { PlannedEtcdMember, ResolvedCluster } from './resolved-cluster.js';

/** What the etcd hosts of a managed cluster report to a plan. */
export interface EtcdObservation {
  /** what converging each member to its spec would change */
  plans: ReadonlyMap<string, StepPlan[]>;
  /**
   * The running etcd cluster, when a member with etcd installed answered: every member's peer URL
   * (`listed`, added ones that never started too) and those of the members that started.
   */
  running?: { listed: readonly string[]; started: readonly string[] };
}

/** etcdctl on the member itself, at its own client URL, with its healthcheck client pair. */
export function memberConnection(endpoint: string): EtcdConnection {
  return {
    endpoints: [endpoint],
    cacert: ETCD_PKI_PATHS.ca,
    cert: ETCD_PKI_PATHS.healthcheckClientCert,
    key: ETCD_PKI_PATHS.healthcheckClientKey,
  };
}

/** etcd-server about to be installed: the package step shows it absent. */
export function installsEtcd(steps: readonly StepPlan[]): boolean {
  return steps.some((s) =>
    s.changes.some((c) => c.kind === 'package' && c.name === 'etcd-server' && c.from === null),
  );
}

/** Members asked for the member list before a plan gives up on it (each try may wait etcdctl's timeouts). */
const STATUS_TRIES = 2;

export async function observeEtcd(client: HostClient, cluster: ResolvedCluster): Promise<EtcdObservation> {
  const plans = new Map(
    await mapBounded(cluster.etcdMembers, 64, async (m) => {
      const plan = await client.call(m, 'host.plan', { spec: cluster.etcdHostSpecFor(m) });
      return [m.name, plan.steps] as const;
    }),
  );
  // a running cluster, if any: asked of members that have etcd already (none on a first apply)
  const installed = cluster.etcdMembers.filter((m) => !installsEtcd(plans.get(m.name) ?? []));
  const running = await memberList(client, installed.slice(0, STATUS_TRIES));
  return { plans, ...(running ? { running } : {}) };
}

async function memberList(
  client: HostClient,
  members: readonly PlannedEtcdMember[],
): Promise<EtcdObservation['running']> {
  for (const m of members) {
    try {
      const s = await client.call(m, 'etcd.status', memberConnection(etcdClientUrl(m.address)));
      return {
        listed: s.members.flatMap((x) => x.peerUrls),
        // a member added but not started yet has no name
        started: s.members.filter((x) => x.name !== '').flatMap((x) => x.peerUrls),
      };
    } catch {
      // not running, not formed yet, or no healthcheck pair yet: ask the next one
    }
  }
  return undefined;
}

/** The running managed etcd as a surviving member reports it: for plans that remove a member. */
export interface EtcdMembership {
  status: EtcdStatus;
  /** the member etcdctl ran on, and its client URL */
  via: { host: string; endpoint: string };
}

/**
 * The member list and health, asked of the cluster.yaml members other than `except` (the member
 * about to go), in order, until one answers; undefined when none does.
 */
export async function observeEtcdMembership(
  client: HostClient,
  cluster: ResolvedCluster,
  except: string | undefined,
): Promise<EtcdMembership | undefined> {
  for (const m of cluster.etcdMembers.filter((x) => x.name !== except).slice(0, STATUS_TRIES + 1)) {
    const endpoint = etcdClientUrl(m.address);
    try {
      const status = await client.call(m, 'etcd.status', memberConnection(endpoint));
      return { status, via: { host: m.name, endpoint } };
    } catch {
      // not running or not reachable: ask the next one
    }
  }
  return undefined;
}
