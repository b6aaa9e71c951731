import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { LocalHost } from '../../agent/host/local-host.js';
import { etcdSnapshotOp, etcdSnapshotRemoveOp, snapshotPath } from '../../agent/ops/etcd-snapshot-ops.js';
import { etcdStatusOp } from '../../agent/ops/etcd-status-ops.js';
import type { OpContext } from '../../agent/ops/registry.js';
import { makeHostRoot, tempDir } from './harness.js';
import { startRealEtcd, type RealEtcd } from './etcd-real.js';

/**
 * The restore procedure of docs/operations.md, which kctl does not automate, checked with the real
 * etcd 3.4: a snapshot taken by the etcd.snapshot op is restored into three new data dirs, one
 * `etcdctl snapshot restore` per member with its own name and peer URL, the same
 * --initial-cluster and a new token; the restored members form a healthy cluster with new member
 * ids and the data of the snapshot.
 */
describe('restoring a kctl etcd snapshot into a new three-member cluster, as documented', () => {
  const clusters: RealEtcd[] = [];
  const dirs: string[] = [];
  afterAll(async () => {
    await Promise.all(clusters.map((c) => c.close()));
    await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
  });

  it('every member restored from the same snapshot: healthy, new member ids, the keys are back', async () => {
    const dir = await tempDir('etcd-restore');
    const root = await makeHostRoot('etcd-1');
    dirs.push(dir, root);
    const before = await startRealEtcd(join(dir, 'before'), 3);
    clusters.push(before);
    await before.installClientFiles(root);
    const host = new LocalHost({ root });
    const ctx: OpContext = {
      host,
      hostId: 'h1',
      log: pino({ level: 'silent' }),
      signal: new AbortController().signal,
      progress: () => undefined,
    };
    const conn = {
      endpoints: before.endpoints.slice(0, 1),
      cacert: '/etc/kubernetes/pki/etcd/ca.crt',
      cert: '/etc/kubernetes/pki/etcd/server.crt',
      key: '/etc/kubernetes/pki/etcd/server.key',
    };
    expect((await before.etcdctl(['put', '/registry/configmaps/default/kept', 'from-before'])).exitCode).toBe(
      0,
    );
    const oldIds = (await etcdStatusOp.run(conn, ctx)).members.map((m) => m.id).sort();
    const snap = await etcdSnapshotOp.run(conn, ctx);
    const file = join(root, snapshotPath(snap.id));
    // written after the snapshot: a restore must not have it
    expect((await before.etcdctl(['put', '/registry/configmaps/default/later', 'x'])).exitCode).toBe(0);

    const after = await startRealEtcd(join(dir, 'after'), 3, { restoreFrom: file, pki: before.pki });
    clusters.push(after);
    await etcdSnapshotRemoveOp.run({ id: snap.id }, ctx);

    const s = await etcdStatusOp.run({ ...conn, endpoints: after.endpoints.slice(0, 1) }, ctx);
    expect(s.healthy).toBe(true);
    expect(s.members.map((m) => m.name).sort()).toEqual(['m1', 'm2', 'm3']);
    expect(s.members.map((m) => m.id).sort()).not.toEqual(oldIds);
    const kept = await after.etcdctl(['get', '/registry/configmaps/default/kept', '--print-value-only']);
    expect(kept.stdout.trim()).toBe('from-before');
    const later = await after.etcdctl(['get', '/registry/configmaps/default/later', '--print-value-only']);
    expect(later.stdout.trim()).toBe('');
  }, 15_000);
});
