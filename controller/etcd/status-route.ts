import { createHash } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { ClusterSpec } from '../../proto/cluster-spec.js';
import { KctlError, toWireError } from '../../proto/errors.js';
import {
  ETCD_SNAPSHOT_CHUNK_BYTES,
  EtcdClusterRequest,
  type EtcdConnection,
  type EtcdSnapshotLine,
  type EtcdStatusResponse,
} from '../../proto/etcd-ops.js';
import type { Route } from '../http-router.js';
import { HostClient, type HostRef } from '../host-client.js';
import type { AgentRegistry } from '../registry.js';
import { resolveHostRoles } from '../spec/resolve.js';
import type { AsyncStore } from '../store/store.js';

/**
 * `kctl etcd status` and `kctl etcd snapshot` (issue 15 part 2): the controller picks a host that
 * can reach etcd with a client certificate it already has (a control plane for stacked and
 * external etcd, an etcd member for managed etcd), asks its agent to run etcdctl, and hands the
 * answer to kctl. A snapshot travels from the agent in pieces over the agent channel (never
 * journaled, never logged) and on to kctl as JSON lines; kctl writes the file.
 */

export interface EtcdRouteDeps {
  store: AsyncStore;
  registry: AgentRegistry;
  log?: Logger | undefined;
}

/** etcdctl snapshot save of a large DB takes minutes; the agent allows it 11 (agent/ops/etcd-snapshot-ops.ts). */
const SNAPSHOT_TIMEOUT_MS = 12 * 60_000;

/** Where etcd listens on a stacked control plane or a managed member: its loopback client URL. */
export const LOCAL_ETCD = 'https://127.0.0.1:2379';

const PKI = '/etc/kubernetes/pki';
/** kubeadm's client certificate for etcd health checks, on every stacked control plane */
const STACKED_CLIENT = {
  cacert: `${PKI}/etcd/ca.crt`,
  cert: `${PKI}/etcd/healthcheck-client.crt`,
  key: `${PKI}/etcd/healthcheck-client.key`,
};
/** a managed member's own server pair (serverAuth and clientAuth), which every member has */
const MEMBER_CLIENT = {
  cacert: `${PKI}/etcd/ca.crt`,
  cert: `${PKI}/etcd/server.crt`,
  key: `${PKI}/etcd/server.key`,
};
/** the API server's etcd client pair kctl writes to control planes for external etcd */
const APISERVER_CLIENT = {
  cacert: `${PKI}/etcd/ca.crt`,
  cert: `${PKI}/apiserver-etcd-client.crt`,
  key: `${PKI}/apiserver-etcd-client.key`,
};

export interface EtcdCandidate {
  host: string;
  conn: EtcdConnection;
}

/**
 * The hosts to ask, in order, and how each reaches etcd (pure). Stacked: each control plane, the
 * first one first, through its own member on loopback. Managed: each etcd member the same way.
 * External: each control plane, through cluster.yaml's endpoints.
 */
export function etcdCandidates(
  spec: ClusterSpec,
  nodes: ReadonlyArray<{ name: string; role: string; first: boolean }>,
  etcdMembers: ReadonlyArray<{ name: string }>,
): EtcdCandidate[] {
  const controlPlanes = nodes
    .filter((n) => n.role === 'control-plane')
    .sort((a, b) => Number(b.first) - Number(a.first));
  switch (spec.etcd.mode) {
    case 'stacked':
      return controlPlanes.map((n) => ({
        host: n.name,
        conn: { endpoints: [LOCAL_ETCD], ...STACKED_CLIENT },
      }));
    case 'managed':
      return etcdMembers.map((m) => ({ host: m.name, conn: { endpoints: [LOCAL_ETCD], ...MEMBER_CLIENT } }));
    case 'external': {
      const endpoints = spec.etcd.endpoints;
      return controlPlanes.map((n) => ({ host: n.name, conn: { endpoints, ...APISERVER_CLIENT } }));
    }
  }
}

