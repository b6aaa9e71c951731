import { KctlError } from '../../../proto/errors.js';
import type { EtcdStatus } from '../../../proto/etcd-ops.js';
import type { HostSpec } from '../../../proto/host-spec.js';
import { ETCD_CLIENT_PORT, ETCD_PEER_PORT, etcdClientUrl, etcdPeerUrl } from '../../render/etcd.js';
import { installsEtcd, memberConnection } from '../etcd-observe.js';
import { phase, type PlanningContext, type TaskRun } from '../phase.js';
import { preflightSpecFor } from '../resolved-cluster.js';

/**
 * etcd.mode managed: the etcd hosts get etcd-server and etcdctl, the etcd PKI in kubeadm's layout,
 * /etc/default/etcd and etcd.service (controller/plan/etcd-host-spec.ts), then the phase waits
 * until etcdctl on the member sees every member healthy and a leader. Runs before init, whose
 * kubeadm gets etcd.external at these members.
 */

/** Every member at once: a member of a new cluster does not come up before a quorum of its peers does. */
const ETCD_ALL_AT_ONCE = 64;
export const ETCD_HEALTH_TIMEOUT_MS = 180_000;
const ETCD_HEALTH_POLL_MS = 2_000;

export interface EtcdTaskInput {
  hostSpec: HostSpec;
  /** the member's client URL (etcdctl's endpoint) */
  endpoint: string;
  /** etcd-server is not installed yet: its ports must be free before it is */
  checkPorts: boolean;
}

async function checkPortsFree(host: string, input: EtcdTaskInput, t: TaskRun): Promise<void> {
  const c = t.cluster;
  const spec = preflightSpecFor(
    c.spec,
    { name: host, role: 'control-plane', first: false, address: undefined },
    [],
  );
  const r = await t.call(host, 'preflight.run', { spec });
  const ids = new Set([`Port-${ETCD_CLIENT_PORT}`, `Port-${ETCD_PEER_PORT}`]);
  const taken = r.results.filter((x) => ids.has(x.id) && x.status === 'fail');
  if (taken.length > 0)
    throw new KctlError(
      'check_failed',
      `etcd member "${host}": ${taken.map((x) => `${x.id} (${x.observed})`).join('; ')}`,
      {
        details: {
          failed: taken.map((x) => x.id),
          remedy: `stop what listens on ${ETCD_CLIENT_PORT}/${ETCD_PEER_PORT} on ${host} (${input.endpoint})`,
        },
      },
    );
}

async function convergeMember(host: string, hostSpec: HostSpec, t: TaskRun): Promise<string[]> {
  const r = await t.call(host, 'host.apply', { spec: hostSpec });
  const failed = r.reports.filter((s) => s.status === 'failed');
  if (failed.length > 0) {
    const first = failed[0]?.error;
    throw new KctlError(
      'step_failed',
      `etcd member "${host}": ${failed.map((s) => `${s.title}: ${s.error?.message ?? 'failed'}`).join('; ')}`,
      {
        retryable: failed.every((s) => s.error?.retryable === true),
        ...(first?.details ? { details: first.details } : {}),
      },
    );
  }
  return r.reports.filter((s) => s.status === 'applied').map((s) => s.stepId);
}

/** Polls etcd.status on the member until every member of the cluster is healthy and there is a leader. */
async function waitHealthy(
  host: string,
  input: EtcdTaskInput,
  t: TaskRun,
  want: number,
): Promise<EtcdStatus> {
  const deadline = Date.now() + ETCD_HEALTH_TIMEOUT_MS;
  let last = 'no answer yet';
  for (;;) {
    try {
      const s = await t.call(host, 'etcd.status', memberConnection(input.endpoint));
      const healthy = s.members.filter((m) => m.healthy).length;
      if (s.healthy && s.members.length >= want) return s;
      last = `${healthy} of ${s.members.length} member(s) healthy${s.leader === undefined ? ', no leader' : ''}`;
    } catch (err) {
      last = err instanceof Error ? err.message : String(err);
    }
    if (Date.now() >= deadline)
      throw new KctlError(
        'step_failed',
        `etcd member "${host}": the etcd cluster is not healthy after ${ETCD_HEALTH_TIMEOUT_MS / 1000} s: ${last}`,
        {
          retryable: true,
          details: { remedy: `journalctl -u etcd.service on ${host} and its peers` },
        },
      );
    t.progress(`etcd: waiting for a healthy cluster (${last})`);
    await new Promise((r) => setTimeout(r, ETCD_HEALTH_POLL_MS));
  }
}

