import { createHash } from 'node:crypto';
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalHost } from '../../agent/host/local-host.js';
import { etcdStatusOp } from '../../agent/ops/etcd-status-ops.js';
import {
  etcdSnapshotOp,
  etcdSnapshotReadOp,
  etcdSnapshotRemoveOp,
  snapshotPath,
} from '../../agent/ops/etcd-snapshot-ops.js';
import type { OpContext } from '../../agent/ops/registry.js';
import { KctlError } from '../../proto/errors.js';
import { Ops } from '../../proto/ops.js';
import type { EtcdConnection } from '../../proto/etcd-ops.js';
import { startEtcdWithHost, type EtcdWithHost, type RealEtcd } from './etcd-real.js';

/**
 * The etcd ops against a REAL three-member etcd cluster (Debian's etcd 3.4) on loopback, with TLS
 * certificates from the controller's etcd PKI code, run by a LocalHost over a temp root that holds
 * them in kubeadm's layout, as on a managed etcd host.
 */
describe('etcd.status and etcd.snapshot against a real etcd cluster', () => {
  let dir = '';
  let root = '';
  let etcd: RealEtcd;
  let host: LocalHost;
  const ctx = (): OpContext => ({
    host,
    hostId: 'h-etcd',
    log: pino({ level: 'silent' }),
    signal: new AbortController().signal,
    progress: () => undefined,
  });
  const conn = (endpoints = etcd.endpoints.slice(0, 1)): EtcdConnection => ({
    endpoints,
    cacert: '/etc/kubernetes/pki/etcd/ca.crt',
    cert: '/etc/kubernetes/pki/etcd/server.crt',
    key: '/etc/kubernetes/pki/etcd/server.key',
  });

  let lab: EtcdWithHost | undefined;

  beforeAll(async () => {
    lab = await startEtcdWithHost('etcd-ops');
    ({ dir, root, etcd, host } = lab);
  }, 60_000);
  afterAll(() => lab?.close());

  it('etcd.status lists three healthy members, one leader, DB size, raft term and index, version', async () => {
    const s = await etcdStatusOp.run(conn(), ctx());
    expect(Ops['etcd.status'].result.parse(s)).toEqual(s);
    expect(s.healthy).toBe(true);
    expect(s.members.map((m) => m.name).sort()).toEqual(['m1', 'm2', 'm3']);
    expect(s.members.filter((m) => m.isLeader)).toHaveLength(1);
    expect(s.members.find((m) => m.isLeader)?.id).toBe(s.leader);
    for (const m of s.members) {
      expect(m, m.name).toMatchObject({ healthy: true, version: expect.stringMatching(/^3\.\d+\.\d+$/) });
      expect(m.dbSizeBytes).toBeGreaterThan(0);
      expect(m.raftTerm).toBeGreaterThanOrEqual(1);
      expect(m.raftIndex).toBeGreaterThan(0);
      expect(m.clientUrls).toHaveLength(1);
    }
    // ids as etcdctl's table prints them: the same hex as `etcdctl member list -w table`
    const table = await etcd.etcdctl(['member', 'list']);
    for (const m of s.members) expect(table.stdout).toContain(`${m.id}, started, ${m.name}`);
  });

  it('etcd.snapshot saves a snapshot etcdctl reads; etcd.snapshotRead returns it in pieces; etcd.snapshotRemove deletes it', async () => {
    for (let i = 0; i < 5; i++) {
      const put = await etcd.etcdctl(['put', `/registry/test/k${i}`, 'x'.repeat(40_000)]);
      expect(put.exitCode, put.stderr).toBe(0);
    }
    const snap = await etcdSnapshotOp.run(conn(), ctx());
    expect(Ops['etcd.snapshot'].result.parse(snap)).toEqual(snap);
    expect(snap.totalKeys).toBeGreaterThanOrEqual(5);
    const onHost = join(root, snapshotPath(snap.id));
    expect((await stat(onHost)).mode & 0o777).toBe(0o600);

    // small pieces, so that the reassembly is really tested
    const pieces: Buffer[] = [];
    for (let offset = 0, eof = false; !eof;) {
      const r = await etcdSnapshotReadOp.run({ id: snap.id, offset, length: 64 * 1024 }, ctx());
      expect(Ops['etcd.snapshotRead'].result.safeParse(r).success).toBe(true);
      const bytes = Buffer.from(r.data, 'base64');
      pieces.push(bytes);
      offset += bytes.length;
      eof = r.eof;
    }
    const whole = Buffer.concat(pieces);
    expect(pieces.length).toBeGreaterThan(1);
    expect(whole.length).toBe(snap.size);
    expect(createHash('sha256').update(whole).digest('hex')).toBe(snap.sha256);
    const copy = join(dir, 'copy.db');
    await writeFile(copy, whole);
    const status = await execa('/usr/bin/etcdctl', ['-w', 'json', 'snapshot', 'status', copy], {
      env: { ETCDCTL_API: '3' },
    });
    expect(JSON.parse(status.stdout)).toMatchObject({ totalKey: snap.totalKeys });

    expect(await etcdSnapshotRemoveOp.run({ id: snap.id }, ctx())).toEqual({ removed: true });
    await expect(stat(onHost)).rejects.toThrow(/ENOENT/);
    const gone = await etcdSnapshotReadOp
      .run({ id: snap.id, offset: 0, length: 1024 }, ctx())
      .catch((e: unknown) => e);
    expect(gone).toBeInstanceOf(KctlError);
    expect((gone as KctlError).code).toBe('not_found');
  });

  it('a new snapshot removes what an interrupted transfer left behind', async () => {
    const leftover = join(root, snapshotPath('0'.repeat(32)));
    await writeFile(leftover, 'half a snapshot');
    const snap = await etcdSnapshotOp.run(conn(), ctx());
    await expect(stat(leftover)).rejects.toThrow(/ENOENT/);
    await etcdSnapshotRemoveOp.run({ id: snap.id }, ctx());
  });

  it.each([
    ['a key outside the etcd PKI', { key: '/etc/shadow' }],
    ['a path with ..', { cert: '/etc/kubernetes/pki/etcd/../admin.conf' }],
    ['a file below a subdirectory', { cacert: '/etc/kubernetes/pki/etcd/x/ca.crt' }],
    ['the cluster CA key', { key: '/etc/kubernetes/pki/ca.key' }],
    ['a plain http endpoint', { endpoints: ['http://127.0.0.1:2379'] }],
  ])('the args schema refuses %s', (_what, change) => {
    const args = { ...conn(['https://127.0.0.1:2379']), ...change };
    expect(Ops['etcd.status'].args.safeParse(args).success).toBe(false);
  });

  it('a missing client certificate file is named', async () => {
    const err = await etcdStatusOp
      .run({ ...conn(), cert: '/etc/kubernetes/pki/etcd/monitoring-client.crt' }, ctx())
      .catch((e: unknown) => e);
    expect((err as KctlError).message).toContain('/etc/kubernetes/pki/etcd/monitoring-client.crt');
    expect((err as KctlError).code).toBe('not_found');
  });

  it('without etcdctl on the host, the error names etcdctl and the package to install', async () => {
    const empty = join(dir, 'no-programs');
    await mkdir(empty, { recursive: true });
    const bare = new LocalHost({ root, programPath: [empty] });
    const err = await etcdStatusOp.run(conn(), { ...ctx(), host: bare }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(KctlError);
    expect((err as KctlError).message).toContain('etcdctl is not installed');
    expect(JSON.stringify((err as KctlError).details)).toContain('etcd-client');
    const snapErr = await etcdSnapshotOp.run(conn(), { ...ctx(), host: bare }).catch((e: unknown) => e);
    expect((snapErr as KctlError).message).toContain('etcdctl is not installed');
  });

  it("a stopped member is reported unhealthy with etcdctl's reason; the others stay healthy", async () => {
    const down = etcd.members[2];
    if (!down) throw new Error('no third member');
    await etcd.stop(down.name);
    // the other two may be electing a new leader for a moment: wait for it, as an operator would
    let s = await etcdStatusOp.run(conn(), ctx());
    for (let i = 0; i < 20 && s.members.filter((m) => m.healthy).length < 2; i++) {
      await new Promise((resolve) => setTimeout(resolve, 250));
      s = await etcdStatusOp.run(conn(), ctx());
    }
    expect(s.healthy).toBe(false);
    const m3 = s.members.find((m) => m.name === down.name);
    expect(m3).toMatchObject({ healthy: false, isLeader: false });
    expect(m3?.error).toBeTruthy();
    expect(m3?.dbSizeBytes).toBeUndefined();
    expect(
      s.members
        .filter((m) => m.healthy)
        .map((m) => m.name)
        .sort(),
    ).toEqual(['m1', 'm2']);
    expect(await readFile(join(root, '/etc/kubernetes/pki/etcd/ca.crt'), 'utf8')).toContain(
      'BEGIN CERTIFICATE',
    );
  }, 30_000);
});
