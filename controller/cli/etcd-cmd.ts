import { createHash, randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { Command } from 'commander';
import { KctlError } from '../../proto/errors.js';
import {
  EtcdSnapshotLine,
  EtcdStatusResponse,
  type EtcdMemberStatus,
  type EtcdStatusResponse as EtcdStatusResponseType,
} from '../../proto/etcd-ops.js';
import { loadClusterFile } from './cluster-file.js';
import { outputFormat, type CliContext } from './context.js';
import { renderTable } from '../../proto/text-table.js';

/** 1.2 MB, 20 kB: etcd's own DB sizes read best in decimal units, as etcdctl prints them. */
export function formatBytes(n: number | undefined): string {
  if (n === undefined) return '-';
  if (n < 1000) return `${n} B`;
  const units = ['kB', 'MB', 'GB', 'TB'];
  let v = n;
  let u = -1;
  while (v >= 1000 && u < units.length - 1) {
    v /= 1000;
    u++;
  }
  return `${v < 10 ? v.toFixed(1) : Math.round(v)} ${units[u] ?? 'TB'}`;
}

/** The table `kctl etcd status` prints: one row per member, the leader marked. */
export function renderEtcdStatus(r: EtcdStatusResponseType): string {
  const s = r.status;
  const rows = s.members.map((m: EtcdMemberStatus) => [
    m.id,
    m.name || '(unstarted)',
    m.endpoint ?? m.clientUrls[0] ?? '-',
    m.isLeader ? 'yes' : 'no',
    m.healthy ? 'healthy' : 'UNHEALTHY',
    formatBytes(m.dbSizeBytes),
    m.raftTerm !== undefined ? String(m.raftTerm) : '-',
    m.raftIndex !== undefined ? String(m.raftIndex) : '-',
    m.version ?? '-',
    m.error ?? '',
  ]);
  const unhealthy = s.members.filter((m) => !m.healthy).length;
  const verdict = s.healthy
    ? `healthy: ${s.members.length} member(s), leader ${s.leader ?? '?'}`
    : `UNHEALTHY: ${unhealthy} of ${s.members.length} member(s) unhealthy${s.leader === undefined ? ', no leader' : ''}`;
  return (
    `etcd of cluster ${r.cluster} (${r.mode}), read on ${r.host}, cluster id ${s.clusterId}: ${verdict}\n` +
    renderTable(
      [
        'ID',
        'NAME',
        'ENDPOINT',
        'LEADER',
        'HEALTH',
        'DB SIZE',
        'RAFT TERM',
        'RAFT INDEX',
        'VERSION',
        'ERROR',
      ],
      rows,
    )
  );
}

/**
 * Receives the snapshot route's lines into `path`: a temp file beside it created 0600 (never
 * readable by others, not even for a moment), each piece checked to follow the last, the SHA-256
 * taken while writing and compared with the agent's and the controller's, then fsync and rename.
 */
export class SnapshotReceiver {
  private fd: number | undefined;
  private readonly tmp: string;
  private readonly hash = createHash('sha256');
  private written = 0;
  start: Extract<EtcdSnapshotLine, { type: 'start' }> | undefined;
  done: Extract<EtcdSnapshotLine, { type: 'done' }> | undefined;
  error: KctlError | undefined;

  constructor(private readonly path: string) {
    this.tmp = join(dirname(path), `.${basename(path)}.kctl-tmp-${randomBytes(6).toString('hex')}`);
  }

  line(text: string): void {
    if (this.error !== undefined) return;
    let parsed: ReturnType<typeof EtcdSnapshotLine.safeParse>;
    try {
      parsed = EtcdSnapshotLine.safeParse(JSON.parse(text));
    } catch {
      this.error = new KctlError('invalid_frame', 'The controller sent a snapshot line that is not JSON');
      return;
    }
    if (!parsed.success) {
      this.error = new KctlError(
        'invalid_frame',
        'The controller sent a snapshot line kctl does not understand',
      );
      return;
    }
    const l = parsed.data;
    switch (l.type) {
      case 'start':
        this.start = l;
        this.fd = openSync(this.tmp, 'wx', 0o600);
        return;
      case 'chunk': {
        if (this.fd === undefined || l.offset !== this.written) {
          this.error = new KctlError(
            'io_error',
            `Snapshot piece at byte ${l.offset} does not follow byte ${this.written}`,
          );
          return;
        }
        const bytes = Buffer.from(l.data, 'base64');
        writeSync(this.fd, bytes);
        this.hash.update(bytes);
        this.written += bytes.length;
        return;
      }
      case 'done':
        this.done = l;
        return;
      case 'error':
        this.error = KctlError.fromWire(l.error);
        return;
    }
  }

  /** The stream broke: the temp file goes. */
  abort(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
    rmSync(this.tmp, { force: true });
  }

  /** After the stream: the file in place with its hash, or the temp file gone and the error thrown. */
  finish(): { size: number; sha256: string } {
    try {
      if (this.error) throw this.error;
      if (!this.start || !this.done || this.fd === undefined)
        throw new KctlError('io_error', 'The snapshot stream ended before the snapshot was complete', {
          retryable: true,
        });
      const sha256 = this.hash.digest('hex');
      if (this.written !== this.start.size || sha256 !== this.start.sha256 || sha256 !== this.done.sha256)
        throw new KctlError(
          'io_error',
          `The snapshot arrived as ${this.written} bytes with SHA-256 ${sha256}; the agent saved ${this.start.size} bytes with ${this.start.sha256}`,
          { retryable: true },
        );
      fsyncSync(this.fd);
      closeSync(this.fd);
      this.fd = undefined;
      renameSync(this.tmp, this.path);
      return { size: this.written, sha256 };
    } catch (err) {
      this.abort();
      throw err;
    }
  }
}

export function etcdCommand(ctx: CliContext): Command {
  const etcd = new Command('etcd').description(
    "the cluster's etcd: members and health, snapshots (docs/operations.md, restore procedure)",
  );
  etcd
    .command('status')
    .description(
      'members, leader, health, DB size, raft term and index, version (etcdctl on a control plane, or an etcd host for managed etcd); exit 1 when a member is unhealthy',
    )
    .option('-f, --file <cluster.yaml>', 'the cluster spec', 'cluster.yaml')
    .option('-o, --output <format>', 'table or json')
    .action(async (opts: { file: string; output?: string }, self: Command) => {
      const format = outputFormat(opts.output);
      const loaded = await loadClusterFile(opts.file);
      const client = await ctx.client(self);
      const r = await client.post('/v1/admin/etcd/status', { cluster: loaded.spec }, EtcdStatusResponse);
      ctx.out(format === 'json' ? JSON.stringify(r, null, 2) + '\n' : renderEtcdStatus(r));
      if (!r.status.healthy) ctx.exitCode = 1;
    });
  etcd
    .command('snapshot')
    .description(
      'an etcd snapshot (etcdctl snapshot save on a control plane or etcd host), streamed here over the agent channel: FILE (0600) and FILE.sha256',
    )
    .option('-f, --file <cluster.yaml>', 'the cluster spec', 'cluster.yaml')
    .requiredOption('--out <file>', 'where to write the snapshot')
    .action(async (opts: { file: string; out: string }, self: Command) => {
      const loaded = await loadClusterFile(opts.file);
      const client = await ctx.client(self);
      const path = resolve(opts.out);
      const receiver = new SnapshotReceiver(path);
      try {
        await client.stream('/v1/admin/etcd/snapshot', { cluster: loaded.spec }, (l) => receiver.line(l));
      } catch (err) {
        receiver.abort();
        throw err;
      }
      const { size, sha256 } = receiver.finish();
      // sha256sum's format: `sha256sum -c FILE.sha256` checks it beside the file
      await writeFile(`${path}.sha256`, `${sha256}  ${basename(path)}\n`, { mode: 0o644 });
      const start = receiver.start;
      ctx.out(
        `wrote ${path} (${size} bytes, revision ${start?.revision ?? '?'}, ${start?.totalKeys ?? '?'} keys, from ${start?.host ?? '?'} via ${start?.endpoint ?? '?'})\n` +
          `sha256 ${sha256}\n` +
          `wrote ${path}.sha256\n` +
          `  it holds every Secret of the cluster: keep it as you keep the cluster's CA key\n`,
      );
    });
  return etcd;
}
