import type { CgroupInfo } from '../probes/cgroups.js';
import { configEnabled } from '../probes/kernel-config.js';
import type { KernelConfig } from '../probes/kernel-config.js';
import { compareMinor, parseKubeVersion } from '../../proto/checks.js';
import type { Check, CheckOutcome } from './check.js';
import { fail, pass } from './check.js';

/** kubeadm's SystemVerification, split into four results; ignoring "SystemVerification" ignores all four. */

interface KernelRule {
  fromMinor: number;
  patterns: readonly RegExp[];
  accepted: string;
  /** a mismatch fails (error) or only warns */
  mismatch: 'fail' | 'warn';
}

/** system-validators' accepted kernels by Kubernetes version (kubeadm-facts §1.7), newest first. */
const KERNEL_RULES: readonly KernelRule[] = [
  {
    fromMinor: 34,
    patterns: [/^5\.4.*$/, /^5\.10.*$/, /^5\.15.*$/, /^([6-9]|[1-9][0-9]+)\.([0-9]+)\.([0-9]+).*$/],
    accepted: '5.4, 5.10, 5.15 or 6.0+',
    mismatch: 'warn',
  },
  {
    fromMinor: 32,
    patterns: [/^4\.19.*$/, /^4\.[2-9][0-9].*$/, /^([5-9]|[1-9][0-9]+)\.([0-9]+)\.([0-9]+).*$/],
    accepted: '4.19+',
    mismatch: 'fail',
  },
  {
    fromMinor: 0,
    patterns: [/^3\.[1-9][0-9].*$/, /^([4-9]|[1-9][0-9]+)\.([0-9]+)\.([0-9]+).*$/],
    accepted: '3.10+',
    mismatch: 'fail',
  },
];

function minorOf(kubernetesVersion: string): number {
  const v = parseKubeVersion(kubernetesVersion);
  return v === undefined ? Number.MAX_SAFE_INTEGER : v.major > 1 ? Number.MAX_SAFE_INTEGER : v.minor;
}

export function judgeKernelVersion(release: string, kubernetesVersion: string): CheckOutcome {
  const minor = minorOf(kubernetesVersion);
  const rule = KERNEL_RULES.find((r) => minor >= r.fromMinor) ?? KERNEL_RULES[KERNEL_RULES.length - 1];
  if (rule === undefined) return pass(release, 'any kernel');
  const expected = `kernel ${rule.accepted} for Kubernetes ${kubernetesVersion}`;
  if (rule.patterns.some((p) => p.test(release))) return pass(`kernel ${release}`, expected);
  return {
    status: rule.mismatch,
    observed: `kernel ${release}`,
    expected,
    remedy: `boot a kernel ${rule.accepted} (for cgroup v2, 5.10 or newer is recommended)`,
  };
}

export function judgeOs(ostype: string): CheckOutcome {
  return ostype === 'Linux'
    ? pass('Linux', 'Linux')
    : fail(ostype === '' ? 'unknown OS' : ostype, 'Linux', 'run Kubernetes nodes on Linux');
}

/** Required symbols; a list entry with several names accepts any of them (aliases). */
const REQUIRED_CONFIG: readonly (readonly string[])[] = [
  ['NAMESPACES'],
  ['NET_NS'],
  ['PID_NS'],
  ['IPC_NS'],
  ['UTS_NS'],
  ['CPUSETS'],
  ['MEMCG'],
  ['INET'],
  ['EXT4_FS'],
  ['PROC_FS'],
  ['NETFILTER_XT_TARGET_REDIRECT', 'IP_NF_TARGET_REDIRECT'],
  ['NETFILTER_XT_MATCH_COMMENT'],
  ['FAIR_GROUP_SCHED'],
];
const REQUIRED_CONFIG_V1 = [
  'CGROUPS',
  'CGROUP_CPUACCT',
  'CGROUP_DEVICE',
  'CGROUP_FREEZER',
  'CGROUP_PIDS',
  'CGROUP_SCHED',
];
const REQUIRED_CONFIG_V2 = ['CGROUPS', 'CGROUP_BPF', 'CGROUP_PIDS', 'CGROUP_SCHED'];
const OPTIONAL_CONFIG: readonly (readonly string[])[] = [
  ['OVERLAY_FS', 'OVERLAYFS_FS'],
  ['AUFS_FS'],
  ['BLK_DEV_DM'],
  ['CFS_BANDWIDTH'],
  ['SECCOMP'],
  ['SECCOMP_FILTER'],
  ['CGROUP_HUGETLB'],
];

