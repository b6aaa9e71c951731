import { KctlError } from '../../../proto/errors.js';
import type { EtcdStatus } from '../../../proto/etcd-ops.js';
import type { HostSpec } from '../../../proto/host-spec.js';
import { ETCD_CLIENT_PORT, ETCD_PEER_PORT, etcdClientUrl, etcdPeerUrl } from '../../render/etcd.js';
import type { Change, StepPlan } from '../../../proto/results.js';
import { installsEtcd, memberConnection } from '../etcd-observe.js';
import { phase, type DerivedTask, type PlanningContext, type TaskRun } from '../phase.js';
import { preflightSpecFor, type PlannedEtcdMember } from '../resolved-cluster.js';

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
 * A running member whose host cluster.yaml no longer names stops the plan: a member leaves only by
 * `kctl node remove` (the etcd-remove-member phase), shown and confirmed like any removal.
 */
function refuseDropped(c: PlanningContext, listed: readonly string[]): void {
  const wanted = c.cluster.etcdMembers.map((m) => etcdPeerUrl(m.address));
  const dropped = listed.filter((url) => !wanted.includes(url));
  if (dropped.length === 0) return;
  throw new KctlError(
    'invalid_spec',
    `hosts: the running etcd cluster has member(s) at ${dropped.join(', ')} that cluster.yaml no longer names; apply does not remove etcd members`,
    {
      details: {
        peers: dropped,
        remedy:
          'kctl node remove <host> for each (it removes the member through a surviving one, then stops etcd on it), or keep its host in cluster.yaml',
      },
    },
  );
}

function planOf(c: PlanningContext, name: string): { steps: StepPlan[]; changes: Change[] } {
  const steps = c.observed.etcd?.plans.get(name) ?? [];
  return { steps, changes: steps.flatMap((s) => s.changes) };
}

/**
 * Forming the cluster: every member with changes at once, each rendered with all members (state
 * new), when no running etcd cluster answered. A member that never started after a first apply was
 * cut short is listed by the cluster it was formed with; the etcd-members phase starts it.
 */
export const etcdPhase = phase<EtcdTaskInput>({
  id: 'etcd',
  operation: 'apply',
  title: 'Form the managed etcd cluster',
  summary:
    'etcd.mode managed, no etcd running yet: etcd-server, etcdctl, the etcd PKI and config on every etcd host at once, until the cluster is healthy',
  mode: 'parallel',
  concurrency: () => ETCD_ALL_AT_ONCE,
  tasks: (c) => {
    if (c.observed.etcd?.running !== undefined) return [];
    return c.cluster.etcdMembers.flatMap((m) => {
      const { steps, changes } = planOf(c, m.name);
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

export interface EtcdMemberTaskInput extends EtcdTaskInput {
  /** members the cluster lists once this task is done: the health wait wants them all */
  members: number;
  /**
   * A member new to the running cluster: `etcdctl member add` on `via` (a started member; skipped
   * when its peer URL is listed already), then started with `joinSpec` (state existing, the members
   * etcd lists then), then moved to its steady spec (`hostSpec`) like every other member.
   */
  join?: { joinSpec: HostSpec; name: string; peerUrl: string; via: { host: string; endpoint: string } };
}

/**
 * A running managed etcd, one member at a time so the quorum holds: members new to cluster.yaml
 * are added (those etcd lists but that never started first), then members whose files changed are
 * restarted with them, waiting for a healthy cluster after each.
 */
export const etcdMembersPhase = phase<EtcdMemberTaskInput>({
  id: 'etcd-members',
  operation: 'apply',
  title: 'Change the running managed etcd, one member at a time',
  summary:
    'etcd.mode managed, etcd running: new members added (etcdctl member add, started as existing), changed members restarted one at a time, health after each',
  mode: 'serial',
  concurrency: () => 1,
  tasks: (c) => {
    const running = c.observed.etcd?.running;
    if (running === undefined) return [];
    refuseDropped(c, running.listed);
    const members = c.cluster.etcdMembers;
    const peer = (m: PlannedEtcdMember): string => etcdPeerUrl(m.address);
    const via = members.find((m) => running.started.includes(peer(m)));
    const joiners = [
      ...members.filter((m) => !running.started.includes(peer(m)) && running.listed.includes(peer(m))),
      ...members.filter((m) => !running.listed.includes(peer(m))),
    ];
    if (joiners.length > 0 && via === undefined)
      throw new KctlError('invalid_spec', 'hosts: no started etcd member to add the new members through');
    const listed = new Set(running.listed);
    const tasks: Array<DerivedTask<EtcdMemberTaskInput>> = [];
    for (const m of joiners) {
      listed.add(peer(m));
      const { steps, changes } = planOf(c, m.name);
      const now = members.filter((x) => listed.has(peer(x)));
      tasks.push({
        host: m.name,
        title: 'add etcd member',
        input: {
          hostSpec: c.cluster.etcdHostSpecFor(m),
          endpoint: etcdClientUrl(m.address),
          checkPorts: installsEtcd(steps),
          members: now.length,
          ...(via
            ? {
                join: {
                  joinSpec: c.cluster.etcdHostSpecFor(m, { members: now }),
                  name: m.name,
                  peerUrl: peer(m),
                  via: { host: via.name, endpoint: etcdClientUrl(via.address) },
                },
              }
            : {}),
        },
        detail: `etcdctl member add ${m.name} on ${via?.name ?? '?'}, start as existing (${now.length} members), then its steady config`,
        changes,
      });
    }
    for (const m of members) {
      if (joiners.includes(m)) continue;
      const { changes } = planOf(c, m.name);
      if (changes.length === 0) continue;
      tasks.push({
        host: m.name,
        title: 'restart etcd member',
        input: {
          hostSpec: c.cluster.etcdHostSpecFor(m),
          endpoint: etcdClientUrl(m.address),
          checkPorts: false,
          members: members.length,
        },
        detail: `${changes.length} change(s), restarted alone, then etcd health`,
        changes,
      });
    }
    return tasks;
  },
  async run(input, host, t) {
    const applied: string[] = [];
    if (input.join) {
      const { via, name, peerUrl } = input.join;
      // before the add: a member that cannot start would only cost the cluster fault tolerance
      if (input.checkPorts && t.attempt === 1) await checkPortsFree(host, input, t);
      t.progress(`etcd: member add ${name} through ${via.host}`);
      await t.call(via.host, 'etcd.memberAdd', {
        ...memberConnection(via.endpoint),
        name,
        peerUrl,
      });
      applied.push(...(await convergeMember(host, input.join.joinSpec, t)));
      await waitHealthy(host, input, t, input.members);
    }
    applied.push(...(await convergeMember(host, input.hostSpec, t)));
    const status = await waitHealthy(host, input, t, input.members);
    return {
      applied: [...new Set(applied)],
      members: status.members.length,
      healthy: status.members.filter((m) => m.healthy).length,
    };
  },
});
