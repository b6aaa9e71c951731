import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createReadStream } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { ClusterSpec } from '../../proto/cluster-spec.js';
import { HostSpec } from '../../proto/host-spec.js';
import type { Change } from '../../proto/results.js';
import type { BundleManifest } from '../../proto/bundle.js';
import { applySteps, planSteps } from '../../agent/steps/converge.js';
import { stepsForHostSpec } from '../../agent/steps/index.js';
import type { BundleSource } from '../../agent/steps/bundle-fetch.js';
import { hashFile, MANIFEST_FILE, readManifest } from '../../controller/bundle/manifest.js';
import { signManifest } from '../../controller/bundle/sign.js';
import { createCa, type CaKeyPair } from '../../controller/pki.js';
import { prepPackages } from '../../controller/plan/host-spec.js';
import { checkBundleCarries } from '../../controller/plan/bundle-packages.js';
import { packageRepoInputFor } from '../../controller/render/cluster-spec-inputs.js';
import { KUBERNETES_YUM_REPO, packageRepoFile } from '../../controller/render/packages.js';
import { TEST_BIN, type TempHost } from '../fixtures/temp-host.js';
import { dnfHost, installedRpms } from '../fixtures/rpm/dnf-host.js';
import { STANDIN_RPM_RELEASE, buildStandinRpms } from '../standins/rpm.js';
import { cleanup, kctl, tempDir } from './harness.js';

/**
 * Issue 14 part 5: an rpm offline bundle. `kctl bundle build --format rpm` (buildBundle) makes
 * DIR/rpm from stand-in rpms (rpmbuild) with createrepo_c, listed in the manifest; the agent's
 * steps for a prepare host spec rendered by the controller's own code (packages.source bundle on
 * an rpm host) sync it into a dnf host root (signed manifest, every SHA-256), write the .repo file
 * pointing at the synced directory, and the real dnf installs the pinned versions from it alone and
 * version-locks them. A second run changes nothing.
 */
const REL = STANDIN_RPM_RELEASE;
const KUBE = ['kubeadm', 'kubectl', 'kubelet'];
let dir: string;
let ca: CaKeyPair;
let built: { dir: string; manifest: BundleManifest; stdout: string };
let t: TempHost | undefined;

/** The controller's side of the bundle routes, in memory: the manifest signed by `ca`, files from disk. */
function dirSource(bundle: string): BundleSource & { downloads: string[] } {
  const downloads: string[] = [];
  return {
    downloads,
    caPem: () => ca.certPem,
    async manifest() {
      const text = await readFile(join(bundle, MANIFEST_FILE), 'utf8');
      return { manifest: text, signature: signManifest(text, ca.keyPem, ca.certPem) };
    },
    file(path) {
      downloads.push(path);
      return Promise.resolve(createReadStream(join(bundle, path)));
    },
  };
}

const cluster = ClusterSpec.parse({
  apiVersion: 'kctl.dev/v1alpha1',
  kind: 'Cluster',
  name: 'rpm-bundle',
  kubernetesVersion: 'v1.31.2',
  controlPlaneEndpoint: { host: '198.18.1.100' },
  packages: { source: 'bundle' },
  hosts: [{ name: 'w-1', role: 'worker' }],
});

/** The package part of the prepare host spec the controller sends an rpm host. */
function hostSpec(): HostSpec {
  const repo = packageRepoInputFor(cluster, 'rpm');
  if (!repo) throw new Error('no package repo input');
  return HostSpec.parse({
    hostName: 'w-1',
    role: 'worker',
    kubernetesVersion: cluster.kubernetesVersion,
    kubeProxyMode: 'iptables',
    swap: 'keep',
    files: [packageRepoFile(repo, 'rpm')],
    ...prepPackages(cluster, 'rpm'),
  });
}

/**
 * The test root's dnf: with --installroot, a file:// baseurl is a path of the machine, not of the
 * root (as gpgkey paths are, see packages-dnf.test.ts), so the wrapper points the repo id at the
 * same directory inside the root; everything else comes from the rendered .repo file.
 */
