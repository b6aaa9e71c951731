/**
 * STAND-IN rpm packages for an rpm offline bundle (kctl bundle build --format rpm --rpm ...): the
 * names and version scheme of pkgs.k8s.io's EL packages (kubeadm/kubelet/kubectl
 * `1.31.2-150500.1.1`, cri-tools, kubernetes-cni) plus containerd and runc, built with the real
 * rpmbuild on this Debian machine. They hold one README each and no programs: no lab host runs an
 * EL userland, so they exist to prove the bundle's dnf path (names, pins, Requires, version locks).
 *
 * The kube packages Require one another as the real ones do (kubeadm: kubelet, kubectl, cri-tools,
 * kubernetes-cni; kubelet: kubernetes-cni), so dnf must resolve them from the bundle alone. The
 * real EL kubelet also Requires conntrack-tools, ebtables, ethtool, iproute, iptables, socat and
 * util-linux: those come from the EL release's own repositories, which a Debian machine cannot
 * build, so the stand-ins leave them out (an operator's real bundle adds them with --rpm).
 *
 *   npx tsx test/standins/rpm.ts OUT_DIR [--version v1.31.2]
 */
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { kubeVersion } from '../../proto/kube-version.js';

/** pkgs.k8s.io's EL release string (OBS builds for SLE 15.5 / EL) */
export const STANDIN_RPM_RELEASE = '150500.1.1';

export interface StandinRpm {
  name: string;
  version: string;
  release: string;
  requires: readonly string[];
}

/** The packages an rpm host's prepare installs from the bundle, at `kubernetesVersion`. */
export function standinRpms(kubernetesVersion: string): StandinRpm[] {
  const v = kubeVersion(kubernetesVersion);
  const kube = `1.${v.minor}.${v.patch}`;
  const rel = STANDIN_RPM_RELEASE;
  return [
    {
      name: 'kubeadm',
      version: kube,
      release: rel,
      requires: ['kubelet >= 1.19.0', 'kubectl >= 1.13.0', 'cri-tools >= 1.25.0', 'kubernetes-cni >= 1.1.1'],
    },
    { name: 'kubelet', version: kube, release: rel, requires: ['kubernetes-cni >= 1.1.1'] },
    { name: 'kubectl', version: kube, release: rel, requires: [] },
    { name: 'cri-tools', version: `1.${v.minor}.1`, release: rel, requires: [] },
    { name: 'kubernetes-cni', version: '1.5.1', release: rel, requires: [] },
    // EL's containerd (and Docker's containerd.io) run runc
    { name: 'containerd', version: '1.7.24', release: '1.el9', requires: ['runc'] },
    { name: 'runc', version: '1.1.15', release: '1.el9', requires: [] },
  ];
}

function specText(p: StandinRpm): string {
  return [
    `Name: ${p.name}`,
    `Version: ${p.version}`,
    `Release: ${p.release}`,
    `Summary: kctl STAND-IN for ${p.name} (no programs)`,
    'License: Apache-2.0',
    'BuildArch: noarch',
    ...p.requires.map((r) => `Requires: ${r}`),
    '%description',
    `A kctl test stand-in named like the real ${p.name} package; it installs a README only.`,
    '%install',
    `mkdir -p %{buildroot}/usr/share/doc/${p.name}`,
    `echo 'kctl stand-in ${p.name} ${p.version}-${p.release}' > %{buildroot}/usr/share/doc/${p.name}/README.kctl-standin`,
    '%files',
    `/usr/share/doc/${p.name}/README.kctl-standin`,
    '',
  ].join('\n');
}

/** Builds the stand-ins into outDir; returns the .rpm paths. */
export async function buildStandinRpms(outDir: string, kubernetesVersion: string): Promise<string[]> {
  const out = resolve(outDir);
  const work = await mkdtemp(join(tmpdir(), 'kctl-standin-rpm-'));
  try {
    const top = join(work, 'rpmbuild');
    await mkdir(join(work, 'specs'), { recursive: true });
    for (const p of standinRpms(kubernetesVersion)) {
      const spec = join(work, 'specs', `${p.name}.spec`);
      await writeFile(spec, specText(p));
      // its own rpm database: rpmbuild opens one, and must not create this machine's
      await execa('rpmbuild', [
        '-bb',
        '--quiet',
        '--dbpath',
        join(work, 'rpmdb'),
        '--define',
        `_topdir ${top}`,
        '--define',
        `_rpmdir ${out}`,
        '--define',
        '_build_name_fmt %%{NAME}-%%{VERSION}-%%{RELEASE}.%%{ARCH}.rpm',
        spec,
      ]);
    }
  } finally {
    await rm(work, { recursive: true, force: true });
  }
  return (await readdir(out))
    .filter((f) => f.endsWith('.rpm'))
    .sort()
    .map((f) => join(out, f));
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [outDir, flag, version] = process.argv.slice(2);
  if (outDir === undefined || (flag !== undefined && flag !== '--version')) {
    process.stderr.write('usage: tsx test/standins/rpm.ts OUT_DIR [--version v1.31.2]\n');
    process.exit(2);
  }
  await mkdir(outDir, { recursive: true });
  for (const f of await buildStandinRpms(outDir, version ?? 'v1.31.2')) process.stdout.write(`${f}\n`);
}
