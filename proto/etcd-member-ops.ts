import { z } from 'zod';
import { EtcdConnection, type EtcdMemberStatus, type EtcdStatus } from './etcd-ops.js';
import { HttpsUrl } from './validators.js';

/**
 * etcd membership changes the engine makes (issue 15: growing and shrinking managed etcd).
 * Idempotent by themselves: the agent reads the member list first, so a command re-sent after a
 * controller crash finds the member it added (or does not find the one it removed) and does nothing.
 */
const MemberName = z
  .string()
  .regex(/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/)
  .max(253);

export const EtcdMemberOps = {
  /** `etcdctl member add NAME --peer-urls=URL` unless a member with that peer URL is listed already */
  'etcd.memberAdd': {
    args: EtcdConnection.extend({
      name: MemberName,
      peerUrl: HttpsUrl,
    }),
    result: z.strictObject({
      /** false: a member with this peer URL was there already (started or not) */
      added: z.boolean(),
      /** the cluster's members' peer URLs after the add */
      peerUrls: z.array(z.string().max(1024)).max(64),
    }),
  },
  /**
   * `etcdctl member remove ID` for the member named `name` (or listed with `peerUrl`: a member added
   * but never started has no name), run through a surviving member. Idempotent: a member no longer
   * listed is success with `removed: false`. Refuses (check_failed) to remove the last member, or a
   * member whose removal leaves fewer healthy members than the smaller cluster's quorum.
   */
  'etcd.memberRemove': {
    args: EtcdConnection.extend({
      name: MemberName,
      peerUrl: HttpsUrl.optional(),
    }),
    result: z.strictObject({
      /** false: no member by that name or peer URL was listed (removed already) */
      removed: z.boolean(),
      /** the removed member's id, hex as etcdctl prints it */
      id: z
        .string()
        .regex(/^[0-9a-f]{1,16}$/)
        .optional(),
      /** members the cluster lists after the removal */
      members: z.number().int().nonnegative(),
    }),
  },
  /**
   * On the removed member's own host: stop and disable etcd.service and empty etcd's data dir
   * (ETCD_MANAGED_DATA_DIR), so the host neither rejoins with its old identity nor keeps the
   * cluster's data. Nothing comes from the wire but the request; a host without etcd reports so.
   */
  'etcd.memberStop': {
    args: z.strictObject({}),
    result: z.strictObject({
      /** false: etcd.service is not installed on this host */
      unitInstalled: z.boolean(),
      /** the host paths removed from the data dir */
      cleared: z.array(z.string().max(4096)).max(100_000),
    }),
  },
} as const;

/**
 * Where a managed member keeps its data (etcd.mode managed). Not the package's /var/lib/etcd/default:
 * installing etcd-server starts a lone default member that writes a single-member cluster there,
 * and a member with a data dir ignores initial-cluster.
 */
export const ETCD_MANAGED_DATA_DIR = '/var/lib/etcd/kctl';

/** Members that must stay healthy in a cluster of `size` members. */
export function etcdQuorum(size: number): number {
  return Math.floor(size / 2) + 1;
}

export type MemberRemoval =
  | { kind: 'absent' }
  | { kind: 'remove'; member: EtcdMemberStatus; remaining: number }
  | { kind: 'refuse'; message: string; remedy: string };

/** The member `name` (or with `peerUrl`) in a member list: the controller plans with it, the agent checks it again. */
export function findEtcdMember(
  status: EtcdStatus,
  name: string,
  peerUrl?: string,
): EtcdMemberStatus | undefined {
  return (
    status.members.find((m) => m.name === name) ??
    (peerUrl === undefined ? undefined : status.members.find((m) => m.peerUrls.includes(peerUrl)))
  );
}

/**
 * Whether removing a member keeps the cluster: never the last member; the cluster must have a
 * quorum now (it commits the removal), and the members left must hold the smaller cluster's quorum
 * among the healthy ones (removing an unhealthy member is the usual reason to remove one, and is
 * fine while the others hold quorum). etcd's own strict reconfiguration check says the same, later
 * and in fewer words.
 */
export function judgeMemberRemoval(status: EtcdStatus, name: string, peerUrl?: string): MemberRemoval {
  const member = findEtcdMember(status, name, peerUrl);
  if (member === undefined) return { kind: 'absent' };
  const rest = status.members.filter((m) => m.id !== member.id);
  if (rest.length === 0)
    return {
      kind: 'refuse',
      message: `etcd member "${name}" is the last member of the cluster: removing it would lose every key`,
      remedy: 'take the whole cluster down with kctl reset instead, after a kctl etcd snapshot',
    };
  const unhealthy = (ms: readonly EtcdMemberStatus[]): string =>
    ms
      .filter((m) => !m.healthy)
      .map((m) => m.name || m.peerUrls.join(','))
      .join(', ');
  // the removal is itself a change the cluster must commit: it needs a quorum of the members now
  const healthyNow = status.members.filter((m) => m.healthy).length;
  if (healthyNow < etcdQuorum(status.members.length))
    return {
      kind: 'refuse',
      message: `etcd member "${name}" cannot be removed: the cluster has no quorum (${healthyNow} of ${status.members.length} member(s) healthy, ${etcdQuorum(status.members.length)} needed)`,
      remedy: `bring the unhealthy members (${unhealthy(status.members)}) back first (kctl etcd status)`,
    };
  const healthy = rest.filter((m) => m.healthy).length;
  const need = etcdQuorum(rest.length);
  if (healthy < need)
    return {
      kind: 'refuse',
      message: `removing etcd member "${name}" would break quorum: ${healthy} of the ${rest.length} member(s) left are healthy, ${need} needed`,
      remedy: `bring the unhealthy members (${unhealthy(rest)}) back first (kctl etcd status)`,
    };
  return { kind: 'remove', member, remaining: rest.length };
}
