import { describe, expect, it } from 'vitest';
import { parseKernelConfig } from '../probes/kernel-config.js';
import type { KernelConfig } from '../probes/kernel-config.js';
import { judgeCgroups, judgeKernelConfig, judgeKernelVersion, judgeOs } from './system-verification.js';

const FULL = [
  'NAMESPACES NET_NS PID_NS IPC_NS UTS_NS CPUSETS MEMCG INET EXT4_FS PROC_FS NETFILTER_XT_MATCH_COMMENT FAIR_GROUP_SCHED',
  'IP_NF_TARGET_REDIRECT CGROUPS CGROUP_CPUACCT CGROUP_DEVICE CGROUP_FREEZER CGROUP_PIDS CGROUP_SCHED CGROUP_BPF',
  'OVERLAY_FS BLK_DEV_DM CFS_BANDWIDTH SECCOMP SECCOMP_FILTER CGROUP_HUGETLB',
]
  .join(' ')
  .split(' ');

function config(symbols: readonly string[], extra = ''): KernelConfig {
  return {
    source: '/proc/config.gz',
    values: parseKernelConfig(symbols.map((s) => `CONFIG_${s}=y`).join('\n') + extra),
  };
}

describe('SystemVerification', () => {
  it.each([
    ['6.18.44-fc-v595', 'v1.35.0', 'pass'],
    ['5.15.0-91-generic', 'v1.34.1', 'pass'],
    ['5.8.0', 'v1.34.1', 'warn'],
    ['4.18.0-553.el8', 'v1.34.0', 'warn'],
    ['4.18.0-553.el8', 'v1.33.0', 'fail'],
    ['4.19.0', 'v1.32.0', 'pass'],
    ['4.4.0', 'v1.31.0', 'pass'],
    ['3.9.0', 'v1.31.0', 'fail'],
  ])('kernel %s for Kubernetes %s is %s', (release, version, status) => {
    expect(judgeKernelVersion(release, version).status).toBe(status);
  });

  it.each([
    ['Linux', 'pass'],
    ['', 'fail'],
  ])('OS %j is %s', (ostype, status) => {
    expect(judgeOs(ostype).status).toBe(status);
  });

  it.each([
    ['every option', config(FULL), 2, 'pass'],
    ['the REDIRECT alias and AUFS_FS missing next to overlay', config(FULL), 1, 'pass'],
    ['modules (=m) instead of built in', config([], FULL.map((s) => `\nCONFIG_${s}=m`).join('')), 2, 'pass'],
    ['an optional option missing', config(FULL.filter((s) => s !== 'BLK_DEV_DM')), 2, 'warn'],
    ['MEMCG missing', config(FULL.filter((s) => s !== 'MEMCG')), 2, 'fail'],
    ['CGROUP_BPF missing on v2', config(FULL.filter((s) => s !== 'CGROUP_BPF')), 2, 'fail'],
    ['CGROUP_BPF missing on v1', config(FULL.filter((s) => s !== 'CGROUP_BPF')), 1, 'pass'],
    ['no kernel config at all', undefined, 2, 'fail'],
  ] as const)('kernel config with %s is %s', (_name, kernelConfig, cgroupVersion, status) => {
    expect(judgeKernelConfig(kernelConfig, cgroupVersion).status).toBe(status);
  });

  it('names the missing options', () => {
    expect(judgeKernelConfig(config(FULL.filter((s) => s !== 'MEMCG')), 2).observed).toContain(
      'CONFIG_MEMCG',
    );
  });

  const V2 = ['cpuset', 'cpu', 'io', 'memory', 'hugetlb', 'pids', 'devices', 'freezer'];
  const V1 = ['cpuset', 'cpu', 'cpuacct', 'blkio', 'memory', 'devices', 'freezer', 'pids', 'hugetlb'];
  it.each([
    ['v2 with every controller', { version: 2, controllers: V2 }, 'v1.35.0', 'pass'],
    ['v2 without hugetlb', { version: 2, controllers: V2.filter((c) => c !== 'hugetlb') }, 'v1.35.0', 'warn'],
    ['v2 without memory', { version: 2, controllers: V2.filter((c) => c !== 'memory') }, 'v1.33.0', 'fail'],
    ['v1 below 1.35', { version: 1, controllers: V1 }, 'v1.34.2', 'warn'],
    ['v1 at 1.35', { version: 1, controllers: V1 }, 'v1.35.0', 'fail'],
    ['v1 without pids', { version: 1, controllers: V1.filter((c) => c !== 'pids') }, 'v1.30.0', 'fail'],
    ['no cgroups', { version: 0, controllers: [] }, 'v1.33.0', 'fail'],
  ] as const)('cgroups %s is %s', (_name, cgroups, version, status) => {
    expect(
      judgeCgroups({ version: cgroups.version, controllers: [...cgroups.controllers] }, version).status,
    ).toBe(status);
  });
});
