import { afterEach, describe, expect, it } from 'vitest';
import { readFile, stat, lstat, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { tempHost, type TempHost } from '../../test/fixtures/temp-host.js';
import { HostSpec } from '../../proto/host-spec.js';
import { Ops } from '../../proto/ops.js';
import { planHash } from '../../proto/results.js';
import { applySteps, planSteps } from './converge.js';
import { sysctlStep, SYSCTL_FILE } from './sysctl.js';
import { kernelModulesStep, MODULES_FILE } from './kernel-modules.js';
import { parseSwapUnits, swapOffStep, swapUnitName } from './swap-off.js';
import { etcHostsStep, renderEtcHosts } from './etc-hosts.js';
import { fileStep, SENSITIVE_DIFF } from './file.js';
import { stepsForHostSpec } from './index.js';
import { hostOps } from '../ops/host-ops.js';
import type { OpContext } from '../ops/registry.js';
import { pino } from 'pino';
import { KctlError } from '../../proto/errors.js';
import type { Step } from './step.js';

const REL = '6.1.0-27-amd64';
let t: TempHost | undefined;
afterEach(async () => {
  await t?.cleanup();
  t = undefined;
});

const swapsHeader = 'Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n';

describe('steps: apply, then diff is empty', () => {
  it('sysctl sets the live value and persists it in 99-kctl.conf', async () => {
    t = await tempHost({
      files: {
        '/proc/sys/net/ipv4/ip_forward': '0\n',
        '/proc/sys/net/bridge/bridge-nf-call-iptables': '1\n',
      },
    });
    const step = sysctlStep({ 'net.ipv4.ip_forward': '1', 'net.bridge.bridge-nf-call-iptables': '1' });
    const before = await step.diff(t.host);
    expect(before).toContainEqual({ kind: 'sysctl', key: 'net.ipv4.ip_forward', from: '0', to: '1' });
    expect(before.some((c) => c.kind === 'file' && c.path === SYSCTL_FILE)).toBe(true);
    const [report] = await applySteps(t.host, [step]);
    expect(report?.status).toBe('applied');
    expect(await step.diff(t.host)).toEqual([]);
    expect(await readFile(join(t.root, SYSCTL_FILE), 'utf8')).toContain('net.ipv4.ip_forward = 1');
  });

  it('sysctl fails naming a key this kernel does not have', async () => {
    t = await tempHost({ files: { '/proc/sys/net/ipv4/ip_forward': '1\n' } });
    const [report] = await applySteps(t.host, [sysctlStep({ 'net.bridge.bridge-nf-call-iptables': '1' })]);
    expect(report?.status).toBe('failed');
    expect(report?.error?.message).toContain(
      'net.bridge.bridge-nf-call-iptables does not exist on this kernel',
    );
  });

  it('kernel modules: modprobes loadable ones, nothing for built-in, persists the loadable ones', async () => {
    t = await tempHost({
      files: {
        '/proc/sys/kernel/osrelease': `${REL}\n`,
        '/proc/modules': 'nf_conntrack 172032 0 - Live 0x0\n',
        [`/lib/modules/${REL}/modules.dep`]: `kernel/net/netfilter/ipvs/ip_vs.ko: kernel/net/netfilter/nf_conntrack.ko\n`,
        [`/lib/modules/${REL}/modules.builtin`]: 'kernel/net/bridge/br_netfilter.ko\n',
      },
      programs: { modprobe: { script: 'echo "$2 16384 0 - Live 0x0" >> "$KCTL_HOST_ROOT/proc/modules"' } },
    });
    const step = kernelModulesStep([
      { name: 'br_netfilter', requiredFor: 'bridged traffic' },
      { name: 'ip_vs', requiredFor: 'kube-proxy mode ipvs' },
      { name: 'nf_conntrack', requiredFor: 'kube-proxy' },
    ]);
    const changes = await step.diff(t.host);
    expect(changes.filter((c) => c.kind === 'module')).toEqual([
      { kind: 'module', name: 'ip_vs', action: 'load', requiredFor: 'kube-proxy mode ipvs' },
    ]);
    const [report] = await applySteps(t.host, [step]);
    expect(report?.status).toBe('applied');
    expect(await t.calls()).toEqual([{ program: 'modprobe', args: ['--', 'ip_vs'] }]);
    expect(await step.diff(t.host)).toEqual([]);
    expect(await readFile(join(t.root, MODULES_FILE), 'utf8')).toMatch(/^ip_vs\nnf_conntrack\n$/m);
  });

  it('kernel modules: a missing module fails, naming the kube-proxy mode that needs it (this machine: no IP_VS)', async () => {
    t = await tempHost({
      files: {
        '/proc/sys/kernel/osrelease': `${REL}\n`,
        '/proc/sys/net/bridge/bridge-nf-call-iptables': '1\n',
      },
    });
    const [report] = await applySteps(t.host, [
      kernelModulesStep([{ name: 'ip_vs', requiredFor: 'kube-proxy mode ipvs' }]),
    ]);
    expect(report?.status).toBe('failed');
    expect(report?.error?.message).toContain('ip_vs (needed by kube-proxy mode ipvs)');
    expect(report?.error?.details?.remedy).toMatch(/iptables or nftables/);
  });

  it('swap off: swapoff each device and comment the fstab swap lines', async () => {
    t = await tempHost({
      files: {
        '/proc/swaps': `${swapsHeader}/swapfile                               file\t\t1048572\t\t0\t\t-2\n`,
        '/etc/fstab': 'UUID=abc / ext4 defaults 0 1\n/swapfile none swap sw 0 0\n',
      },
      programs: { swapoff: { script: `printf '${swapsHeader}' > "$KCTL_HOST_ROOT/proc/swaps"` } },
    });
    const step = swapOffStep();
    expect(await step.diff(t.host)).toEqual([
      { kind: 'swapoff', device: '/swapfile' },
      { kind: 'fstab-comment', line: '/swapfile none swap sw 0 0' },
    ]);
    const [report] = await applySteps(t.host, [step]);
    expect(report?.status).toBe('applied');
    expect(await step.diff(t.host)).toEqual([]);
    expect(await readFile(join(t.root, '/etc/fstab'), 'utf8')).toBe(
      'UUID=abc / ext4 defaults 0 1\n# kctl: swap disabled: /swapfile none swap sw 0 0\n',
    );
    expect(await t.calls()).toEqual([{ program: 'swapoff', args: ['--', '/swapfile'] }]);
  });

  it('swap off: masks the swap unit when systemd runs', async () => {
    t = await tempHost({
      files: { '/proc/swaps': `${swapsHeader}/dev/sda2 partition 1048572 0 -2\n`, '/etc/fstab': '' },
      programs: {
        swapoff: { script: `printf '${swapsHeader}' > "$KCTL_HOST_ROOT/proc/swaps"` },
        systemctl: {
          script: [
            'case "$1" in',
            // systemd lists the device under its own name and its by-uuid alias
            `  list-units) [ -L "$KCTL_HOST_ROOT/etc/systemd/system/dev-sda2.swap" ] || printf '%s\\n' 'dev-sda2.swap loaded active active /dev/sda2' 'dev-disk-by\\x2duuid-abc.swap loaded active active /dev/disk/by-uuid/abc' ;;`,
            '  mask) mkdir -p "$KCTL_HOST_ROOT/etc/systemd/system" && ln -s /dev/null "$KCTL_HOST_ROOT/etc/systemd/system/$3" ;;',
            'esac',
          ].join('\n'),
        },
      },
    });
    await mkdir(join(t.root, 'run/systemd/system'), { recursive: true });
    const step = swapOffStep();
    const changes = await step.diff(t.host);
    expect(changes.filter((c) => c.kind === 'unit-mask')).toEqual([
      { kind: 'unit-mask', unit: 'dev-disk-by\\x2duuid-abc.swap' },
      { kind: 'unit-mask', unit: 'dev-sda2.swap' },
    ]);
    const [report] = await applySteps(t.host, [step]);
    expect(report?.status).toBe('applied');
    for (const unit of ['dev-sda2.swap', 'dev-disk-by\\x2duuid-abc.swap'])
      expect((await lstat(join(t.root, 'etc/systemd/system', unit))).isSymbolicLink()).toBe(true);
    expect((await t.calls()).filter((c) => c.args[0] === 'mask').map((c) => c.args)).toEqual([
      ['mask', '--', 'dev-disk-by\\x2duuid-abc.swap'],
      ['mask', '--', 'dev-sda2.swap'],
    ]);
    expect(await step.diff(t.host)).toEqual([]);
  });

  it('swap off: masks nothing and asks systemd nothing when no swap is active', async () => {
    t = await tempHost({
      files: {
        '/proc/swaps': swapsHeader,
        '/etc/fstab': '# kctl: swap disabled: /swapfile none swap sw 0 0\n',
      },
      programs: { systemctl: { stdout: 'dev-sda2.swap loaded active active /dev/sda2\n' } },
    });
    await mkdir(join(t.root, 'run/systemd/system'), { recursive: true });
    expect(await swapOffStep().diff(t.host)).toEqual([]);
    expect(await t.calls()).toEqual([]);
  });

  it.each([
    ['dev-sda2.swap loaded active active /dev/sda2', ['dev-sda2.swap']],
    [
      'dev-disk-by\\x2duuid-1.swap loaded active active /dev/disk/by-uuid/1\nswapfile.swap loaded active active /swapfile',
      ['dev-disk-by\\x2duuid-1.swap', 'swapfile.swap'],
    ],
    ['', []],
    ['0 loaded units listed.', []],
    ['evil;rm.service loaded active active x', []],
  ])('reads swap units from systemctl list-units: %j', (output, units) => {
    expect(parseSwapUnits(output)).toEqual(units);
  });

  it.each([
    ['/dev/sda2', 'dev-sda2.swap'],
    ['/swapfile', 'swapfile.swap'],
    ['/var/lib/swap-file', 'var-lib-swap\\x2dfile.swap'],
  ])('names the swap unit for %s like systemd-escape --path: %s', (path, unit) => {
    expect(swapUnitName(path)).toBe(unit);
  });

  it('/etc/hosts: appends the endpoint block once and replaces it on change, keeping other lines', async () => {
    t = await tempHost({ files: { '/etc/hosts': '127.0.0.1 localhost\n' } });
    const step = etcHostsStep([{ name: 'k8s-api.example', address: '10.0.0.100' }]);
    await applySteps(t.host, [step]);
    expect(await step.diff(t.host)).toEqual([]);
    const once = await readFile(join(t.root, 'etc/hosts'), 'utf8');
    expect(once).toBe('127.0.0.1 localhost\n# BEGIN kctl\n10.0.0.100 k8s-api.example\n# END kctl\n');
    expect(renderEtcHosts(once, [{ name: 'k8s-api.example', address: '10.0.0.101' }])).toBe(
      '127.0.0.1 localhost\n# BEGIN kctl\n10.0.0.101 k8s-api.example\n# END kctl\n',
    );
  });

  it('file: writes content and mode atomically, backs up the old content, hides sensitive diffs', async () => {
    t = await tempHost({ files: { '/etc/containerd/config.toml': 'old\n' } });
    const step = fileStep({ path: '/etc/containerd/config.toml', content: 'version = 2\n', mode: 0o600 });
    const [c] = await step.diff(t.host);
    expect(c).toMatchObject({ kind: 'file', path: '/etc/containerd/config.toml', mode: 0o600 });
    if (c?.kind === 'file') expect(c.diff).toContain('-old\n+version = 2');
    await applySteps(t.host, [step]);
    expect(await step.diff(t.host)).toEqual([]);
    expect((await stat(join(t.root, 'etc/containerd/config.toml'))).mode & 0o777).toBe(0o600);
    const secret = fileStep({
      path: '/etc/kubernetes/secret.yaml',
      content: 'token: x\n',
      mode: 0o600,
      sensitive: true,
    });
    const [s] = await secret.diff(t.host);
    if (s?.kind === 'file') expect(s.diff).toBe(SENSITIVE_DIFF);
  });

  it.skipIf(process.getuid?.() !== 0)(
    'file: sets the owner the spec names, and an owner change alone is a change (needs root to chown)',
    async () => {
      t = await tempHost({ files: { '/etc/kubernetes/pki/sa.key': 'key\n' } });
      const step = fileStep({
        path: '/etc/kubernetes/pki/sa.key',
        content: 'key\n',
        mode: 0o644,
        owner: { uid: 1234, gid: 2345 },
      });
      const [c] = await step.diff(t.host);
      expect(c).toMatchObject({
        kind: 'file',
        uid: 1234,
        gid: 2345,
        diff: expect.stringMatching(/owner \d+:\d+ -> 1234:2345/) as unknown,
      });
      const [report] = await applySteps(t.host, [step]);
      expect(report?.status).toBe('applied');
      const s = await stat(join(t.root, 'etc/kubernetes/pki/sa.key'));
      expect([s.uid, s.gid]).toEqual([1234, 2345]);
      expect(await step.diff(t.host)).toEqual([]);
    },
  );

  it('file: refuses a path outside the allow-list', async () => {
    t = await tempHost();
    const [report] = await applySteps(t.host, [fileStep({ path: '/etc/passwd', content: 'x', mode: 0o644 })]);
    expect(report).toMatchObject({ status: 'failed', error: { code: 'path_not_allowed' } });
  });
});

describe('applySteps', () => {
  /** a step over one fixture file: wants it to read "done" */
  const marker = (id: string, dependsOn: string[] = [], fail = false): Step => ({
    id,
    title: id,
    dependsOn,
    async diff(host) {
      return (await host.readFile(`/etc/kubernetes/${id}`)) === 'done\n'
        ? []
        : [{ kind: 'sysctl', key: `kctl.${id}`, from: null, to: 'done' }];
    },
    async apply(host) {
      if (fail) throw new KctlError('step_failed', `${id} broke`);
      await host.writeFileAtomic(`/etc/kubernetes/${id}`, 'done\n');
    },
  });

  it('applies in dependency order and skips the dependents of a failed step, saying why', async () => {
    t = await tempHost();
    const reports = await applySteps(t.host, [
      marker('c', ['b']),
      marker('b', ['a'], true),
      marker('a'),
      marker('d'),
    ]);
    expect(reports.map((r) => [r.stepId, r.status])).toEqual([
      ['a', 'applied'],
      ['b', 'failed'],
      ['c', 'skipped'],
      ['d', 'applied'],
    ]);
    expect(reports[1]?.error?.message).toBe('b broke');
    expect(reports[2]?.error?.message).toContain('"b" did not converge');
  });

  it('fails a step whose diff is not empty after apply', async () => {
    t = await tempHost();
    const stubborn: Step = { ...marker('s'), apply: () => Promise.resolve() };
    const [report] = await applySteps(t.host, [stubborn]);
    expect(report).toMatchObject({ status: 'failed', error: { code: 'step_failed' } });
    expect(report?.error?.message).toContain('still pending after apply: kctl.s: (unset) -> done');
  });

  it('applies only the selected steps; the rest are skipped with their pending changes', async () => {
    t = await tempHost();
    const progress: string[] = [];
    const reports = await applySteps(t.host, [marker('a'), marker('b', ['a']), marker('c')], {
      only: ['b', 'c'],
      onProgress: (_m, stepId) => progress.push(stepId),
    });
    expect(reports.map((r) => [r.stepId, r.status, r.changes.length])).toEqual([
      ['a', 'skipped', 1],
      ['b', 'skipped', 0],
      ['c', 'applied', 1],
    ]);
    expect(progress).toEqual(['c']);
  });

  it('reports an already converged step as unchanged without applying it', async () => {
    t = await tempHost({ files: { '/etc/kubernetes/a': 'done\n' } });
    const [report] = await applySteps(t.host, [marker('a', [], true)]);
    expect(report).toMatchObject({ stepId: 'a', status: 'unchanged', changes: [] });
  });
});

describe('host plan and apply ops', () => {
  const ctx = (host: TempHost['host']): OpContext => ({
    host,
    hostId: 'h',
    log: pino({ level: 'silent' }),
    signal: new AbortController().signal,
    progress: () => undefined,
  });

  it('plan -> apply -> plan is empty, and a second apply changes nothing', async () => {
    t = await tempHost({
      files: {
        '/proc/sys/net/ipv4/ip_forward': '0\n',
        '/proc/sys/kernel/osrelease': `${REL}\n`,
        '/proc/swaps': swapsHeader,
        '/etc/hosts': '127.0.0.1 localhost\n',
        '/etc/fstab': '',
      },
    });
    const spec = HostSpec.parse({
      hostName: 'cp-1',
      role: 'control-plane',
      kubernetesVersion: 'v1.31.2',
      kubeProxyMode: 'iptables',
      sysctls: { 'net.ipv4.ip_forward': '1' },
      controlPlaneEndpoint: { name: 'k8s-api.example', address: '10.0.0.100' },
      files: [
        { path: '/etc/crictl.yaml', content: 'runtime-endpoint: unix:///run/containerd/containerd.sock\n' },
      ],
    });
    const plan = await hostOps['host.plan'].run({ spec }, ctx(t.host));
    expect(plan.steps.filter((s) => s.changes.length > 0).map((s) => s.stepId)).toEqual([
      'sysctl',
      'etc-hosts',
      'file:/etc/crictl.yaml',
    ]);
    const applied = await hostOps['host.apply'].run({ spec, planHash: plan.planHash }, ctx(t.host));
    expect(applied.changed).toBe(true);
    expect(applied.reports.every((r) => r.status !== 'failed')).toBe(true);
    const after = await hostOps['host.plan'].run({ spec }, ctx(t.host));
    expect(after.steps.every((s) => s.changes.length === 0)).toBe(true);
    const again = await hostOps['host.apply'].run({ spec }, ctx(t.host));
    expect(again.changed).toBe(false);
    expect(planHash(after.steps)).toBe(after.planHash);
  });

  it('apply with a stale plan hash is refused and changes nothing', async () => {
    t = await tempHost({ files: { '/proc/sys/net/ipv4/ip_forward': '0\n', '/proc/swaps': swapsHeader } });
    const spec = HostSpec.parse({
      hostName: 'w-1',
      role: 'worker',
      kubernetesVersion: 'v1.31.2',
      kubeProxyMode: 'iptables',
      sysctls: { 'net.ipv4.ip_forward': '1' },
    });
    await expect(
      hostOps['host.apply'].run({ spec, planHash: `sha256:${'0'.repeat(64)}` }, ctx(t.host)),
    ).rejects.toMatchObject({ code: 'plan_stale' });
    expect(await readFile(join(t.root, 'proc/sys/net/ipv4/ip_forward'), 'utf8')).toBe('0\n');
  });

  it('apply with only: changes just the selected steps and reports the others skipped', async () => {
    t = await tempHost({
      files: { '/proc/sys/net/ipv4/ip_forward': '0\n', '/proc/swaps': swapsHeader, '/etc/hosts': '' },
    });
    const spec = HostSpec.parse({
      hostName: 'w-1',
      role: 'worker',
      kubernetesVersion: 'v1.31.2',
      kubeProxyMode: 'iptables',
      sysctls: { 'net.ipv4.ip_forward': '1' },
      controlPlaneEndpoint: { name: 'k8s-api.example', address: '10.0.0.100' },
    });
    const args = Ops['host.apply'].args.parse({ spec, only: ['etc-hosts'] });
    const r = await hostOps['host.apply'].run(args, ctx(t.host));
    expect(r.reports.map((x) => [x.stepId, x.status])).toEqual([
      ['swap-off', 'unchanged'],
      ['kernel-modules', 'unchanged'],
      ['sysctl', 'skipped'],
      ['etc-hosts', 'applied'],
    ]);
    expect(await readFile(join(t.root, 'proc/sys/net/ipv4/ip_forward'), 'utf8')).toBe('0\n');
    expect(
      Ops['host.apply'].args.safeParse({
        spec,
        only: ['file:/etc/containerd/certs.d/r.example:5000/hosts.toml'],
      }).success,
    ).toBe(true);
    expect(Ops['host.apply'].args.safeParse({ spec, only: ['../x y'] }).success).toBe(false);
  });

  it('builds the steps from the spec alone', () => {
    const spec = HostSpec.parse({
      hostName: 'w-1',
      role: 'worker',
      kubernetesVersion: 'v1.31.2',
      kubeProxyMode: 'ipvs',
      swap: 'keep',
    });
    expect(stepsForHostSpec(spec).map((s) => s.id)).toEqual(['kernel-modules']);
  });

  it('plan touches nothing on the host', async () => {
    t = await tempHost({ files: { '/proc/sys/net/ipv4/ip_forward': '0\n', '/proc/swaps': swapsHeader } });
    const spec = HostSpec.parse({
      hostName: 'w-1',
      role: 'worker',
      kubernetesVersion: 'v1.31.2',
      kubeProxyMode: 'iptables',
      sysctls: { 'net.ipv4.ip_forward': '1' },
    });
    await planSteps(t.host, stepsForHostSpec(spec));
    expect(await readFile(join(t.root, 'proc/sys/net/ipv4/ip_forward'), 'utf8')).toBe('0\n');
    await expect(stat(join(t.root, SYSCTL_FILE))).rejects.toThrow();
  });
});
