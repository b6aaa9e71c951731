import { afterEach, describe, expect, it } from 'vitest';
import { tempHost, type TempHost } from '../../test/fixtures/temp-host.js';
import { applySteps } from './converge.js';
import { packagesStep, parseVersionlockList } from './packages.js';

let t: TempHost | undefined;
afterEach(async () => {
  await t?.cleanup();
  t = undefined;
});

/**
 * Recording programs with state under the temp root, standing in for dpkg/apt/systemctl (the real
 * ones run in the fleet lab's booted hosts): installs, holds and unit states persist between calls.
 * Like dpkg, a held package's status reads `hi` (want hold, installed), not `ii`.
 */
const DB = '"$KCTL_HOST_ROOT/var/lib/fake-dpkg"';
const programs = {
  'dpkg-query': {
    // the whole database in dpkg's status letters: kubelet half-configured while the test's marker is there
    script: `if [ "$#" = 2 ]; then [ -f "$KCTL_HOST_ROOT/var/lib/fake-interrupted" ] && printf 'iF \\tkubelet\\n'; exit 0; fi; shift 2; for p in "$@"; do [ "$p" = "--" ] && continue; v=$(grep "^$p=" ${DB} 2>/dev/null | tail -1 | cut -d= -f2); s=ii; grep -qx "$p" "$KCTL_HOST_ROOT/var/lib/fake-holds" 2>/dev/null && s=hi; [ -n "$v" ] && printf '%s\\t%s\\t%s \\n' "$p" "$v" "$s"; done; true`,
  },
  'apt-get': {
    // like apt-get install --allow-change-held-packages, an install drops the package's hold
    script: `if [ "$1" = install ]; then for a in "$@"; do case "$a" in *=*) echo "$a" >> ${DB}; p=\${a%%=*}; grep -vx "$p" "$KCTL_HOST_ROOT/var/lib/fake-holds" > "$KCTL_HOST_ROOT/var/lib/fake-holds.new" 2>/dev/null; mv "$KCTL_HOST_ROOT/var/lib/fake-holds.new" "$KCTL_HOST_ROOT/var/lib/fake-holds";; esac; done; fi`,
  },
  'apt-mark': {
    script: `if [ "$1" = hold ]; then shift 2; for p in "$@"; do echo "$p" >> "$KCTL_HOST_ROOT/var/lib/fake-holds"; done; else cat "$KCTL_HOST_ROOT/var/lib/fake-holds" 2>/dev/null; fi; true`,
  },
  // --configure -a finishes what the marker stands for, unless the test says it is stuck
  dpkg: {
    script: `case "$*" in *--configure*) [ -f "$KCTL_HOST_ROOT/var/lib/fake-stuck" ] || rm -f "$KCTL_HOST_ROOT/var/lib/fake-interrupted";; esac`,
  },
  systemctl: {
    script: `case "$1" in enable) echo "$3" >> "$KCTL_HOST_ROOT/var/lib/fake-enabled";; start) echo "$3" >> "$KCTL_HOST_ROOT/var/lib/fake-active";; is-enabled) grep -qx "$3" "$KCTL_HOST_ROOT/var/lib/fake-enabled" 2>/dev/null && echo enabled || { echo disabled; exit 1; };; is-active) grep -qx "$3" "$KCTL_HOST_ROOT/var/lib/fake-active" 2>/dev/null && echo active || { echo inactive; exit 3; };; esac`,
  },
};