/**
 * Every member is rendered to form the cluster together (state new). A member the running cluster
 * does not know would start a cluster of its own: adding members needs `etcdctl member add` first
 * and state existing; a member dropped from cluster.yaml would change every other member's config
 * at once. This kctl does neither yet, so the plan stops and says so. An original member that never
 * started (a first apply cut short) is known to the cluster and joins it as new.
 */
function refuseGrowth(c: PlanningContext): void {
  const running = c.observed.etcd?.runningPeerUrls;
  if (running === undefined) return;
  const wanted = c.cluster.etcdMembers.map((m) => etcdPeerUrl(m.address));
  const dropped = running.filter((url) => !wanted.includes(url));
  if (dropped.length > 0)
    throw new KctlError(
      'invalid_spec',
      `hosts: the running etcd cluster has member(s) at ${dropped.join(', ')} that cluster.yaml no longer names; removing members from a running managed etcd is not done by this kctl yet`,
      {
        details: {
          peers: dropped,
          remedy: 'remove the member by hand (etcdctl member remove) first, or keep its host in cluster.yaml',
        },
      },
    );
  const unknown = c.cluster.etcdMembers.filter((m) => !running.includes(etcdPeerUrl(m.address)));
  if (unknown.length === 0) return;
  throw new KctlError(
    'invalid_spec',
    `hosts: etcd member(s) ${unknown.map((m) => `"${m.name}"`).join(', ')} are not members of the running etcd cluster (peers ${running.join(', ')}); adding members to a running managed etcd is not done by this kctl yet`,
    {
      details: {
        members: unknown.map((m) => m.name),
        remedy:
          'add the member by hand (etcdctl member add, then start it with ETCD_INITIAL_CLUSTER_STATE=existing) or leave it out of cluster.yaml',
      },
    },
  );
}

export const etcdPhase = phase<EtcdTaskInput>({
  id: 'etcd',
  operation: 'apply',
  title: 'Managed etcd members',
  summary:
    'etcd.mode managed: etcd-server, etcdctl, the etcd PKI and config on the etcd hosts, all members at once, until the cluster is healthy',
  mode: 'parallel',
  concurrency: () => ETCD_ALL_AT_ONCE,
  tasks: (c) => {
    refuseGrowth(c);
    return c.cluster.etcdMembers.flatMap((m) => {
      const steps = c.observed.etcd?.plans.get(m.name) ?? [];
      const changes = steps.flatMap((s) => s.changes);
      if (changes.length === 0) return [];
      return [
        {
          host: m.name,
          title: 'etcd member',
          input: {
            hostSpec: c.cluster.etcdHostSpecFor(m),
            endpoint: etcdClientUrl(m.address),
            checkPorts: installsEtcd(steps),
          },
          detail: `${changes.length} change(s), then etcd health`,
          changes,
        },
      ];
    });
  },
  async run(input, host, t) {
    // a retry may find the package's own etcd on those ports: the first attempt checked them
    if (input.checkPorts && t.attempt === 1) await checkPortsFree(host, input, t);
    const applied = await convergeMember(host, input.hostSpec, t);
    const status = await waitHealthy(host, input, t, t.cluster.etcdMembers.length);
    return {
      applied,
      members: status.members.length,
      healthy: status.members.filter((m) => m.healthy).length,
    };
  },
});
