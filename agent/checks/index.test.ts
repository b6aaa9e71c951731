import { mkdir, mkdtemp, rm, writeFile, chmod } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import { LocalHost } from '../host/local-host.js';
import type { FsSpace } from '../host/host.js';
import type { CheckResult, PreflightSpec } from '../../proto/checks.js';
import { preflightChecks, runPreflight } from './index.js';
import type { PreflightOptions } from './index.js';
import { FULL_CONFIG, RELEASE, TCP_HEADER, healthyFiles } from '../../test/fixtures/healthy-host.js';

type Files = Record<string, string | Buffer>;
/** program name -> body of a /bin/sh script */
type Programs = Record<string, string>;

interface Fixture {
  files: Files;
  programs: Programs;
  bindable?: boolean;
  freeBytes?: number;
}

/** A real LocalHost over a temp root; binds and free space are fixed so results do not depend on this machine. */
class FixtureHost extends LocalHost {
  constructor(
    root: string,
    bin: string,
    private readonly bindable: boolean,
    private readonly freeBytes: number,
  ) {
    super({ root, programPath: [bin] });
  }

  override canBind(): Promise<boolean> {
    return Promise.resolve(this.bindable);
  }

  override async statfs(path: string): Promise<FsSpace | undefined> {
    return (await super.statfs(path))
      ? { freeBytes: this.freeBytes, totalBytes: 2 * this.freeBytes }
      : undefined;
  }
}

const roots: string[] = [];
afterEach(async () => {
  await Promise.all(roots.splice(0).map((root) => rm(root, { recursive: true, force: true })));
});

async function fixtureHost({
  files,
  programs,
  bindable = true,
  freeBytes = 50 * 1024 ** 3,
}: Fixture): Promise<LocalHost> {
  const root = await mkdtemp(join(tmpdir(), 'kctl-preflight-'));
  roots.push(root);
  for (const [path, content] of Object.entries(files)) {
    await mkdir(dirname(join(root, path)), { recursive: true });
    await writeFile(join(root, path), content);
  }
  const bin = join(root, '.bin');
  await mkdir(bin);
  for (const [name, script] of Object.entries(programs)) {
    await writeFile(join(bin, name), `#!/bin/sh\n${script}\n`);
    await chmod(join(bin, name), 0o755);
  }
  return new FixtureHost(root, bin, bindable, freeBytes);
}

const NO_NTP_UNIT = 'shift; for unit in "$@"; do echo inactive; done; exit 3';
const BINARIES = [
  'conntrack',
  'ip',
  'iptables',
  'mount',
  'nsenter',
  'cp',
  'ebtables',
  'ethtool',
  'socat',
  'tc',
  'touch',
];

function healthyPrograms(): Programs {
  return {
    ...Object.fromEntries(BINARIES.map((name) => [name, 'exit 0'])),
    kubelet: 'echo "Kubernetes v1.33.1"',
  };
}

const initSpec = (overrides: Partial<PreflightSpec> = {}): PreflightSpec => ({
  role: 'control-plane',
  kubernetesVersion: 'v1.33.1',
  isFirstControlPlane: true,
  kubeProxyMode: 'ipvs',
  podSubnet: '10.244.0.0/16,fd00:10:244::/56',
  serviceSubnet: '10.96.0.0/12',
  advertiseAddress: '10.0.0.11',
  ...overrides,
});

const noNetwork: PreflightOptions = {
  env: {},
  resolveName: () => Promise.resolve(false),
  // the agent's measurement over its channel: 40 ms ahead of the controller
  clockOffset: () => ({ offsetMs: 40, uncertaintyMs: 2 }),
};

function byId(results: readonly CheckResult[]): Record<string, CheckResult> {
  return Object.fromEntries(results.map((r) => [r.id, r]));
}