describe('packages step (apt)', () => {
  const want = [
    { name: 'containerd', version: '1.6.20~ds1-1+b1', hold: false },
    { name: 'kubeadm', version: '1.31.2-1.1', hold: true },
    { name: 'kubelet', version: '1.31.2-1.1', hold: true },
  ];
  const services = [{ unit: 'containerd.service', start: true }];

  it('installs pinned versions, holds the kube packages, enables and starts services; then no diff', async () => {
    t = await tempHost({ files: { '/var/lib/fake-dpkg': 'containerd=1.6.20~ds1-1+b1\n' }, programs });
    const step = packagesStep(want, services);
    const before = await step.diff(t.host);
    expect(before.filter((c) => c.kind === 'package')).toEqual([
      { kind: 'package', name: 'kubeadm', from: null, to: '1.31.2-1.1' },
      { kind: 'package', name: 'kubelet', from: null, to: '1.31.2-1.1' },
    ]);
    expect(
      before.filter((c) => c.kind === 'package-hold').map((c) => (c.kind === 'package-hold' ? c.name : '')),
    ).toEqual(['kubeadm', 'kubelet']);
    const [report] = await applySteps(t.host, [step]);
    expect(report?.status, JSON.stringify(report?.error)).toBe('applied');
    expect(await step.diff(t.host)).toEqual([]);
    const calls = (await t.calls()).filter(
      (c) =>
        c.program !== 'dpkg-query' &&
        !(c.program === 'systemctl' && c.args[0]?.startsWith('is-')) &&
        !(c.program === 'apt-mark' && c.args[0] === 'showhold'),
    );
    expect(calls).toEqual([
      { program: 'apt-get', args: ['update', '-q'] },
      {
        program: 'apt-get',
        args: [
          'install',
          '-y',
          '-q',
          '--allow-downgrades',
          '--allow-change-held-packages',
          '-o',
          'Dpkg::Options::=--force-confold',
          '--',
          'kubeadm=1.31.2-1.1',
          'kubelet=1.31.2-1.1',
        ],
      },
      { program: 'apt-mark', args: ['hold', '--', 'kubeadm', 'kubelet'] },
      { program: 'systemctl', args: ['enable', '--', 'containerd.service'] },
      { program: 'systemctl', args: ['start', '--', 'containerd.service'] },
    ]);
  });

  it('a second apply runs no installer at all', async () => {
    t = await tempHost({ files: { '/var/lib/fake-dpkg': 'containerd=1.6.20~ds1-1+b1\n' }, programs });
    await applySteps(t.host, [packagesStep(want, services)]);
    const n = (await t.calls()).length;
    const [again] = await applySteps(t.host, [packagesStep(want, services)]);
    expect(again?.status).toBe('unchanged');
    expect((await t.calls()).slice(n).some((c) => c.program === 'apt-get' || c.args[0] === 'hold')).toBe(
      false,
    );
  });

  it('upgrading a held package holds it again (the install drops the hold), and leaves no diff', async () => {
    t = await tempHost({
      files: {
        '/var/lib/fake-dpkg': 'containerd=1.6.20~ds1-1+b1\nkubeadm=1.31.1-1.1\nkubelet=1.31.1-1.1\n',
        '/var/lib/fake-holds': 'kubeadm\nkubelet\n',
      },
      programs,
    });
    const step = packagesStep(want, []);
    expect((await step.diff(t.host)).filter((c) => c.kind === 'package-hold')).toEqual([]);
    const [report] = await applySteps(t.host, [step]);
    expect([report?.status, report?.error?.message]).toEqual(['applied', undefined]);
    expect(await step.diff(t.host)).toEqual([]);
  });

  it('repairs a dpkg an earlier install left interrupted (dpkg --configure -a) before installing again', async () => {
    t = await tempHost({
      files: { '/var/lib/fake-dpkg': 'containerd=1.6.20~ds1-1+b1\n', '/var/lib/fake-interrupted': '' },
      programs,
    });
    const [report] = await applySteps(t.host, [packagesStep(want, [])]);
    expect([report?.status, report?.error?.message]).toEqual(['applied', undefined]);
    const mutating = (await t.calls())
      .filter(
        (c) =>
          ['apt-get', 'apt-mark', 'dpkg'].includes(c.program) ||
          (c.program === 'dpkg-query' && c.args.length === 2),
      )
      .filter((c) => c.args[0] !== 'showhold')
      .map((c) => `${c.program} ${c.args.slice(0, 2).join(' ')}`);
    expect(mutating).toEqual([
      'dpkg-query -W -f=${db:Status-Abbrev}\\t${Package}\\n',
      'dpkg --force-confold --configure',
      'dpkg-query -W -f=${db:Status-Abbrev}\\t${Package}\\n',
      'apt-get update -q',
      'apt-get install -y',
      'apt-mark hold --',
    ]);
  });

  it('fails naming what is still unfinished when dpkg --configure -a does not repair it', async () => {
    t = await tempHost({
      files: {
        '/var/lib/fake-dpkg': 'containerd=1.6.20~ds1-1+b1\n',
        '/var/lib/fake-interrupted': '',
        '/var/lib/fake-stuck': '',
      },
      programs,
    });
    const [report] = await applySteps(t.host, [packagesStep(want, [])]);
    expect(report?.status).toBe('failed');
    expect(report?.error?.message).toMatch(
      /dpkg on this host was interrupted and is still not consistent after dpkg --configure -a: kubelet half-configured$/,
    );
    expect((await t.calls()).some((c) => c.program === 'apt-get')).toBe(false);
  });

  it('fails clearly without a package manager', async () => {
    t = await tempHost();
    const [report] = await applySteps(t.host, [packagesStep(want, [])]);
    expect(report?.error?.message).toMatch(/No supported package manager/);
  });
});