export function judgeKernelConfig(config: KernelConfig | undefined, cgroupVersion: 0 | 1 | 2): CheckOutcome {
  const expected =
    'required kernel options (CONFIG_NAMESPACES, CONFIG_NET_NS, CONFIG_MEMCG, ...) built in or as modules';
  if (config === undefined) {
    return fail(
      'no kernel config found (/proc/config.gz, /boot/config-<release>, ...)',
      expected,
      'load the configs module (modprobe configs) or install the kernel config file in /boot',
    );
  }
  const has = (names: readonly string[]): boolean => names.some((n) => configEnabled(config, n));
  const cgroupRequired = cgroupVersion === 2 ? REQUIRED_CONFIG_V2 : REQUIRED_CONFIG_V1;
  const required = [...REQUIRED_CONFIG, ...cgroupRequired.map((n) => [n])];
  const missing = required.filter((names) => !has(names)).map((names) => `CONFIG_${names.join('|CONFIG_')}`);
  // aufs is an alternative to overlay for container storage; not having it matters only without overlay
  const optional = OPTIONAL_CONFIG.filter(
    (names) => !(names[0] === 'AUFS_FS' && has(['OVERLAY_FS', 'OVERLAYFS_FS'])),
  );
  const optionalMissing = optional
    .filter((names) => !has(names))
    .map((names) => `CONFIG_${names.join('|CONFIG_')}`);
  if (missing.length > 0) {
    return fail(
      `not set in ${config.source}: ${[...missing, ...optionalMissing].join(', ')}`,
      expected,
      'boot a kernel built with these options (most distribution kernels have them)',
    );
  }
  if (optionalMissing.length > 0) {
    return {
      status: 'warn',
      observed: `optional options not set in ${config.source}: ${optionalMissing.join(', ')}`,
      expected,
      remedy: 'some workloads or storage drivers need these; a distribution kernel has them',
    };
  }
  return pass(`all required and optional options set in ${config.source}`, expected);
}

const REQUIRED_CONTROLLERS_V1 = ['cpu', 'cpuacct', 'cpuset', 'devices', 'freezer', 'memory', 'pids'];
const OPTIONAL_CONTROLLERS_V1 = ['hugetlb', 'blkio'];
const REQUIRED_CONTROLLERS_V2 = ['cpu', 'cpuset', 'devices', 'freezer', 'memory', 'pids'];
const OPTIONAL_CONTROLLERS_V2 = ['hugetlb', 'io'];

/** kubelet refuses cgroup v1 from 1.35 unless failCgroupV1 is false (kubeadm-facts §1.6). */
export const CGROUP_V1_ERROR_FROM = '1.35';

export function judgeCgroups(cgroups: CgroupInfo, kubernetesVersion: string): CheckOutcome {
  const expected = 'cgroup v2 with cpu, cpuset, devices, freezer, memory and pids controllers';
  if (cgroups.version === 0) {
    return fail(
      'no cgroup filesystem mounted',
      expected,
      'mount cgroup2 on /sys/fs/cgroup (systemd does this at boot)',
    );
  }
  const required = cgroups.version === 2 ? REQUIRED_CONTROLLERS_V2 : REQUIRED_CONTROLLERS_V1;
  const optional = cgroups.version === 2 ? OPTIONAL_CONTROLLERS_V2 : OPTIONAL_CONTROLLERS_V1;
  const missing = required.filter((c) => !cgroups.controllers.includes(c));
  const optionalMissing = optional.filter((c) => !cgroups.controllers.includes(c));
  const problems: string[] = [];
  if (missing.length > 0) problems.push(`required controllers missing: ${missing.join(', ')}`);
  if (cgroups.version === 1) {
    const target = parseKubeVersion(kubernetesVersion);
    const limit = parseKubeVersion(CGROUP_V1_ERROR_FROM);
    const v1IsError = target !== undefined && limit !== undefined && compareMinor(target, limit) >= 0;
    const v1Remedy =
      'boot with cgroup v2 (systemd.unified_cgroup_hierarchy=1 on the kernel command line); to keep v1, set the kubelet option failCgroupV1: false and ignore SystemVerification';
    const observed = [`cgroup v1 (deprecated)`, ...problems].join('; ');
    if (v1IsError || missing.length > 0) return fail(observed, expected, v1Remedy);
    return { status: 'warn', observed, expected, remedy: v1Remedy };
  }
  if (missing.length > 0) {
    return fail(
      problems.join('; '),
      expected,
      'enable the missing controllers (cgroup_enable= on the kernel command line)',
    );
  }
  if (optionalMissing.length > 0) {
    return {
      status: 'warn',
      observed: `cgroup v2; optional controllers missing: ${optionalMissing.join(', ')}`,
      expected,
      remedy: 'enable them if workloads need huge pages or IO limits',
    };
  }
  return pass(`cgroup v2 with ${cgroups.controllers.join(', ')}`, expected);
}

const group = { severity: 'error', ignoreGroup: 'SystemVerification', appliesTo: {} } as const;

export const systemVerificationChecks = (): Check[] => [
  {
    ...group,
    id: 'SystemVerification-OS',
    title: 'operating system is Linux',
    run: async ({ host }) => judgeOs(((await host.readFile('/proc/sys/kernel/ostype')) ?? '').trim()),
  },
  {
    ...group,
    id: 'SystemVerification-KernelVersion',
    title: 'kernel version supported',
    run: async ({ probes, spec }) => judgeKernelVersion(await probes.kernelRelease(), spec.kubernetesVersion),
  },
  {
    ...group,
    id: 'SystemVerification-KernelConfig',
    title: 'kernel built with the required options',
    run: async ({ probes }) => {
      const [config, cgroups] = await Promise.all([probes.kernelConfig(), probes.cgroups()]);
      return judgeKernelConfig(config, cgroups.version);
    },
  },
  {
    ...group,
    id: 'SystemVerification-Cgroups',
    title: 'cgroup version and controllers',
    run: async ({ probes, spec }) => judgeCgroups(await probes.cgroups(), spec.kubernetesVersion),
  },
];