/** cluster.yaml's hosts that etcd commands may ask, with their registry ids. */
async function candidatesFor(
  store: AsyncStore,
  raw: unknown,
): Promise<{ spec: ClusterSpec; candidates: Array<EtcdCandidate & { ref: HostRef }> }> {
  const parsed = ClusterSpec.safeParse(raw);
  if (!parsed.success)
    throw new KctlError(
      'invalid_spec',
      `cluster: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`,
    );
  const spec = parsed.data;
  const enrolled = (await store.listHosts()).filter((h) => h.state === 'active');
  const roles = resolveHostRoles(
    spec,
    enrolled.map((h) => ({ name: h.name, labels: h.labels, ips: h.facts?.ips ?? [] })),
  );
  if (roles.errors.length > 0)
    throw new KctlError('invalid_spec', roles.errors.map((e) => `${e.path}: ${e.message}`).join('; '), {
      details: { issues: roles.errors },
    });
  const ids = new Map(enrolled.map((h) => [h.name, h.id]));
  const candidates = etcdCandidates(spec, roles.assignments, roles.etcdMembers).flatMap((c) => {
    const hostId = ids.get(c.host);
    return hostId === undefined ? [] : [{ ...c, ref: { hostId, name: c.host } }];
  });
  if (candidates.length === 0)
    throw new KctlError(
      'invalid_spec',
      `Cluster "${spec.name}" has no ${spec.etcd.mode === 'managed' ? 'etcd host' : 'control plane'} to read etcd from`,
    );
  return { spec, candidates };
}

/** Each candidate in turn until one answers; the error lists why each one could not. */
async function firstThatAnswers<T>(
  client: HostClient,
  spec: ClusterSpec,
  candidates: ReadonlyArray<EtcdCandidate & { ref: HostRef }>,
  ask: (c: EtcdCandidate & { ref: HostRef }) => Promise<T>,
): Promise<{ value: T; candidate: EtcdCandidate & { ref: HostRef } }> {
  const reasons: string[] = [];
  let lastCode: KctlError['code'] = 'host_offline';
  for (const c of candidates) {
    if (!client.isOnline(c.ref)) {
      reasons.push(`${c.host}: offline`);
      continue;
    }
    try {
      return { value: await ask(c), candidate: c };
    } catch (err) {
      const wire = toWireError(err);
      lastCode = wire.code;
      const remedy = typeof wire.details?.remedy === 'string' ? ` (${wire.details.remedy})` : '';
      reasons.push(`${c.host}: ${wire.message}${remedy}`);
    }
  }
  throw new KctlError(
    lastCode === 'host_offline' ? 'host_offline' : 'program_failed',
    `No host of cluster "${spec.name}" could read its etcd:\n  ${reasons.join('\n  ')}`,
    { details: { hosts: reasons }, retryable: true },
  );
}

/** Writes one line, waiting while the socket's buffer is full: a snapshot never piles up in memory. */
async function writeLine(res: ServerResponse, line: EtcdSnapshotLine): Promise<void> {
  if (res.destroyed || res.writableEnded)
    throw new KctlError('io_error', 'kctl went away during the snapshot');
  if (res.write(JSON.stringify(line) + '\n')) return;
  await new Promise<void>((resolve) => {
    const done = (): void => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.on('drain', done).on('close', done);
  });
}

