import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import { KctlError } from '../../proto/errors.js';
import type { Host } from '../host/host.js';
import { ETCDCTL, parseEtcdJson, programPath, requireEtcdctl, runEtcdctl } from './etcdctl.js';
import type { AgentOp } from './registry.js';

/**
 * Where a snapshot waits while the controller reads it: the agent's own directory, 0600 files
 * (etcdctl creates them so). One snapshot at a time per host: a new one removes what an
 * interrupted transfer left behind.
 */
export const SNAPSHOT_DIR = '/var/lib/kctl-agent/etcd-snapshots';
const README = `${SNAPSHOT_DIR}/README`;
const SNAPSHOT_FILE = /^[0-9a-f]{32}\.db(\.part)?$/;
/** etcdctl's own deadline for the download from etcd, and ours for the whole run */
const SAVE_COMMAND_TIMEOUT = '10m';
const SAVE_TIMEOUT_MS = 11 * 60_000;

export const snapshotPath = (id: string): string => `${SNAPSHOT_DIR}/${id}.db`;

const SnapshotStatus = z.object({
  hash: z.number(),
  revision: z.number().int().nonnegative(),
  totalKey: z.number().int().nonnegative(),
  totalSize: z.number().int().nonnegative(),
});

async function removeLeftovers(host: Host): Promise<string[]> {
  const removed: string[] = [];
  for (const name of await host.listDir(SNAPSHOT_DIR)) {
    if (!SNAPSHOT_FILE.test(name)) continue;
    if (await host.removeFile(`${SNAPSHOT_DIR}/${name}`)) removed.push(name);
  }
  return removed;
}

/**
 * `etcd.snapshot`: `etcdctl snapshot save` from one endpoint into SNAPSHOT_DIR, then `etcdctl
 * snapshot status` on the file (a snapshot etcd cannot read is refused here, not after the copy).
 * The result names the file by id with its size and SHA-256; the bytes go by etcd.snapshotRead.
 */
export const etcdSnapshotOp: AgentOp<'etcd.snapshot'> = {
  name: 'etcd.snapshot',
  async run(conn, { host, log, progress }) {
    await requireEtcdctl(host);
    // makes the directory (0755, root's) through the Host layer before etcdctl writes into it
    await host.writeFileAtomic(
      README,
      'etcd snapshots on their way to the kctl controller; each is removed once sent\n',
      { mode: 0o644, uid: 0, gid: 0 },
    );
    const stale = await removeLeftovers(host);
    if (stale.length > 0) log.info({ removed: stale }, 'leftover etcd snapshots removed');
    const id = randomBytes(16).toString('hex');
    const path = snapshotPath(id);
    const endpoint = conn.endpoints[0] ?? '';
    progress({ message: `etcdctl snapshot save from ${endpoint}` });
    try {
      await runEtcdctl(host, conn, ['snapshot', 'save', '--', programPath(host, path)], {
        commandTimeout: SAVE_COMMAND_TIMEOUT,
        timeoutMs: SAVE_TIMEOUT_MS,
      });
      const statusRun = await host.run(
        ETCDCTL,
        ['-w', 'json', 'snapshot', 'status', '--', programPath(host, path)],
        { env: { ETCDCTL_API: '3' }, timeoutMs: 5 * 60_000 },
      );
      const status = SnapshotStatus.safeParse(parseEtcdJson(statusRun.stdout));
      if (!status.success)
        throw new KctlError(
          'program_failed',
          'etcdctl snapshot status printed JSON kctl does not understand',
        );
      const file = await host.hashFile(path);
      if (file === undefined)
        throw new KctlError('program_failed', `etcdctl snapshot save left no file at "${path}"`);
      log.info(
        { id, size: file.size, sha256: file.sha256, revision: status.data.revision, endpoint },
        'etcd snapshot saved',
      );
      return {
        id,
        size: file.size,
        sha256: file.sha256,
        endpoint,
        revision: status.data.revision,
        totalKeys: status.data.totalKey,
      };
    } catch (err) {
      await host.removeFile(path);
      await host.removeFile(`${path}.part`);
      throw err;
    }
  },
};

/**
 * `etcd.snapshotRead`: bytes of a saved snapshot, base64. Declared secretResult: the executor
 * never journals the result, and nothing here logs it.
 */
export const etcdSnapshotReadOp: AgentOp<'etcd.snapshotRead'> = {
  name: 'etcd.snapshotRead',
  secretResult: true,
  async run({ id, offset, length }, { host }) {
    const path = snapshotPath(id);
    const stat = await host.stat(path);
    const bytes = stat?.isFile ? await host.readFileRange(path, offset, length) : undefined;
    if (stat === undefined || bytes === undefined)
      throw new KctlError('not_found', `The etcd snapshot "${id}" is not on this host`, {
        details: { path, remedy: 'take a new snapshot (kctl etcd snapshot)' },
      });
    return { data: bytes.toString('base64'), eof: offset + bytes.length >= stat.size };
  },
};

/** `etcd.snapshotRemove`: the snapshot file goes once the controller has it (or gave up). */
export const etcdSnapshotRemoveOp: AgentOp<'etcd.snapshotRemove'> = {
  name: 'etcd.snapshotRemove',
  async run({ id }, { host, log }) {
    const removed = await host.removeFile(snapshotPath(id));
    await host.removeFile(`${snapshotPath(id)}.part`);
    log.info({ id, removed }, 'etcd snapshot removed');
    return { removed };
  },
};
