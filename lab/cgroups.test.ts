import { describe, expect, it } from 'vitest';
import { hostCgroupDir, systemdHierarchies } from './cgroups.js';

const HYBRID_CGROUP = '9:name=systemd:/\n4:memory:/process_api/x\n1:cpu:/\n0::/\n';
const HYBRID_MOUNTINFO = [
  '31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755',
  '32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu',
  '40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd',
  '41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw',
].join('\n');

const V2_CGROUP = '0::/user.slice/user-0.slice/session-3.scope\n';
const V2_MOUNTINFO =
  '30 23 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate';

describe('cgroup hierarchies systemd-nspawn uses', () => {
  it('a hybrid machine has the named systemd v1 hierarchy and the v2 one', () => {
    expect(systemdHierarchies(HYBRID_CGROUP, HYBRID_MOUNTINFO)).toEqual([
      { mountPoint: '/sys/fs/cgroup/systemd', own: '/' },
      { mountPoint: '/sys/fs/cgroup/unified', own: '/' },
    ]);
  });

  it('a pure v2 machine has one hierarchy, and we remember our own cgroup in it', () => {
    expect(systemdHierarchies(V2_CGROUP, V2_MOUNTINFO)).toEqual([
      { mountPoint: '/sys/fs/cgroup', own: '/user.slice/user-0.slice/session-3.scope' },
    ]);
  });

  it('controller hierarchies (cpu, memory) are left alone', () => {
    const mounts = systemdHierarchies(HYBRID_CGROUP, HYBRID_MOUNTINFO).map((h) => h.mountPoint);
    expect(mounts).not.toContain('/sys/fs/cgroup/cpu');
  });

  it('each host gets its own cgroup under kctl-lab', () => {
    expect(hostCgroupDir({ mountPoint: '/sys/fs/cgroup/unified', own: '/' }, 'lab-2')).toBe(
      '/sys/fs/cgroup/unified/kctl-lab/lab-2',
    );
  });
});