describe('packages step (dnf, recording programs)', () => {
  const LOCKS = '"$KCTL_HOST_ROOT/var/lib/fake-locks"';
  const dnfPrograms = (versionlock: boolean) => ({
    rpm: { script: `printf 'kubelet\\t1.31.2-150500.1.1\\n'; printf 'package kubeadm is not installed\\n'` },
    dnf: {
      script: versionlock
        ? `if [ "$2" = versionlock ] && [ "$3" = list ]; then echo 'Last metadata expiration check: 0:00:06 ago on Fri Dec  4 22:26:20 2026.'; cat ${LOCKS} 2>/dev/null; fi; true`
        : `if [ "$2" = versionlock ]; then echo 'No such command: versionlock.' >&2; exit 1; fi`,
    },
  });

  it('reads versionlock entries with their version, and plans a new lock for a stale one', async () => {
    t = await tempHost({
      files: { '/var/lib/fake-locks': 'kubelet-0:1.31.1-150500.1.1.*\n' },
      programs: dnfPrograms(true),
    });
    const step = packagesStep(
      [
        { name: 'kubelet', version: '1.31.2', hold: true },
        { name: 'kubeadm', version: '1.31.2', hold: true },
      ],
      [],
    );
    expect(await step.diff(t.host)).toEqual([
      { kind: 'package-index', reason: '1 package(s) to install' },
      { kind: 'package', name: 'kubeadm', from: null, to: '1.31.2' },
      { kind: 'package-hold', name: 'kubelet' },
      { kind: 'package-hold', name: 'kubeadm' },
    ]);
  });

  it('locks again what was locked when dnf install fails after the locks were lifted', async () => {
    t = await tempHost({
      files: { '/var/lib/fake-locks': 'kubelet-0:1.31.1-150500.1.1.*\n' },
      programs: {
        rpm: { script: `printf 'kubelet\\t1.31.1-150500.1.1\\n'` },
        dnf: {
          script: `if [ "$2" = versionlock ] && [ "$3" = list ]; then cat ${LOCKS} 2>/dev/null; fi; if [ "$1" = install ]; then echo 'Error: Transaction test error' >&2; exit 1; fi; true`,
        },
      },
    });
    const [report] = await applySteps(t.host, [
      packagesStep([{ name: 'kubelet', version: '1.31.2', hold: true }], []),
    ]);
    expect(report?.status).toBe('failed');
    const dnf = (await t.calls()).filter(
      (c) => c.program === 'dnf' && (c.args[0] === 'install' || ['delete', 'add'].includes(c.args[2] ?? '')),
    );
    expect(
      dnf.map((c) =>
        c.args
          .filter((a) => a !== '-q')
          .slice(0, 2)
          .join(' '),
      ),
    ).toEqual(['versionlock delete', 'install -y', 'versionlock add']);
    expect(dnf.at(-1)?.args.at(-1)).toBe('kubelet');
  });

  it("without the versionlock plugin, a name in a repo file's exclude= is held, and another one cannot be", async () => {
    t = await tempHost({
      files: { '/etc/yum.repos.d/kubernetes.repo': '[kubernetes]\nexclude=kubelet kubeadm kubectl\n' },
      programs: dnfPrograms(false),
    });
    const step = packagesStep(
      [
        { name: 'kubelet', version: '1.31.2', hold: true },
        { name: 'runc', hold: true },
      ],
      [],
    );
    const changes = await step.diff(t.host);
    expect(changes.filter((c) => c.kind === 'package-hold')).toEqual([
      { kind: 'package-hold', name: 'runc' },
    ]);
    await expect(step.apply(t.host, changes)).rejects.toThrow(
      /Cannot hold runc: dnf has no versionlock plugin/,
    );
  });
});

describe('packages step (dnf, an install cut short)', () => {
  it('removes the older copy of a package rpm lists twice (dnf remove --duplicates) before installing', async () => {
    t = await tempHost({
      programs: {
        // a transaction killed between installing 1.31.2 and erasing 1.31.1: both in the rpm database
        rpm: {
          script: `case "$*" in *NAME}\\\\n*) printf 'kubelet\\nkubelet\\n';; *) printf 'kubelet\\t1.31.1-150500.1.1\\nkubelet\\t1.31.2-150500.1.1\\n';; esac`,
        },
        dnf: {
          script: `if [ "$2" = versionlock ]; then echo 'No such command: versionlock.' >&2; exit 1; fi`,
        },
      },
    });
    const step = packagesStep([{ name: 'kubelet', version: '1.31.3', hold: false }], []);
    // the recording rpm does not change: only the order of dnf's calls is looked at
    await step.apply(t.host, await step.diff(t.host));
    const dnf = (await t.calls()).filter((c) => c.program === 'dnf' && c.args[1] !== 'versionlock');
    expect(dnf.map((c) => c.args.slice(0, 3).join(' '))).toEqual([
      'remove -y --duplicates',
      'install -y --disableexcludes=all',
    ]);
  });
});

describe('dnf versionlock list', () => {
  it.each([
    [
      'dnf 4',
      'Last metadata expiration check: 0:00:06 ago on Fri Dec  4 22:26:20 2026.\nkubelet-0:1.31.2-150500.1.1.*\nkubernetes-cni-0:1.5.1-150500.1.1.*\n!runc-0:1.1.14-1.el9.*\n',
      { kubelet: '1.31.2-150500.1.1', 'kubernetes-cni': '1.5.1-150500.1.1' },
    ],
    [
      'dnf 5',
      "# Added by 'versionlock add' command on 2026-12-04 22:26:20\nPackage name: kubelet\nevr = 1.31.2-150500.1.1\n\nPackage name: kubeadm\nevr = 0:1.31.3-150500.1.1\n\nPackage name: kubectl\narch = x86_64\n",
      { kubelet: '1.31.2-150500.1.1', kubeadm: '1.31.3-150500.1.1', kubectl: undefined },
    ],
  ])('reads the locks %s prints', (_dnf, stdout, want) => {
    expect(Object.fromEntries(parseVersionlockList(stdout))).toEqual(want);
  });
});