export function etcdRoutes(deps: EtcdRouteDeps): Route[] {
  const actor = (caller: { kind: string; name?: string }): string =>
    caller.kind === 'admin' ? `admin:${caller.name ?? ''}` : 'unknown';
  return [
    {
      method: 'POST',
      path: '/v1/admin/etcd/status',
      auth: 'admin',
      handle: async (ctx): Promise<EtcdStatusResponse> => {
        const body = await ctx.body(EtcdClusterRequest);
        const { spec, candidates } = await candidatesFor(deps.store, body.cluster);
        const client = new HostClient(deps.registry);
        const { value, candidate } = await firstThatAnswers(client, spec, candidates, (c) =>
          client.call(c.ref, 'etcd.status', c.conn),
        );
        return { cluster: spec.name, mode: spec.etcd.mode, host: candidate.host, status: value };
      },
    },
    {
      method: 'POST',
      path: '/v1/admin/etcd/snapshot',
      auth: 'admin',
      handle: async (ctx) => {
        const body = await ctx.body(EtcdClusterRequest);
        const { spec, candidates } = await candidatesFor(deps.store, body.cluster);
        const client = new HostClient(deps.registry);
        // one endpoint per snapshot (etcdctl's rule); external etcd: each endpoint in turn
        const perEndpoint = candidates.flatMap((c) =>
          c.conn.endpoints.map((endpoint) => ({ ...c, conn: { ...c.conn, endpoints: [endpoint] } })),
        );
        const { value: snap, candidate } = await firstThatAnswers(client, spec, perEndpoint, (c) =>
          client.call(c.ref, 'etcd.snapshot', c.conn, { timeoutMs: SNAPSHOT_TIMEOUT_MS }),
        );
        const log = deps.log?.child({ cluster: spec.name, host: candidate.host, snapshot: snap.id });
        ctx.res.writeHead(200, { 'content-type': 'application/x-ndjson', 'cache-control': 'no-store' });
        const hash = createHash('sha256');
        let offset = 0;
        try {
          await writeLine(ctx.res, {
            type: 'start',
            host: candidate.host,
            endpoint: snap.endpoint,
            size: snap.size,
            sha256: snap.sha256,
            revision: snap.revision,
            totalKeys: snap.totalKeys,
          });
          for (let eof = snap.size === 0; !eof;) {
            const piece = await client.call(candidate.ref, 'etcd.snapshotRead', {
              id: snap.id,
              offset,
              length: ETCD_SNAPSHOT_CHUNK_BYTES,
            });
            const bytes = Buffer.from(piece.data, 'base64');
            if (bytes.length === 0 && !piece.eof)
              throw new KctlError(
                'io_error',
                `The snapshot on "${candidate.host}" ended early at byte ${offset}`,
              );
            hash.update(bytes);
            await writeLine(ctx.res, { type: 'chunk', offset, data: piece.data });
            offset += bytes.length;
            eof = piece.eof;
          }
          const sha256 = hash.digest('hex');
          if (offset !== snap.size || sha256 !== snap.sha256)
            throw new KctlError(
              'io_error',
              `The snapshot from "${candidate.host}" arrived as ${offset} bytes with SHA-256 ${sha256}, not the ${snap.size} bytes with ${snap.sha256} etcdctl saved`,
            );
          await writeLine(ctx.res, { type: 'done', size: offset, sha256 });
          await deps.store.audit({
            actor: actor(ctx.caller),
            action: 'etcd.snapshot',
            target: spec.name,
            details: {
              host: candidate.host,
              endpoint: snap.endpoint,
              size: offset,
              sha256,
              revision: snap.revision,
            },
          });
          log?.info({ size: offset, sha256 }, 'etcd snapshot sent');
        } catch (err) {
          log?.warn({ err: toWireError(err), offset }, 'etcd snapshot transfer failed');
          if (!ctx.res.destroyed && !ctx.res.writableEnded)
            ctx.res.write(
              JSON.stringify({ type: 'error', error: toWireError(err) } satisfies EtcdSnapshotLine) + '\n',
            );
        } finally {
          // the agent's copy goes whatever happened: the controller never keeps one either
          await client.call(candidate.ref, 'etcd.snapshotRemove', { id: snap.id }).catch((err: unknown) => {
            log?.warn({ err: toWireError(err) }, 'etcd snapshot not removed from the host');
          });
          ctx.res.end();
        }
        return undefined;
      },
    },
  ];
}
