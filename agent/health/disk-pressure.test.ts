import { describe, expect, it } from 'vitest';
import { judgeDiskPressure } from './disk-pressure.js';

const GiB = 2 ** 30;

describe('judgeDiskPressure', () => {
  it.each([
    ['half full', 50, 'ok'],
    ['84.9 % full', 84.9, 'ok'],
    ['85 % full', 85, 'warning'],
    ['94 % full', 94, 'warning'],
    ['95 % full', 95, 'critical'],
    ['full', 100, 'critical'],
  ] as const)('space: %s', (_name, usedPercent, severity) => {
    const total = 1000 * GiB;
    const [space] = judgeDiskPressure('/var/lib/containerd', {
      totalBytes: total,
      freeBytes: total * (1 - usedPercent / 100),
    });
    expect(space).toMatchObject({ id: 'DiskPressure-/var/lib/containerd', severity });
    if (severity !== 'ok') expect(space!.remedy).toContain('/var/lib/containerd');
  });

  it.each([
    ['10 % of inodes', 10, 'ok'],
    ['85 % of inodes', 85, 'warning'],
    ['99 % of inodes', 99, 'critical'],
  ] as const)('inodes: %s', (_name, usedPercent, severity) => {
    const results = judgeDiskPressure('/var/lib/kubelet', {
      totalBytes: 100 * GiB,
      freeBytes: 90 * GiB,
      totalInodes: 1_000_000,
      freeInodes: 1_000_000 * (1 - usedPercent / 100),
    });
    expect(results.map((r) => [r.id, r.severity])).toEqual([
      ['DiskPressure-/var/lib/kubelet', 'ok'],
      ['InodePressure-/var/lib/kubelet', severity],
    ]);
  });

  it('does not judge inodes on a filesystem without an inode count (btrfs reports 0)', () => {
    const results = judgeDiskPressure('/var/lib/etcd', {
      totalBytes: GiB,
      freeBytes: GiB / 2,
      totalInodes: 0,
      freeInodes: 0,
    });
    expect(results.map((r) => r.id)).toEqual(['DiskPressure-/var/lib/etcd']);
  });
});
