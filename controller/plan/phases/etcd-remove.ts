import { KctlError } from '../../../proto/errors.js';
import { ETCD_MANAGED_DATA_DIR, judgeMemberRemoval } from '../../../proto/etcd-member-ops.js';
import { etcdPeerUrl } from '../../render/etcd.js';
import { memberConnection } from '../etcd-observe.js';
import { phase, type PlanningContext } from '../phase.js';

/**
 * etcd.mode managed, `kctl node remove <etcd host>`: the member leaves the cluster through a
 * surviving member (`etcdctl member remove`), then etcd is stopped and disabled on its host and its
 * data dir emptied. Planned from the member list a surviving member reports, judged by the rule the
 * agent checks again before it acts (proto/etcd-member-ops.ts: never the last member, never below
 * quorum). Both calls are idempotent, so a task resumed after a controller kill finishes the job.
 */
export interface EtcdRemoveMemberInput {
  /** the member's name (its host's name) and, when cluster.yaml still names it, its peer URL */
  name: string;
  peerUrl?: string;
  /** the member etcdctl member remove runs on */
  via: { host: string; endpoint: string };
}

function removalTarget(c: PlanningContext): { name: string; peerUrl?: string } | undefined {
  const node = c.target?.node;
  if (node === undefined || c.cluster.spec.etcd.mode !== 'managed') return undefined;
  const inSpec = c.cluster.etcdMembers.find((m) => m.name === node);
  return { name: node, ...(inSpec ? { peerUrl: etcdPeerUrl(inSpec.address) } : {}) };
}

export const etcdRemoveMemberPhase = phase<EtcdRemoveMemberInput>({
  id: 'etcd-remove-member',
  operation: 'remove-node',
  title: 'Remove a managed etcd member',
  summary:
    'etcd.mode managed: etcdctl member remove through a surviving member (never the last, never below quorum), then etcd stopped, disabled and its data dir emptied on the host',
  mode: 'serial',
  concurrency: () => 1,
  tasks: (c) => {
    const target = removalTarget(c);
    if (target === undefined) return [];
    const membership = c.observed.etcdMembership;
    if (membership === undefined) {
      // a host cluster.yaml still names as an etcd member must not leave unseen by etcd
      if (target.peerUrl === undefined) return [];
      throw new KctlError(
        'host_offline',
        `etcd member "${target.name}": no other etcd member of cluster "${c.cluster.spec.name}" answered etcd status, so its removal cannot be planned`,
        { retryable: true, details: { remedy: 'kctl etcd status; bring a surviving member back first' } },
      );
    }
    const judged = judgeMemberRemoval(membership.status, target.name, target.peerUrl);
    if (judged.kind === 'refuse')
      throw new KctlError('check_failed', judged.message, {
        details: { member: target.name, remedy: judged.remedy },
      });
    // removed already (a finished removal, or by hand): nothing to plan, so a second plan is empty
    if (judged.kind === 'absent') return [];
    const { via } = membership;
    return [
      {
        host: target.name,
        title: 'remove etcd member',
        input: { ...target, via },
        detail: `etcdctl member remove ${judged.member.id} (${target.name}) on ${via.host}, ${judged.remaining} member(s) left; then stop and disable etcd.service on ${target.name} and empty ${ETCD_MANAGED_DATA_DIR}`,
      },
    ];
  },
  async run(input, host, t) {
    t.progress(`etcd: member remove ${input.name} through ${input.via.host}`);
    const removed = await t.call(input.via.host, 'etcd.memberRemove', {
      ...memberConnection(input.via.endpoint),
      name: input.name,
      ...(input.peerUrl !== undefined ? { peerUrl: input.peerUrl } : {}),
    });
    t.progress(`etcd: stop etcd.service on ${host} and empty its data dir`);
    const stopped = await t.call(host, 'etcd.memberStop', {});
    return {
      removed: removed.removed,
      ...(removed.id !== undefined ? { id: removed.id } : {}),
      members: removed.members,
      unitInstalled: stopped.unitInstalled,
      cleared: stopped.cleared.length,
    };
  },
});
