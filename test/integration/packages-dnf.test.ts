import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { execa } from 'execa';
import { mkdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { ClusterSpec } from '../../proto/cluster-spec.js';
import type { HostSpec } from '../../proto/host-spec.js';
import type { Change } from '../../proto/results.js';
import { applySteps, planSteps } from '../../agent/steps/converge.js';
import { fileStep } from '../../agent/steps/file.js';
import { packagesStep } from '../../agent/steps/packages.js';
import { repoKeyStep } from '../../agent/steps/repo-key.js';
import type { Step } from '../../agent/steps/step.js';
import { prepPackages, prepRepoKey } from '../../controller/plan/host-spec.js';
import { KUBERNETES_YUM_REPO, packageRepoFile } from '../../controller/render/packages.js';
import { TEST_BIN, type TempHost } from '../fixtures/temp-host.js';
import { buildTestRpms, dnfHost, installedRpms, makeRpmRepo } from '../fixtures/rpm/dnf-host.js';
import { startHttpsMirror, type HttpsMirror } from '../fixtures/rpm/https-mirror.js';
import { makeTestGpgKey, type TestGpgKey } from '../fixtures/rpm/test-gpg.js';
import { cleanup, tempDir } from './harness.js';

/**
 * The dnf path of the packages step against the real dnf 4 and rpm (Debian's packages), confined
 * to a temp host root (see test/fixtures/rpm/dnf-host.ts), with tiny signed RPMs named like the
 * Kubernetes ones in a createrepo_c repository served over HTTPS from 127.0.0.1 as a
 * `packages.source: mirror`. Everything the controller would send is rendered by the controller's
 * own code: the .repo file, the repo key, the package list.
 */
let dir: string;
let key: TestGpgKey;
let mirror: HttpsMirror;
let t: TempHost | undefined;
let machineBefore: string;

/** dnf and rpm state on this machine that a leak out of the installroot would touch */
const machineState = async (): Promise<string> =>
  JSON.stringify(
    await Promise.all(
      [
        '/etc/dnf/plugins/versionlock.list',
        '/var/cache/dnf/packages.db',
        '/var/lib/dnf/history.sqlite',
        '/root/.rpmdb',
        '/var/lib/rpm',
      ].map(async (p) => [p, (await stat(p).catch(() => undefined))?.mtimeMs ?? null]),
    ),
  );

const REL = '150500.1.1';
const KUBE = ['kubelet', 'kubeadm', 'kubectl'];

beforeAll(async () => {
  machineBefore = await machineState();
  dir = await tempDir('dnf');
  key = await makeTestGpgKey('ed25519', 'kctl test rpm repo');
  const rpms = await buildTestRpms(
    dir,
    [
      ...KUBE.flatMap((name) => [
        { name, version: '1.31.2', release: REL },
        { name, version: '1.31.3', release: REL },
      ]),
      { name: 'containerd', version: '1.7.22', release: '1.el9' },
      { name: 'runc', version: '1.1.14', release: '1.el9' },
    ],
    key,
  );
  await mkdir(join(dir, 'mirror'), { recursive: true });
  await makeRpmRepo(join(dir, 'mirror', 'core:', 'stable:', 'v1.31', 'rpm'), rpms, key);
  mirror = await startHttpsMirror(dir, join(dir, 'mirror'));
}, 120_000);
afterAll(async () => {
  await mirror?.close();
  await key?.cleanup();
  await cleanup([dir]);
});
afterEach(async () => {
  await t?.cleanup();
  t = undefined;
});

function spec(version: string): ClusterSpec {
  return ClusterSpec.parse({
    apiVersion: 'kctl.dev/v1alpha1',
    kind: 'Cluster',
    name: 'dnf',
    kubernetesVersion: version,
    controlPlaneEndpoint: { host: '198.18.1.100' },
    packages: { source: 'mirror', url: mirror.url, keyFingerprint: key.fingerprint },
    hosts: [{ name: 'w-1', role: 'worker' }],
  });
}

/** The steps the agent runs for the package part of a prepare host spec, from the controller's renders. */
function packageSteps(version: string): Step[] {
  const s = spec(version);
  const repoFile = packageRepoFile(
    { kubernetesVersion: s.kubernetesVersion, source: { kind: 'mirror', baseUrl: mirror.url } },
    'rpm',
  );
  const { repoKey } = prepRepoKey(s, 'rpm');
  const { packages, services } = prepPackages(s, 'rpm') as Pick<HostSpec, 'packages' | 'services'>;
  if (!repoKey) throw new Error('no repo key');
  return [
    fileStep(repoFile),
    repoKeyStep(repoKey),
    packagesStep(packages, services, [`file:${repoFile.path}`, `repo-key:${repoKey.path}`]),
  ];
}

/**
 * The dnf the test root runs: trusts the mirror's test CA for this repo, and reads the gpgkey file
 * inside the root (dnf(8): with --installroot, gpgkey paths are taken from the machine, not the root).
 */
const dnfHostForMirror = (versionlock = true): Promise<TempHost> =>
  dnfHost({
    versionlock,
    dnfOptions: [
      `--setopt=kubernetes.sslcacert=${mirror.pki.caCertPath}`,
      '--setopt=kubernetes.gpgkey="file://$KCTL_HOST_ROOT/etc/pki/rpm-gpg/RPM-GPG-KEY-kubernetes"',
    ],
    // booted with systemd (sd_booted): the restarts run through the test's systemctl
    files: { '/etc/ssl/certs/ca-certificates.crt': mirror.pki.caCertPem, '/run/systemd/system/.booted': '' },
  });

/** the test root's wrapped dnf, run directly (what an operator's `dnf upgrade` would do on the host) */
const rootDnf = (host: TempHost, args: string[]) =>
  execa(join(host.root, TEST_BIN, 'dnf'), args, { env: { KCTL_HOST_ROOT: host.root }, reject: false });

const locks = async (host: TempHost): Promise<string[]> =>
  (await readFile(join(host.root, 'etc/dnf/plugins/versionlock.list'), 'utf8'))
    .split('\n')
    .filter((l) => l !== '' && !l.startsWith('#'))
    .sort();

const packageChanges = (changes: Change[]) => changes.filter((c) => c.kind !== 'service');

describe('packages step with the real dnf (installroot-confined)', () => {
  it(
    'parses the rendered .repo file, installs the pinned versions, holds them, and a second run changes nothing',
    { timeout: 180_000 },
    async () => {
      t = await dnfHostForMirror();
      const steps = packageSteps('v1.31.2');
      const reports = await applySteps(t.host, steps);
      expect(reports.map((r) => [r.stepId, r.status, r.error?.message])).toEqual([
        [`file:${KUBERNETES_YUM_REPO}`, 'applied', undefined],
        ['repo-key:/etc/pki/rpm-gpg/RPM-GPG-KEY-kubernetes', 'applied', undefined],
        ['packages', 'applied', undefined],
        // the kubelet and containerd packages ask for a restart (try-restart: they do not run here)
        ['service-restarts', 'applied', undefined],
      ]);
      expect(await installedRpms(t.root)).toEqual({
        containerd: '1.7.22-1.el9',
        runc: '1.1.14-1.el9',
        kubelet: `1.31.2-${REL}`,
        kubeadm: `1.31.2-${REL}`,
        kubectl: `1.31.2-${REL}`,
      });
      expect(await locks(t)).toEqual(KUBE.map((n) => `${n}-0:1.31.2-${REL}.*`).sort());

      // the rendered repo file, as real dnf reads it
      const repolist = await rootDnf(t, ['repolist', '--enabled']);
      expect(repolist.exitCode, repolist.stderr).toBe(0);
      expect(repolist.stdout).toMatch(/^kubernetes\s+Kubernetes v1\.31$/m);
      // held: an ordinary upgrade leaves the kube packages where they are (exclude= and versionlock)
      await rootDnf(t, ['upgrade', '-y']);
      expect((await installedRpms(t.root)).kubelet).toBe(`1.31.2-${REL}`);

      const before = (await t.calls()).length;
      const again = await applySteps(t.host, packageSteps('v1.31.2'));
      expect(again.map((r) => r.status)).toEqual(['unchanged', 'unchanged', 'unchanged']);
      const mutating = (await t.calls())
        .slice(before)
        .filter(
          (c) =>
            (c.program === 'dnf' && ['install', 'upgrade'].includes(c.args[0] ?? '')) || c.args[1] === 'add',
        );
      expect(mutating).toEqual([]);
    },
  );

  it(
    'plans a version change, moves the held packages to it and locks the new version',
    { timeout: 180_000 },
    async () => {
      t = await dnfHostForMirror();
      await applySteps(t.host, packageSteps('v1.31.2'));
      const plan = await planSteps(t.host, packageSteps('v1.31.3'));
      expect(plan.map((p) => [p.stepId, packageChanges(p.changes)])).toEqual([
        [`file:${KUBERNETES_YUM_REPO}`, []],
        ['repo-key:/etc/pki/rpm-gpg/RPM-GPG-KEY-kubernetes', []],
        [
          'packages',
          [
            { kind: 'package-index', reason: '3 package(s) to install' },
            ...KUBE.map((name) => ({ kind: 'package', name, from: `1.31.2-${REL}`, to: '1.31.3' })),
            { kind: 'service-restart', unit: 'kubelet.service', reason: 'package kubelet changed' },
            ...KUBE.map((name) => ({ kind: 'package-hold', name })),
          ],
        ],
      ]);
      const reports = await applySteps(t.host, packageSteps('v1.31.3'));
      expect(reports.map((r) => [r.status, r.error?.message])).toEqual([
        ['unchanged', undefined],
        ['unchanged', undefined],
        ['applied', undefined],
        ['applied', undefined],
      ]);
      const installed = await installedRpms(t.root);
      for (const n of KUBE) expect(installed[n]).toBe(`1.31.3-${REL}`);
      expect(await locks(t)).toEqual(KUBE.map((n) => `${n}-0:1.31.3-${REL}.*`).sort());
      // and back down again: dnf install of the older pinned version downgrades
      expect((await applySteps(t.host, packageSteps('v1.31.2'))).at(-1)?.status).toBe('applied');
      expect((await installedRpms(t.root)).kubeadm).toBe(`1.31.2-${REL}`);
    },
  );

  it('without the versionlock plugin, the repo file exclude= is the hold', { timeout: 180_000 }, async () => {
    t = await dnfHostForMirror(false);
    const reports = await applySteps(t.host, packageSteps('v1.31.2'));
    expect(reports.map((r) => [r.status, r.error?.message])).toEqual([
      ['applied', undefined],
      ['applied', undefined],
      ['applied', undefined],
      ['applied', undefined],
    ]);
    expect((await installedRpms(t.root)).kubectl).toBe(`1.31.2-${REL}`);
    expect((await t.calls()).filter((c) => c.program === 'dnf' && c.args[1] === 'add')).toEqual([]);
    await rootDnf(t, ['upgrade', '-y']);
    expect((await installedRpms(t.root)).kubelet).toBe(`1.31.2-${REL}`);
    expect((await applySteps(t.host, packageSteps('v1.31.2'))).map((r) => r.status)).toEqual([
      'unchanged',
      'unchanged',
      'unchanged',
    ]);
  });

  it('left dnf and rpm on this machine as they were', async () => {
    expect(await machineState()).toBe(machineBefore);
  });
});