const bundleDnfHost = (): Promise<TempHost> =>
  dnfHost({
    dnfOptions: ['--setopt=kubernetes.baseurl="file://$KCTL_HOST_ROOT/var/lib/kctl/bundle/rpm"'],
    files: { '/run/systemd/system/.booted': '' },
  });

const rootDnf = (host: TempHost, args: string[]) =>
  execa(join(host.root, TEST_BIN, 'dnf'), args, { env: { KCTL_HOST_ROOT: host.root }, reject: false });

beforeAll(async () => {
  dir = await tempDir('rpm-bundle');
  ca = await createCa({ commonName: 'kctl rpm bundle test' });
  const rpms = await buildStandinRpms(join(dir, 'rpms'), cluster.kubernetesVersion);
  const out = join(dir, 'bundle');
  const r = await kctl([
    'bundle',
    'build',
    '--out',
    out,
    '--format',
    'rpm',
    ...rpms.flatMap((f) => ['--rpm', f]),
  ]);
  expect(r.code, r.stderr).toBe(0);
  built = { dir: out, manifest: (await readManifest(out)).manifest, stdout: r.stdout };
}, 180_000);
afterAll(async () => {
  await cleanup([dir]);
});
afterEach(async () => {
  await t?.cleanup();
  t = undefined;
});

