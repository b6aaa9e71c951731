import { z } from 'zod';
import { KctlError } from '../../proto/errors.js';
import type { EtcdMemberStatus, EtcdStatus } from '../../proto/etcd-ops.js';
import { hexId, parseEtcdJson, runEtcdctl } from './etcdctl.js';
import type { AgentOp } from './registry.js';

/** What etcdctl 3.4/3.5 print with `-w json`; ids arrive quoted (parseEtcdJson). Other fields are ignored. */
const Id = z.string().regex(/^\d{1,20}$/);
const MemberList = z.object({
  header: z.object({ cluster_id: Id }),
  members: z
    .array(
      z.object({
        ID: Id,
        name: z.string().optional(),
        peerURLs: z.array(z.string()).optional(),
        clientURLs: z.array(z.string()).optional(),
      }),
    )
    .max(64),
});
const EndpointStatus = z.array(
  z.object({
    Endpoint: z.string(),
    Status: z.object({
      header: z.object({ member_id: Id }),
      version: z.string().optional(),
      dbSize: z.number().optional(),
      dbSizeInUse: z.number().optional(),
      leader: Id.optional(),
      raftIndex: z.number().optional(),
      raftTerm: z.number().optional(),
      raftAppliedIndex: z.number().optional(),
    }),
  }),
);
const EndpointHealth = z.array(
  z.object({ endpoint: z.string(), health: z.boolean(), error: z.string().optional() }),
);

type MemberList = z.infer<typeof MemberList>;
type EndpointStatus = z.infer<typeof EndpointStatus>;
type EndpointHealth = z.infer<typeof EndpointHealth>;

/**
 * The three answers joined per member (pure, so the table tests feed it etcdctl's own output):
 * a member is healthy when `endpoint health` said so for one of its client URLs.
 */
export function etcdStatusFrom(list: MemberList, status: EndpointStatus, health: EndpointHealth): EtcdStatus {
  const leaderDecimal = status.find((s) => s.Status.leader !== undefined && s.Status.leader !== '0')?.Status
    .leader;
  const leader = leaderDecimal !== undefined ? hexId(leaderDecimal) : undefined;
  const members: EtcdMemberStatus[] = list.members.map((m) => {
    const id = hexId(m.ID);
    const urls = m.clientURLs ?? [];
    const st = status.find((s) => s.Status.header.member_id === m.ID || urls.includes(s.Endpoint));
    const hl = health.find((h) => urls.includes(h.endpoint));
    const healthy = hl?.health === true;
    const error =
      urls.length === 0
        ? 'not started: the member has no client URL yet'
        : hl === undefined
          ? 'no answer to endpoint health'
          : healthy
            ? undefined
            : (hl.error ?? 'unhealthy');
    const s = st?.Status;
    return {
      id,
      name: m.name ?? '',
      peerUrls: m.peerURLs ?? [],
      clientUrls: urls,
      isLeader: leader === id,
      healthy,
      ...(st ? { endpoint: st.Endpoint } : hl ? { endpoint: hl.endpoint } : {}),
      ...(s?.version !== undefined ? { version: s.version } : {}),
      ...(s?.dbSize !== undefined ? { dbSizeBytes: s.dbSize } : {}),
      ...(s?.dbSizeInUse !== undefined ? { dbSizeInUseBytes: s.dbSizeInUse } : {}),
      ...(s?.raftTerm !== undefined ? { raftTerm: s.raftTerm } : {}),
      ...(s?.raftIndex !== undefined ? { raftIndex: s.raftIndex } : {}),
      ...(s?.raftAppliedIndex !== undefined ? { raftAppliedIndex: s.raftAppliedIndex } : {}),
      ...(error !== undefined ? { error: error.slice(0, 1024) } : {}),
    };
  });
  return {
    clusterId: hexId(list.header.cluster_id),
    ...(leader !== undefined ? { leader } : {}),
    members,
    healthy: members.length > 0 && leader !== undefined && members.every((m) => m.healthy),
  };
}

/** etcdctl's words for a failure: its last "Error:" line, else the end of stderr. */
function etcdctlError(stderr: string): string {
  const lines = stderr.trim().split('\n');
  return (lines.filter((l) => l.startsWith('Error:')).at(-1) ?? lines.at(-1) ?? '').slice(0, 500);
}

function parseAs<T>(schema: z.ZodType<T>, what: string, stdout: string): T {
  const r = schema.safeParse(parseEtcdJson(stdout));
  if (!r.success)
    throw new KctlError('program_failed', `etcdctl ${what} printed JSON kctl does not understand`, {
      details: { issues: r.error.issues.slice(0, 5).map((i) => `${i.path.join('.')}: ${i.message}`) },
    });
  return r.data;
}

/**
 * `etcd.status`: members (member list), leader, DB size, raft term and index, version (endpoint
 * status --cluster) and health (endpoint health --cluster), one etcdctl run each. The member list
 * must answer; the other two report what they could reach (etcdctl exits 1 when a member is down).
 */
export const etcdStatusOp: AgentOp<'etcd.status'> = {
  name: 'etcd.status',
  async run(conn, { host, log }) {
    const list = await runEtcdctl(host, conn, ['-w', 'json', 'member', 'list'], { allowFailure: true });
    if (list.exitCode !== 0)
      throw new KctlError(
        'program_failed',
        `etcdctl member list at ${conn.endpoints.join(',')} failed: ${etcdctlError(list.stderr)}`,
        {
          retryable: true,
          details: {
            remedy: 'is etcd running on the endpoint, and is the client certificate its CA signed?',
          },
        },
      );
    const members = parseAs(MemberList, 'member list', list.stdout);
    const [status, health] = await Promise.all([
      runEtcdctl(host, conn, ['-w', 'json', 'endpoint', 'status', '--cluster'], { allowFailure: true }),
      runEtcdctl(host, conn, ['-w', 'json', 'endpoint', 'health', '--cluster'], { allowFailure: true }),
    ]);
    const orEmpty = (text: string): string => (text.trim() === '' ? '[]' : text);
    const result = etcdStatusFrom(
      members,
      parseAs(EndpointStatus, 'endpoint status', orEmpty(status.stdout)),
      parseAs(EndpointHealth, 'endpoint health', orEmpty(health.stdout)),
    );
    log.info(
      { members: result.members.length, healthy: result.healthy, leader: result.leader ?? null },
      'etcd status read',
    );
    return result;
  },
};
