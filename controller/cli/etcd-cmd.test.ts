import { createHash } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { EtcdSnapshotLine, EtcdStatusResponse } from '../../proto/etcd-ops.js';
import { formatBytes, renderEtcdStatus, SnapshotReceiver } from './etcd-cmd.js';

const line = (l: EtcdSnapshotLine): string => JSON.stringify(l);
const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

describe('kctl etcd status output', () => {
  it.each([
    [undefined, '-'],
    [512, '512 B'],
    [20480, '20 kB'],
    [1_234_567, '1.2 MB'],
    [8_000_000_000, '8.0 GB'],
  ])('formatBytes(%s) is %s', (n, text) => expect(formatBytes(n)).toBe(text));

  it('marks the leader and an unhealthy member with its reason', () => {
    const r: EtcdStatusResponse = {
      cluster: 'c1',
      mode: 'stacked',
      host: 'cp-1',
      status: {
        clusterId: '2ffd',
        leader: 'a1',
        healthy: false,
        members: [
          {
            id: 'a1',
            name: 'cp-1',
            peerUrls: [],
            clientUrls: ['https://10.0.0.1:2379'],
            isLeader: true,
            healthy: true,
            endpoint: 'https://10.0.0.1:2379',
            dbSizeBytes: 20480,
            raftTerm: 2,
            raftIndex: 8,
            version: '3.5.16',
          },
          {
            id: 'b2',
            name: 'cp-2',
            peerUrls: [],
            clientUrls: ['https://10.0.0.2:2379'],
            isLeader: false,
            healthy: false,
            error: 'context deadline exceeded',
          },
        ],
      },
    };
    const text = renderEtcdStatus(r);
    expect(text).toContain(
      'etcd of cluster c1 (stacked), read on cp-1, cluster id 2ffd: UNHEALTHY: 1 of 2 member(s) unhealthy',
    );
    expect(text).toMatch(
      /^a1\s+cp-1\s+https:\/\/10\.0\.0\.1:2379\s+yes\s+healthy\s+20 kB\s+2\s+8\s+3\.5\.16$/m,
    );
    expect(text).toMatch(
      /^b2\s+cp-2\s+https:\/\/10\.0\.0\.2:2379\s+no\s+UNHEALTHY\s+-\s+-\s+-\s+-\s+context deadline exceeded$/m,
    );
  });
});

describe('the snapshot receiver', () => {
  let dir = '';
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kctl-etcd-recv-'));
  });
  afterEach(() => rm(dir, { recursive: true, force: true }));
  const data = Buffer.from('etcd snapshot bytes '.repeat(100));
  const start = (over: Partial<Extract<EtcdSnapshotLine, { type: 'start' }>> = {}): string =>
    line({
      type: 'start',
      host: 'cp-1',
      endpoint: 'https://127.0.0.1:2379',
      size: data.length,
      sha256: sha(data),
      revision: 5,
      totalKeys: 9,
      ...over,
    });

  it('writes the pieces in order to a 0600 file with the agreed hash', async () => {
    const out = join(dir, 'snap.db');
    const r = new SnapshotReceiver(out);
    r.line(start());
    r.line(line({ type: 'chunk', offset: 0, data: data.subarray(0, 700).toString('base64') }));
    r.line(line({ type: 'chunk', offset: 700, data: data.subarray(700).toString('base64') }));
    r.line(line({ type: 'done', size: data.length, sha256: sha(data) }));
    expect(r.finish()).toEqual({ size: data.length, sha256: sha(data) });
    expect(await readFile(out)).toEqual(data);
    expect((await stat(out)).mode & 0o777).toBe(0o600);
  });

  it.each([
    [
      'a piece out of order',
      [start(), line({ type: 'chunk', offset: 5, data: 'AAAA' })],
      /does not follow byte 0/,
    ],
    [
      'bytes whose hash differs from the agent',
      [
        start({ sha256: 'a'.repeat(64) }),
        line({ type: 'chunk', offset: 0, data: data.toString('base64') }),
        line({ type: 'done', size: data.length, sha256: sha(data) }),
      ],
      /arrived as/,
    ],
    [
      'a stream cut before done',
      [start(), line({ type: 'chunk', offset: 0, data: data.toString('base64') })],
      /ended before/,
    ],
    [
      'an error line from the controller',
      [
        start(),
        line({
          type: 'error',
          error: { code: 'program_failed', message: 'etcdctl failed', retryable: false },
        }),
      ],
      /etcdctl failed/,
    ],
  ])('refuses %s and leaves no file behind', async (_what, lines, message) => {
    const out = join(dir, 'snap.db');
    const r = new SnapshotReceiver(out);
    for (const l of lines) r.line(l);
    expect(() => r.finish()).toThrow(message);
    expect(await readdir(dir)).toEqual([]);
  });
});