describe('runPreflight on fixture roots', () => {
  it('passes every check on a healthy control-plane host', async () => {
    const results = await runPreflight(
      await fixtureHost({ files: healthyFiles(), programs: healthyPrograms() }),
      initSpec(),
      noNetwork,
    );
    expect(results.filter((r) => r.status !== 'pass')).toEqual([]);
    expect(results.map((r) => r.id)).toEqual(preflightChecks(initSpec()).map((c) => c.id));
  });

  it('passes every check on a healthy worker', async () => {
    const spec = initSpec({
      role: 'worker',
      isFirstControlPlane: false,
      controlPlaneEndpoint: 'cp.lan:6443',
    });
    const results = await runPreflight(
      await fixtureHost({ files: healthyFiles(), programs: healthyPrograms() }),
      spec,
      noNetwork,
    );
    expect(results.filter((r) => r.status !== 'pass')).toEqual([]);
  });

  // every check, broken one at a time: [what breaks, the id that must fail or warn, status, files, programs, free bytes]
  const broken: [string, string, 'fail' | 'warn', (f: Files) => void, (p: Programs) => void, number?][] = [
    ['one CPU', 'NumCPU', 'fail', (f) => (f['/sys/devices/system/cpu/online'] = '0\n'), () => {}],
    ['1 GiB of memory', 'Mem', 'fail', (f) => (f['/proc/meminfo'] = 'MemTotal: 1048576 kB\n'), () => {}],
    [
      'a listener on 6443',
      'Port-6443',
      'fail',
      (f) =>
        (f['/proc/net/tcp6'] =
          `${TCP_HEADER}   0: 00000000000000000000000000000000:192B 00000000000000000000000000000000:0000 0A 0\n`),
      () => {},
    ],
    [
      'a listener on 10250',
      'Port-10250',
      'fail',
      (f) =>
        (f['/proc/net/tcp'] =
          `${TCP_HEADER}   0: 00000000:280A 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 1 1\n`),
      () => {},
    ],
    [
      'an old API server manifest',
      'FileAvailable--etc-kubernetes-manifests-kube-apiserver.yaml',
      'fail',
      (f) => (f['/etc/kubernetes/manifests/kube-apiserver.yaml'] = 'kind: Pod\n'),
      () => {},
    ],
    [
      'an old etcd data dir',
      'DirAvailable--var-lib-etcd',
      'fail',
      (f) => (f['/var/lib/etcd/member/snap/db'] = 'x'),
      () => {},
    ],
    [
      'a swap file',
      'Swap',
      'warn',
      (f) => (f['/proc/swaps'] = 'Filename Type Size Used Priority\n/swapfile file 1048572 0 -2\n'),
      () => {},
    ],
    [
      'ip_forward off',
      'FileContent--proc-sys-net-ipv4-ip_forward',
      'fail',
      (f) => (f['/proc/sys/net/ipv4/ip_forward'] = '0\n'),
      () => {},
    ],
    [
      'IPv6 forwarding off',
      'FileContent--proc-sys-net-ipv6-conf-default-forwarding',
      'fail',
      (f) => (f['/proc/sys/net/ipv6/conf/default/forwarding'] = '0\n'),
      () => {},
    ],
    ['no iptables', 'FileExisting-iptables', 'fail', () => {}, (p) => delete p.iptables],
    ['no cp', 'FileExisting-cp', 'fail', () => {}, (p) => delete p.cp],
    ['no socat', 'FileExisting-socat', 'warn', () => {}, (p) => delete p.socat],
    ['no runtime', 'CRI', 'fail', (f) => delete f['/var/run/containerd/containerd.sock'], () => {}],
    ['two runtimes', 'CRI', 'fail', (f) => (f['/run/crio/crio.sock'] = ''), () => {}],
    [
      'a kubelet too old',
      'KubeletVersion',
      'fail',
      () => {},
      (p) => (p.kubelet = 'echo "Kubernetes v1.29.0"'),
    ],
    [
      'a kubelet too new',
      'KubeletVersion',
      'fail',
      () => {},
      (p) => (p.kubelet = 'echo "Kubernetes v1.34.0"'),
    ],
    [
      'a hostname not in /etc/hosts',
      'Hostname',
      'warn',
      (f) => (f['/etc/hosts'] = '127.0.0.1 localhost\n'),
      () => {},
    ],
    ['an invalid hostname', 'Hostname', 'warn', (f) => (f['/proc/sys/kernel/hostname'] = 'CP_1\n'), () => {}],
    [
      'a non-Linux ostype',
      'SystemVerification-OS',
      'fail',
      (f) => (f['/proc/sys/kernel/ostype'] = 'Plan9\n'),
      () => {},
    ],
    [
      'an old kernel',
      'SystemVerification-KernelVersion',
      'fail',
      (f) => {
        f['/proc/sys/kernel/osrelease'] = '4.18.0-553.el8\n';
        f['/boot/config-4.18.0-553.el8'] = `${FULL_CONFIG}\n`;
      },
      () => {},
    ],
    [
      'no MEMCG',
      'SystemVerification-KernelConfig',
      'fail',
      (f) =>
        (f[`/boot/config-${RELEASE}`] = FULL_CONFIG.replace('CONFIG_MEMCG=y', '# CONFIG_MEMCG is not set')),
      () => {},
    ],
    [
      'no kernel config',
      'SystemVerification-KernelConfig',
      'fail',
      (f) => delete f[`/boot/config-${RELEASE}`],
      () => {},
    ],
    [
      'no pids controller',
      'SystemVerification-Cgroups',
      'fail',
      (f) => (f['/sys/fs/cgroup/cgroup.controllers'] = 'cpuset cpu io memory hugetlb\n'),
      () => {},
    ],
    [
      'no IP_VS module file',
      'KernelModules-KubeProxy',
      'fail',
      (f) => (f[`/lib/modules/${RELEASE}/modules.dep`] = 'kernel/net/netfilter/nf_conntrack.ko.xz:\n'),
      () => {},
    ],
    [
      'no br_netfilter',
      'KernelModules-Runtime',
      'warn',
      (f) => {
        f['/proc/modules'] = 'overlay 151552 0 - Live 0x0\n';
        delete f['/proc/sys/net/bridge/bridge-nf-call-iptables'];
        delete f['/proc/sys/net/bridge/bridge-nf-call-ip6tables'];
      },
      () => {},
    ],
    ['no product_uuid', 'ProductUUID', 'warn', (f) => delete f['/sys/class/dmi/id/product_uuid'], () => {}],
    ['an empty machine-id', 'MachineID', 'fail', (f) => (f['/etc/machine-id'] = '\n'), () => {}],
    [
      'no time sync',
      'TimeSync',
      'warn',
      (f) => delete f['/run/systemd/timesync/synchronized'],
      (p) => (p.systemctl = NO_NTP_UNIT),
    ],
    [
      'systemd but no NTP unit active',
      'TimeSync',
      'warn',
      (f) => {
        delete f['/run/systemd/timesync/synchronized'];
        f['/run/systemd/system/.keep'] = '';
      },
      (p) => (p.systemctl = NO_NTP_UNIT),
    ],
    ['no nameserver', 'Nameserver', 'fail', (f) => (f['/etc/resolv.conf'] = 'search lan\n'), () => {}],
    ['1 GiB free under /var/lib', 'DiskSpace--var-lib', 'fail', () => {}, () => {}, 1024 ** 3],
  ];

  it.each(broken)(
    'with %s reports %s as %s and the rest as pass',
    async (_name, id, status, breakFiles, breakPrograms, freeBytes) => {
      const files = healthyFiles();
      const programs = healthyPrograms();
      breakFiles(files);
      breakPrograms(programs);
      const results = byId(
        await runPreflight(
          await fixtureHost({ files, programs, ...(freeBytes ? { freeBytes } : {}) }),
          initSpec(),
          noNetwork,
        ),
      );
      expect(results[id]).toMatchObject({ status, remedy: expect.stringMatching(/\w/) });
      const others = Object.values(results).filter((r) => r.id !== id && r.status !== 'pass');
      // an old kernel also changes the module list (nf_conntrack_ipv4), so allow that one companion
      expect(
        others.filter(
          (r) => !(id === 'SystemVerification-KernelVersion' && r.id === 'KernelModules-KubeProxy'),
        ),
      ).toEqual([]);
    },
  );

  it('reports a port that cannot be bound even with no listener in /proc/net', async () => {
    const results = byId(
      await runPreflight(
        await fixtureHost({ files: healthyFiles(), programs: healthyPrograms(), bindable: false }),
        initSpec(),
        noNetwork,
      ),
    );
    expect(results['Port-6443']).toMatchObject({ status: 'fail', observed: 'port 6443 cannot be bound' });
  });

  it('warns when the API address is behind a proxy in the environment', async () => {
    const options = { ...noNetwork, env: { HTTPS_PROXY: 'http://proxy:3128', NO_PROXY: '10.0.0.11' } };
    const results = byId(
      await runPreflight(
        await fixtureHost({ files: healthyFiles(), programs: healthyPrograms() }),
        initSpec(),
        options,
      ),
    );
    expect(results.HTTPProxy?.status).toBe('pass');
    expect(results.HTTPProxyCIDR).toMatchObject({
      status: 'warn',
      observed: expect.stringContaining('10.96.0.0/12'),
    });
    const proxied = byId(
      await runPreflight(
        await fixtureHost({ files: healthyFiles(), programs: healthyPrograms() }),
        initSpec(),
        {
          ...noNetwork,
          env: { https_proxy: 'http://proxy:3128' },
        },
      ),
    );
    expect(proxied.HTTPProxy?.status).toBe('warn');
  });

  it('turns ignored errors into warnings, kubeadm style', async () => {
    const files = healthyFiles();
    files['/proc/sys/net/ipv4/ip_forward'] = '0\n';
    const spec = initSpec({ ignore: ['fileContent--proc-sys-net-ipv4-ip_forward'] });
    const results = byId(
      await runPreflight(await fixtureHost({ files: files, programs: healthyPrograms() }), spec, noNetwork),
    );
    expect(results['FileContent--proc-sys-net-ipv4-ip_forward']).toMatchObject({
      status: 'warn',
      ignored: true,
    });
  });

  it.each([
    ['a live chronyd from its pid file', '812\n', 'chronyd\n', 'pass', 'chronyd running (pid 812)'],
    [
      'a stale pid file naming another process',
      '812\n',
      'bash\n',
      'warn',
      'no time synchronisation service running',
    ],
  ])('judges time sync with %s', async (_name, pid, comm, status, observed) => {
    const files = healthyFiles();
    delete files['/run/systemd/timesync/synchronized'];
    files['/run/chrony/chronyd.pid'] = pid;
    files['/proc/812/comm'] = comm;
    const results = byId(
      await runPreflight(await fixtureHost({ files, programs: healthyPrograms() }), initSpec(), noNetwork),
    );
    expect(results.TimeSync).toMatchObject({ status, observed });
  });

  it('turns a check that throws into a failure naming the error', async () => {
    const host = await fixtureHost({ files: healthyFiles(), programs: healthyPrograms() });
    host.readSysctl = () => Promise.reject(new Error('EIO'));
    const results = byId(await runPreflight(host, initSpec(), noNetwork));
    expect(results['FileContent--proc-sys-net-ipv4-ip_forward']).toMatchObject({
      status: 'fail',
      observed: 'check could not run: EIO',
    });
  });
});

