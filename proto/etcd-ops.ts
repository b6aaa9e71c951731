import { posix } from 'node:path';
import { z } from 'zod';
import { WireError } from './errors.js';
import { HttpsUrl } from './validators.js';

/**
 * etcd day-2 reads (issue 15 part 2): `kctl etcd status` and `kctl etcd snapshot`. The agent runs
 * etcdctl with the endpoints and client credentials the controller names; the credentials are
 * paths on the host, never key material on the wire, and only paths where kubeadm or kctl keep
 * etcd's PKI are accepted.
 */

/** Directories whose files may be handed to etcdctl as --cacert, --cert or --key. */
export const ETCD_CERT_DIRS = ['/etc/kubernetes/pki/etcd', '/etc/etcd'] as const;
/** Single files outside them: the API server's etcd client pair (etcd.mode external and managed). */
export const ETCD_CERT_FILES = [
  '/etc/kubernetes/pki/apiserver-etcd-client.crt',
  '/etc/kubernetes/pki/apiserver-etcd-client.key',
] as const;

/** True for a file directly in one of ETCD_CERT_DIRS, or one of ETCD_CERT_FILES; lexical, no `..`. */
export function isEtcdCertPath(path: string): boolean {
  if (path.includes('\0') || !path.startsWith('/') || posix.normalize(path) !== path) return false;
  if (path.split('/').includes('..')) return false;
  if ((ETCD_CERT_FILES as readonly string[]).includes(path)) return true;
  const dir = posix.dirname(path);
  return (
    (ETCD_CERT_DIRS as readonly string[]).includes(dir) &&
    /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/.test(posix.basename(path))
  );
}

export const EtcdCertPath = z
  .string()
  .max(4096)
  .refine(isEtcdCertPath, {
    message: `must be a file in ${ETCD_CERT_DIRS.join(' or ')}, or ${ETCD_CERT_FILES.join(' or ')}`,
  });

/** How etcdctl reaches the cluster: client URLs and the files of a client certificate on the host. */
export const EtcdConnection = z.strictObject({
  endpoints: z.array(HttpsUrl).min(1).max(16),
  cacert: EtcdCertPath,
  cert: EtcdCertPath,
  key: EtcdCertPath,
});
export type EtcdConnection = z.infer<typeof EtcdConnection>;

/** etcd member and cluster ids as etcdctl's table prints them: 16 hex digits (uint64 is beyond JSON numbers). */
const HexId = z.string().regex(/^[0-9a-f]{1,16}$/);
const Text = z.string().max(1024);

export const EtcdMemberStatus = z.strictObject({
  id: HexId,
  /** empty for a member added but not started yet */
  name: z.string().max(256),
  peerUrls: z.array(Text).max(16),
  clientUrls: z.array(Text).max(16),
  isLeader: z.boolean(),
  /** `endpoint health` answered true for one of its client URLs */
  healthy: z.boolean(),
  /** what `endpoint status` and `endpoint health` said, when the member answered */
  endpoint: Text.optional(),
  version: z.string().max(64).optional(),
  dbSizeBytes: z.number().int().nonnegative().optional(),
  dbSizeInUseBytes: z.number().int().nonnegative().optional(),
  raftTerm: z.number().int().nonnegative().optional(),
  raftIndex: z.number().int().nonnegative().optional(),
  raftAppliedIndex: z.number().int().nonnegative().optional(),
  /** why it is not healthy, as etcdctl put it */
  error: Text.optional(),
});
export type EtcdMemberStatus = z.infer<typeof EtcdMemberStatus>;

export const EtcdStatus = z.strictObject({
  clusterId: HexId,
  /** the leader's member id, when a member that answered knows one */
  leader: HexId.optional(),
  members: z.array(EtcdMemberStatus).max(64),
  /** every member answered healthy and there is a leader */
  healthy: z.boolean(),
});
export type EtcdStatus = z.infer<typeof EtcdStatus>;

