import { z } from 'zod';
import { KctlError } from '../../proto/errors.js';
import type { OpArgs } from '../../proto/ops.js';
import type { Host } from '../host/host.js';
import { parseEtcdJson, runEtcdctl } from './etcdctl.js';
import type { AgentOp } from './registry.js';

const MemberList = z.object({
  members: z.array(z.object({ peerURLs: z.array(z.string()).optional() })).max(64),
});

/** etcd refuses a member add ("unhealthy cluster") until every member has been connected for 5 s. */
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