/** This machine as found: kernel without module support, cgroup v1 hybrid, no DMI, IP_VS not built. */
function thisMachineFiles(): Files {
  const config = [
    'CONFIG_IKCONFIG_PROC=y',
    '# CONFIG_MODULES is not set',
    'CONFIG_CGROUPS=y CONFIG_MEMCG=y CONFIG_CGROUP_SCHED=y CONFIG_FAIR_GROUP_SCHED=y CONFIG_CFS_BANDWIDTH=y',
    'CONFIG_CGROUP_PIDS=y CONFIG_CGROUP_FREEZER=y CONFIG_CGROUP_HUGETLB=y CONFIG_CPUSETS=y CONFIG_CGROUP_DEVICE=y',
    'CONFIG_CGROUP_CPUACCT=y CONFIG_CGROUP_BPF=y CONFIG_NAMESPACES=y CONFIG_UTS_NS=y CONFIG_IPC_NS=y CONFIG_PID_NS=y',
    'CONFIG_NET_NS=y CONFIG_SECCOMP=y CONFIG_SECCOMP_FILTER=y CONFIG_INET=y CONFIG_BRIDGE_NETFILTER=y',
    'CONFIG_NF_CONNTRACK=y CONFIG_NF_TABLES=y CONFIG_NETFILTER_XT_TARGET_REDIRECT=y CONFIG_NETFILTER_XT_MATCH_COMMENT=y',
    '# CONFIG_IP_VS is not set',
    'CONFIG_IP_NF_TARGET_REDIRECT=y CONFIG_EXT4_FS=y CONFIG_OVERLAY_FS=y CONFIG_PROC_FS=y',
  ]
    .flatMap((line) => (line.startsWith('#') ? [line] : line.split(' ')))
    .join('\n');
  const files: Files = {
    ...healthyFiles(),
    '/proc/sys/kernel/osrelease': '6.18.44-fc-v595\n',
    '/proc/sys/kernel/hostname': 'vm\n',
    '/etc/hosts': '127.0.0.1 localhost\n127.0.0.1 runsc\n127.0.0.1 vm\n',
    '/etc/machine-id': '3d1219c7c4c5404aaa1f6d2a48adfda4\n',
    '/proc/sys/net/ipv4/ip_forward': '0\n',
    '/proc/config.gz': gzipSync(`${config}\n`),
    '/proc/mounts': [
      'tmpfs /sys/fs/cgroup tmpfs rw,relatime,mode=755 0 0',
      ...['cpu', 'cpuacct', 'cpuset', 'memory', 'devices', 'freezer', 'blkio', 'pids'].map(
        (c) => `cgroup /sys/fs/cgroup/${c} cgroup rw,relatime,${c} 0 0`,
      ),
      'cgroup2 /sys/fs/cgroup/unified cgroup2 rw,relatime 0 0',
      '',
    ].join('\n'),
    '/proc/cgroups': [
      '#subsys_name\thierarchy\tnum_cgroups\tenabled',
      ...[
        'cpuset 3',
        'cpu 1',
        'cpuacct 2',
        'blkio 7',
        'memory 4',
        'devices 5',
        'freezer 6',
        'hugetlb 0',
        'pids 8',
      ].map((c) => `${c.replace(' ', '\t')}\t1\t1`),
      '',
    ].join('\n'),
    '/sys/module/bridge/uevent': '',
    '/sys/module/nf_conntrack/parameters/hashsize': '65536\n',
    '/sys/module/overlay/parameters/metacopy': 'N\n',
  };
  for (const absent of [
    '/proc/modules',
    `/boot/config-${RELEASE}`,
    `/lib/modules/${RELEASE}/modules.dep`,
    `/lib/modules/${RELEASE}/modules.builtin`,
    '/sys/class/dmi/id/product_uuid',
    '/sys/fs/cgroup/cgroup.controllers',
  ]) {
    delete files[absent];
  }
  return files;
}