describe('rpm offline bundle on a dnf host', () => {
  it('refuses --rpm without --format rpm, and an unknown format', async () => {
    const a = await kctl(['bundle', 'build', '--out', join(dir, 'x'), '--rpm', '/nonexistent.rpm']);
    expect(a.code).not.toBe(0);
    expect(a.stderr).toContain('--rpm needs --format rpm');
    const b = await kctl(['bundle', 'build', '--out', join(dir, 'x'), '--format', 'deb,apk']);
    expect(b.stderr).toContain('--format "deb,apk": expected deb, rpm or deb,rpm');
  });

  it('kctl bundle build --format rpm makes a dnf repository listed in the manifest with digests', async () => {
    const paths = built.manifest.files.map((f) => f.path);
    expect(paths.filter((p) => p.endsWith('.rpm'))).toEqual([
      'rpm/containerd-1.7.24-1.el9.noarch.rpm',
      `rpm/cri-tools-1.31.1-${REL}.noarch.rpm`,
      `rpm/kubeadm-1.31.2-${REL}.noarch.rpm`,
      `rpm/kubectl-1.31.2-${REL}.noarch.rpm`,
      `rpm/kubelet-1.31.2-${REL}.noarch.rpm`,
      `rpm/kubernetes-cni-1.5.1-${REL}.noarch.rpm`,
      'rpm/runc-1.1.15-1.el9.noarch.rpm',
    ]);
    expect(paths).toContain('rpm/repodata/repomd.xml');
    expect(paths.some((p) => p.startsWith('apt/'))).toBe(false);
    for (const f of built.manifest.files)
      expect(await hashFile(join(built.dir, f.path))).toEqual({ sha256: f.sha256, size: f.size });
    expect(built.stdout).toContain(`  rpm kubelet 1.31.2-${REL} noarch\n`);
    expect(built.stdout).toMatch(/: 7 package\(s\), \d+ file\(s\), [\d.]+ MiB\n$/);
    expect((await kctl(['bundle', 'verify', built.dir])).code).toBe(0);
    // the plan's check reads the same paths: this bundle carries the rpm host's pins, not v1.31.3's
    expect(() => checkBundleCarries([hostSpec()], paths)).not.toThrow();
    const newer = ClusterSpec.parse({ ...cluster, kubernetesVersion: 'v1.31.3' });
    const newerSpec = { ...hostSpec(), packagesFrom: 'bundle' as const, ...prepPackages(newer, 'rpm') };
    expect(() => checkBundleCarries([newerSpec], paths)).toThrow(
      `kubeadm 1.31.3 (the bundle has 1.31.2-${REL})`,
    );
  });

  it(
    'plan shows the sync, the repo file and the pinned installs; apply installs from the bundle alone, locks, and a second run changes nothing',
    { timeout: 240_000 },
    async () => {
      t = await bundleDnfHost();
      const source = dirSource(built.dir);
      const steps = stepsForHostSpec(hostSpec(), { bundle: source });
      const plan = await planSteps(t.host, steps);
      const byStep = new Map(plan.map((p) => [p.stepId, p.changes]));
      expect(byStep.get('bundle-sync')?.map((c) => ('path' in c ? c.path : ''))).toEqual(
        expect.arrayContaining([
          `/var/lib/kctl/bundle/rpm/kubeadm-1.31.2-${REL}.noarch.rpm`,
          '/var/lib/kctl/bundle/rpm/repodata/repomd.xml',
        ]),
      );
      const repoFile = byStep.get(`file:${KUBERNETES_YUM_REPO}`) ?? [];
      expect(repoFile.map((c: Change) => (c.kind === 'file' ? c.diff : ''))[0]).toContain(
        '+baseurl=file:///var/lib/kctl/bundle/rpm',
      );
      expect(
        (byStep.get('packages') ?? []).filter((c) => c.kind === 'package' || c.kind === 'package-hold'),
      ).toEqual([
        { kind: 'package', name: 'containerd', from: null, to: '(repository candidate)' },
        { kind: 'package', name: 'runc', from: null, to: '(repository candidate)' },
        ...['kubelet', 'kubeadm', 'kubectl'].map((name) => ({
          kind: 'package',
          name,
          from: null,
          to: '1.31.2',
        })),
        ...['kubelet', 'kubeadm', 'kubectl'].map((name) => ({ kind: 'package-hold', name })),
      ]);
      // plan touched nothing
      expect(await stat(join(t.root, 'var/lib/kctl')).catch(() => undefined)).toBeUndefined();

      const reports = await applySteps(t.host, steps);
      expect(reports.filter((r) => r.status === 'failed').map((r) => [r.stepId, r.error?.message])).toEqual(
        [],
      );
      expect(await installedRpms(t.root)).toEqual({
        containerd: '1.7.24-1.el9',
        runc: '1.1.15-1.el9',
        kubelet: `1.31.2-${REL}`,
        kubeadm: `1.31.2-${REL}`,
        kubectl: `1.31.2-${REL}`,
        // pulled in by the kube packages' Requires, from the bundle
        'cri-tools': `1.31.1-${REL}`,
        'kubernetes-cni': `1.5.1-${REL}`,
      });
      const locks = (await readFile(join(t.root, 'etc/dnf/plugins/versionlock.list'), 'utf8'))
        .split('\n')
        .filter((l) => l !== '' && !l.startsWith('#'))
        .sort();
      expect(locks).toEqual(KUBE.map((n) => `${n}-0:1.31.2-${REL}.*`));
      // the rendered .repo file as the real dnf reads it: the bundle is the only repository
      const repolist = await rootDnf(t, ['repolist', '--enabled']);
      expect(repolist.exitCode, repolist.stderr).toBe(0);
      expect(repolist.stdout).toMatch(/^kubernetes\s+Kubernetes v1\.31 \(kctl offline bundle\)$/m);

      const downloads = source.downloads.length;
      const before = (await t.calls()).length;
      const again = await applySteps(t.host, stepsForHostSpec(hostSpec(), { bundle: source }));
      expect(
        again.filter((r) => r.status !== 'unchanged').map((r) => [r.stepId, r.status, r.changes]),
      ).toEqual([]);
      expect(source.downloads.length).toBe(downloads);
      const mutating = (await t.calls())
        .slice(before)
        .filter((c) => c.program === 'dnf' && ['install', 'remove', 'upgrade'].includes(c.args[0] ?? ''));
      expect(mutating).toEqual([]);
      expect((await t.calls()).filter((c) => c.program === 'dnf' && c.args[2] === 'add').length).toBe(1);
    },
  );
});
