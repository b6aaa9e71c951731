import { z } from 'zod';
import { KctlError } from '../../proto/errors.js';
import { ETCD_MANAGED_DATA_DIR, findEtcdMember, judgeMemberRemoval } from '../../proto/etcd-member-ops.js';
import type { OpArgs } from '../../proto/ops.js';
import type { Host } from '../host/host.js';
import { parseEtcdJson, runEtcdctl } from './etcdctl.js';
import { etcdStatusOp } from './etcd-status-ops.js';
import type { AgentOp } from './registry.js';

const MemberList = z.object({
  members: z.array(z.object({ peerURLs: z.array(z.string()).optional() })).max(64),
});

/** etcd refuses a member add or remove ("unhealthy cluster") until every member has been connected for 5 s. */
export const MEMBER_ADD_RETRY_MS = 30_000;
const RETRY_EVERY_MS = 1_000;

async function peerUrls(host: Host, conn: OpArgs<'etcd.memberAdd'>): Promise<string[]> {
  const { endpoints, cacert, cert, key } = conn;
  const r = await runEtcdctl(host, { endpoints, cacert, cert, key }, ['member', 'list', '-w', 'json']);
  const parsed = MemberList.safeParse(parseEtcdJson(r.stdout));
  if (!parsed.success)
    throw new KctlError('program_failed', 'etcdctl member list printed JSON of another shape');
  return parsed.data.members.flatMap((m) => m.peerURLs ?? []);
}

/** `etcd.memberAdd`: the member list first, then member add, retried while etcd says the cluster is unhealthy. */
export const etcdMemberAddOp: AgentOp<'etcd.memberAdd'> = {
  name: 'etcd.memberAdd',
  async run(args, { host, log }) {
    const before = await peerUrls(host, args);
    if (before.includes(args.peerUrl)) return { added: false, peerUrls: before };
    const { endpoints, cacert, cert, key } = args;
    const conn = { endpoints, cacert, cert, key };
    const started = Date.now();
    for (;;) {
      const r = await runEtcdctl(host, conn, ['member', 'add', args.name, `--peer-urls=${args.peerUrl}`], {
        allowFailure: true,
      });
      if (r.exitCode === 0) break;
      const unhealthy = /unhealthy cluster/.test(r.stderr);
      if (!unhealthy || Date.now() - started > MEMBER_ADD_RETRY_MS)
        throw new KctlError(
          'program_failed',
          `etcdctl member add ${args.name}: ${r.stderr.trim().slice(0, 500)}`,
          {
            retryable: unhealthy,
          },
        );
      await new Promise((res) => setTimeout(res, RETRY_EVERY_MS));
    }
    log.info({ member: args.name, peerUrl: args.peerUrl }, 'etcd member added');
    return { added: true, peerUrls: await peerUrls(host, args) };
  },
};

const ETCD_UNIT = 'etcd.service';
const unhealthyCluster = (stderr: string): boolean => /unhealthy cluster/.test(stderr);

/**
 * `etcd.memberRemove`: the cluster's status first (member list and health, as etcd.status reads
 * them), judged by the same rule the controller planned with (never the last member, never below
 * quorum), then `etcdctl member remove ID`. A member no longer listed is success: the command
 * re-sent after a controller crash finds it gone.
 */
export const etcdMemberRemoveOp: AgentOp<'etcd.memberRemove'> = {
  name: 'etcd.memberRemove',
  async run(args, ctx) {
    const { endpoints, cacert, cert, key } = args;
    const conn = { endpoints, cacert, cert, key };
    const status = await etcdStatusOp.run(conn, ctx);
    const judged = judgeMemberRemoval(status, args.name, args.peerUrl);
    if (judged.kind === 'absent') return { removed: false, members: status.members.length };
    if (judged.kind === 'refuse')
      throw new KctlError('check_failed', judged.message, {
        details: { member: args.name, remedy: judged.remedy },
      });
    const remove = (): ReturnType<typeof runEtcdctl> =>
      runEtcdctl(ctx.host, conn, ['member', 'remove', judged.member.id], { allowFailure: true });
    const started = Date.now();
    let r = await remove();
    // as with member add: etcd refuses a reconfiguration until every member has been connected for 5 s
    while (r.exitCode !== 0 && unhealthyCluster(r.stderr) && Date.now() - started < MEMBER_ADD_RETRY_MS) {
      await new Promise((res) => setTimeout(res, RETRY_EVERY_MS));
      r = await remove();
    }
    if (r.exitCode !== 0) {
      // a member removed by a run this one did not see (another etcdctl, a retried command): listed no more
      const after = await etcdStatusOp.run(conn, ctx);
      if (findEtcdMember(after, args.name, args.peerUrl) === undefined)
        return { removed: false, members: after.members.length };
      throw new KctlError(
        'program_failed',
        `etcdctl member remove ${judged.member.id} (${args.name}) at ${endpoints.join(',')}: ${r.stderr.trim().slice(-500)}`,
        { retryable: unhealthyCluster(r.stderr) },
      );
    }
    ctx.log.info({ member: args.name, memberId: judged.member.id }, 'etcd member removed');
    return { removed: true, id: judged.member.id, members: judged.remaining };
  },
};

/**
 * `etcd.memberStop`, on a member removed from its cluster: stop and disable etcd.service (a removed
 * member that starts again only logs that it was removed), then empty its data dir, so nothing of
 * the cluster's data stays and a later join starts clean. Safe to run again.
 */
export const etcdMemberStopOp: AgentOp<'etcd.memberStop'> = {
  name: 'etcd.memberStop',
  async run(_args, { host, log }) {
    const load = await host.run('systemctl', ['show', '--property=LoadState', '--value', '--', ETCD_UNIT], {
      allowFailure: true,
      timeoutMs: 30_000,
    });
    const unitInstalled = load.exitCode === 0 && load.stdout.trim() !== 'not-found';
    if (unitInstalled) {
      await host.run('systemctl', ['disable', '--now', '--', ETCD_UNIT], { timeoutMs: 300_000 });
      log.info({ unit: ETCD_UNIT }, 'unit stopped and disabled');
    }
    const cleared = await host.clearDirectory(ETCD_MANAGED_DATA_DIR);
    log.info({ dataDir: ETCD_MANAGED_DATA_DIR, removed: cleared.length }, 'etcd data dir cleared');
    return { unitInstalled, cleared: cleared.slice(0, 100_000) };
  },
};