describe('runPreflight on a copy of this machine (no module support, no IP_VS, cgroup v1)', () => {
  it('fails ipvs mode with the remedy to switch mode or kernel, and finds br_netfilter built in', async () => {
    const spec = initSpec({ kubernetesVersion: 'v1.35.0', podSubnet: '10.244.0.0/16' });
    const results = byId(
      await runPreflight(
        await fixtureHost({ files: thisMachineFiles(), programs: healthyPrograms() }),
        spec,
        noNetwork,
      ),
    );
    expect(results['KernelModules-KubeProxy']).toMatchObject({
      status: 'fail',
      remedy:
        'use kube-proxy mode iptables or nftables, or a kernel with IP_VS, IP_VS_RR, IP_VS_WRR, IP_VS_SH',
      observed: expect.stringContaining(
        'kernel has no module support (no /proc/modules) and CONFIG_IP_VS is not set',
      ),
    });
    expect(results['KernelModules-Runtime']).toMatchObject({
      status: 'pass',
      observed: 'overlay: builtin, br_netfilter: builtin',
    });
    expect(results['SystemVerification-Cgroups']).toMatchObject({
      status: 'fail',
      observed: 'cgroup v1 (deprecated)',
    });
    expect(results['FileContent--proc-sys-net-ipv4-ip_forward']?.status).toBe('fail');
    expect(results.ProductUUID?.status).toBe('warn');
    // this kernel has no device mapper, an optional option
    expect(results['SystemVerification-KernelConfig']).toMatchObject({
      status: 'warn',
      observed: 'optional options not set in /proc/config.gz: CONFIG_BLK_DEV_DM',
    });
  });

  it.each([
    ['iptables', 'pass'],
    ['nftables', 'pass'],
  ] as const)('passes the kube-proxy module check in %s mode', async (kubeProxyMode, status) => {
    const spec = initSpec({ kubeProxyMode });
    const results = byId(
      await runPreflight(
        await fixtureHost({ files: thisMachineFiles(), programs: healthyPrograms() }),
        spec,
        noNetwork,
      ),
    );
    expect(results['KernelModules-KubeProxy']?.status).toBe(status);
  });
});

describe('ClockOffset in a preflight run', () => {
  it('reports a host 10 minutes ahead of the controller as a warning, and the rest as pass', async () => {
    const results = byId(
      await runPreflight(
        await fixtureHost({ files: healthyFiles(), programs: healthyPrograms() }),
        initSpec(),
        { ...noNetwork, clockOffset: () => ({ offsetMs: 600_000, uncertaintyMs: 1 }) },
      ),
    );
    expect(results.ClockOffset).toMatchObject({ status: 'warn', severity: 'warning' });
    expect(results.ClockOffset?.observed).toContain('600.0 s ahead of the controller');
    expect(Object.values(results).filter((r) => r.status !== 'pass')).toHaveLength(1);
  });
});