/** A snapshot file in the agent's run directory, named by the agent: 32 hex digits, nothing else. */
export const EtcdSnapshotId = z.string().regex(/^[0-9a-f]{32}$/, 'must be 32 hex digits');
/** Bytes per etcd.snapshotRead: base64 of it (4/3) stays well under the 1 MiB frame cap. */
export const ETCD_SNAPSHOT_CHUNK_BYTES = 512 * 1024;

export const EtcdOps = {
  /** `etcdctl member list`, `endpoint status --cluster`, `endpoint health --cluster`; read-only */
  'etcd.status': {
    args: EtcdConnection,
    result: EtcdStatus,
  },
  /**
   * `etcdctl snapshot save` (one endpoint) into a file in the agent's run directory (0600), checked
   * with `etcdctl snapshot status`. Only the file's name, size and hash come back; the bytes travel
   * by etcd.snapshotRead, and etcd.snapshotRemove deletes the file.
   */
  'etcd.snapshot': {
    args: EtcdConnection.extend({ endpoints: z.array(HttpsUrl).length(1) }),
    result: z.strictObject({
      id: EtcdSnapshotId,
      size: z.number().int().nonnegative(),
      sha256: z.string().regex(/^[0-9a-f]{64}$/),
      endpoint: HttpsUrl,
      /** from `etcdctl snapshot status` */
      revision: z.number().int().nonnegative(),
      totalKeys: z.number().int().nonnegative(),
    }),
  },
  /**
   * One piece of a snapshot file, base64. A credential (the snapshot holds every Secret of the
   * cluster): never journaled, never logged.
   */
  'etcd.snapshotRead': {
    args: z.strictObject({
      id: EtcdSnapshotId,
      offset: z.number().int().nonnegative(),
      length: z.number().int().min(1).max(ETCD_SNAPSHOT_CHUNK_BYTES),
    }),
    result: z.strictObject({
      data: z
        .string()
        .max(Math.ceil(ETCD_SNAPSHOT_CHUNK_BYTES / 3) * 4)
        .regex(/^[A-Za-z0-9+/]*={0,2}$/),
      /** true when this piece reaches the end of the file */
      eof: z.boolean(),
    }),
  },
  /** removes a snapshot file from the agent's run directory; false when it was not there */
  'etcd.snapshotRemove': {
    args: z.strictObject({ id: EtcdSnapshotId }),
    result: z.strictObject({ removed: z.boolean() }),
  },
} as const;

/** POST /v1/admin/etcd/status and /v1/admin/etcd/snapshot: which cluster (cluster.yaml, parsed YAML). */
export const EtcdClusterRequest = z.strictObject({ cluster: z.unknown() });
export type EtcdClusterRequest = z.infer<typeof EtcdClusterRequest>;

export const EtcdStatusResponse = z.strictObject({
  cluster: z.string(),
  mode: z.enum(['stacked', 'managed', 'external']),
  /** the host etcdctl ran on */
  host: z.string(),
  status: EtcdStatus,
});
export type EtcdStatusResponse = z.infer<typeof EtcdStatusResponse>;

/** The snapshot route's answer, one JSON line each: start, the pieces in order, then done (or error). */
export const EtcdSnapshotLine = z.discriminatedUnion('type', [
  z.strictObject({
    type: z.literal('start'),
    host: z.string(),
    endpoint: z.string(),
    size: z.number().int().nonnegative(),
    sha256: z.string().regex(/^[0-9a-f]{64}$/),
    revision: z.number().int().nonnegative(),
    totalKeys: z.number().int().nonnegative(),
  }),
  z.strictObject({
    type: z.literal('chunk'),
    offset: z.number().int().nonnegative(),
    data: z.string().max(Math.ceil(ETCD_SNAPSHOT_CHUNK_BYTES / 3) * 4),
  }),
  /** the controller's own hash of what it forwarded, equal to the agent's */
  z.strictObject({ type: z.literal('done'), size: z.number().int().nonnegative(), sha256: z.string() }),
  z.strictObject({ type: z.literal('error'), error: WireError }),
]);
export type EtcdSnapshotLine = z.infer<typeof EtcdSnapshotLine>;
