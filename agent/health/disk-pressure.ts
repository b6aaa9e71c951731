import type { HealthResult, HealthSeverity } from '../../proto/health.js';
import type { FsSpace } from '../host/host.js';
import type { HealthCheck } from './health-check.js';
import { finding } from './health-check.js';

/** Where a node's images, pods and etcd data live; a path that does not exist (etcd on a worker) is not judged. */
export const NODE_DATA_DIRS = ['/var/lib/containerd', '/var/lib/kubelet', '/var/lib/etcd'] as const;

export const DISK_WARNING_PERCENT = 85;
export const DISK_CRITICAL_PERCENT = 95;

function severityOf(percent: number): HealthSeverity {
  if (percent >= DISK_CRITICAL_PERCENT) return 'critical';
  if (percent >= DISK_WARNING_PERCENT) return 'warning';
  return 'ok';
}

const pct = (used: number, total: number): number => Math.round((used / total) * 1000) / 10;

/** Pure judge: space and inodes used on the filesystem holding `path` (used = all − available, as df). */
export function judgeDiskPressure(path: string, space: FsSpace): HealthResult[] {
  const results: HealthResult[] = [];
  if (space.totalBytes > 0) {
    const used = pct(space.totalBytes - space.freeBytes, space.totalBytes);
    const gib = (space.freeBytes / 2 ** 30).toFixed(1);
    results.push(
      finding(
        `DiskPressure-${path}`,
        `disk space for ${path}`,
        severityOf(used),
        `${used}% used, ${gib} GiB free`,
        `free space on the filesystem holding ${path} (crictl rmi --prune removes unused images) or grow it`,
      ),
    );
  }
  // filesystems without a fixed inode table (btrfs) report 0 inodes
  if (space.totalInodes !== undefined && space.freeInodes !== undefined && space.totalInodes > 0) {
    const used = pct(space.totalInodes - space.freeInodes, space.totalInodes);
    results.push(
      finding(
        `InodePressure-${path}`,
        `inodes for ${path}`,
        severityOf(used),
        `${used}% of inodes used, ${space.freeInodes} free`,
        `remove small files on the filesystem holding ${path} (unused images, old pod logs) or grow it`,
      ),
    );
  }
  return results;
}

export const diskPressureCheck: HealthCheck = {
  id: 'DiskPressure',
  run: async ({ host }) => {
    const out: HealthResult[] = [];
    for (const path of NODE_DATA_DIRS) {
      const space = await host.statfs(path);
      if (space) out.push(...judgeDiskPressure(path, space));
    }
    return out;
  },
};
