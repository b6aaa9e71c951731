import { describe, expect, it } from 'vitest';
import {
  cgroupVersionFromMounts,
  parseCgroupV1Controllers,
  parseCgroupV2Controllers,
  parseMounts,
} from './cgroups.js';

const V2 = 'sysfs /sys sysfs rw 0 0\ncgroup2 /sys/fs/cgroup cgroup2 rw,nosuid,nodev,noexec 0 0\n';
// this machine: v1 controllers with cgroup2 only at /sys/fs/cgroup/unified (hybrid), which kubeadm calls v1
const HYBRID = [
  'tmpfs /sys/fs/cgroup tmpfs rw,relatime,mode=755 0 0',
  'cgroup /sys/fs/cgroup/cpu cgroup rw,relatime,cpu 0 0',
  'cgroup /sys/fs/cgroup/memory cgroup rw,relatime,memory 0 0',
  'cgroup2 /sys/fs/cgroup/unified cgroup2 rw,relatime 0 0',
].join('\n');

describe('cgroup probes', () => {
  it.each([
    ['cgroup2 at /sys/fs/cgroup', V2, 2],
    ['a hybrid layout', HYBRID, 1],
    ['no cgroup mounts', 'proc /proc proc rw 0 0\n', 0],
  ])('detects the version from %s', (_name, mounts, version) => {
    expect(cgroupVersionFromMounts(parseMounts(mounts))).toBe(version);
  });

  it('decodes octal escapes in mount paths', () => {
    expect(parseMounts('/dev/sda1 /mnt/my\\040disk ext4 rw 0 0')[0]?.target).toBe('/mnt/my disk');
  });

  it('lists v2 controllers', () => {
    expect(parseCgroupV2Controllers('cpuset cpu io memory hugetlb pids rdma misc\n')).toEqual([
      'cpuset',
      'cpu',
      'io',
      'memory',
      'hugetlb',
      'pids',
      'rdma',
      'misc',
    ]);
  });

  it('lists enabled v1 controllers from /proc/cgroups', () => {
    const text =
      '#subsys_name\thierarchy\tnum_cgroups\tenabled\ncpuset\t3\t1\t1\ncpu\t1\t1\t1\nmemory\t4\t16\t0\n';
    expect(parseCgroupV1Controllers(text)).toEqual(['cpuset', 'cpu']);
  });
});
