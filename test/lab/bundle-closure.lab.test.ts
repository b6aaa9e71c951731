import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildBundle } from '../../controller/bundle/build.js';
import { verifyAptClosure } from '../../controller/bundle/closure.js';
import { buildOfflineAptRepo } from '../../controller/bundle/offline-repo.js';
import { buildStandinDebs, type StandinDeb } from '../standins/deb.js';

/**
 * Issue 14 part 6: the stand-in kube .debs declare the real packages' Depends, and `kctl bundle
 * build` carries what they need: the bundle's repository alone installs kubeadm, kubelet and kubectl
 * (apt --simulate in a throw-away apt root), while a repository of the same .debs without their
 * dependencies is refused, naming what is missing. Packages this machine has installed count as
 * the base (its dpkg status), so apt fetches only what it lacks: run as root on a Debian machine
 * with apt lists (apt-get update once). In the lab suite (about 80 s on a busy two-core machine,
 * most of it esbuild, gpg and apt): `npx vitest run --config test/lab/vitest.lab.config.ts
 * test/lab/bundle-closure.lab.test.ts`.
 */
const PACKAGES_OF_TOOLS = ['conntrack', 'ebtables', 'ethtool', 'socat'];

describe('the bundle carries the kube packages dependency closure', () => {
  let work: string;
  let debs: StandinDeb[];
  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'kctl-closure-test-'));
    debs = await buildStandinDebs(join(work, 'debs'), { version: 'v1.31.2' });
  }, 120_000);
  afterAll(() => rm(work, { recursive: true, force: true }));

  it('the stand-ins depend on what the real kubelet and kubeadm depend on', () => {
    expect(debs.map((d) => d.name).sort()).toEqual([
      'cri-tools',
      'kctl-standin-common',
      'kubeadm',
      'kubectl',
      'kubelet',
      'kubernetes-cni',
    ]);
  });

  it('refuses a repository without the dependencies, naming one', { timeout: 60_000 }, async () => {
    const repo = await buildOfflineAptRepo({
      outDir: join(work, 'bare'),
      packages: [],
      extraDebs: debs.map((d) => d.path),
      baseRootfs: '/',
    });
    // against an empty dpkg status, so that what this machine happens to have installed cannot make it pass
    const refused = verifyAptClosure({
      repoDir: repo.dir,
      keyring: repo.keyringPath,
      names: ['kubeadm', 'kubelet', 'kubectl'],
    });
    await expect(refused).rejects.toThrow(/cannot install kubeadm, kubelet, kubectl on its own/);
    await expect(refused).rejects.toMatchObject({
      details: {
        unmet: expect.arrayContaining([
          expect.stringMatching(/Depends: conntrack but it is not installable/),
        ]),
      },
    });
  });

  it('builds a bundle whose repository installs them on its own', { timeout: 120_000 }, async () => {
    const built = await buildBundle({
      outDir: join(work, 'bundle'),
      packages: [],
      debs: debs.map((d) => d.path),
      baseRootfs: '/',
    });
    const names = built.packages.map((p) => p.name);
    const installed = await readFile('/var/lib/dpkg/status', 'utf8');
    for (const p of PACKAGES_OF_TOOLS) {
      // each tool kubeadm's preflight looks for is in the bundle, or already on this (base) machine
      const onBase = new RegExp(`^Package: ${p}\\nStatus: install ok installed`, 'm').test(installed);
      expect(onBase || names.includes(p), `${p} in the bundle or on the base`).toBe(true);
    }
    expect(names).toEqual(
      expect.arrayContaining(['kubeadm', 'kubelet', 'kubectl', 'cri-tools', 'kubernetes-cni']),
    );
  });
});
