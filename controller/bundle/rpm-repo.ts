import { copyFile, mkdir, rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { execa } from 'execa';
import { KctlError } from '../../proto/errors.js';
import { BUILD_PATH, requireBuildPrograms, type BuildProgram } from './build-programs.js';
import type { RepoPackage } from './offline-repo.js';

/** The bundle's yum/dnf repository, below the bundle directory (the host sees it in BUNDLE_RPM_HOST_DIR). */
export const BUNDLE_RPM_DIR = 'rpm';

export const RPM_REPO_PROGRAMS: BuildProgram[] = [
  { program: 'rpm', pkg: 'rpm' },
  { program: 'createrepo_c', pkg: 'createrepo-c' },
];

const env = { PATH: BUILD_PATH, LANG: 'C.UTF-8' };

/** `rpm/kubeadm-1.31.2-150500.1.1.x86_64.rpm` -> kubeadm, 1.31.2-150500.1.1 (name-version-release.arch.rpm). */
const RPM_FILE = /(?:^|\/)([A-Za-z0-9_.+-]+)-([^-/]+)-([^-/]+)\.([A-Za-z0-9_]+)\.rpm$/;

/** The .rpm files an offline bundle carries, by name: version-release as dnf and rpm -q print them. */
export function rpmVersionsIn(paths: readonly string[]): Map<string, Set<string>> {
  const out = new Map<string, Set<string>>();
  for (const p of paths) {
    const m = RPM_FILE.exec(p);
    if (!m?.[1] || !m[2] || !m[3]) continue;
    let set = out.get(m[1]);
    if (!set) out.set(m[1], (set = new Set()));
    set.add(`${m[2]}-${m[3]}`);
  }
  return out;
}

/** Name, version-release and arch from the package header: a file name proves nothing. */
export async function rpmFields(path: string): Promise<RepoPackage> {
  const r = await execa(
    'rpm',
    ['-qp', '--nosignature', '--nodigest', '--qf', '%{NAME}\\t%{VERSION}-%{RELEASE}\\t%{ARCH}\\n', path],
    { env, extendEnv: false, reject: false },
  );
  const [name = '', version = '', architecture = ''] = r.stdout.trim().split('\t');
  if (r.exitCode !== 0 || name === '' || architecture === '')
    throw new KctlError('invalid_args', `--rpm "${path}" is not an rpm package`, {
      details: { stderr: r.stderr.split('\n').slice(-5).join('\n') },
    });
  return { name, version, architecture, file: `${name}-${version}.${architecture}.rpm` };
}

/**
 * DIR/rpm: the given .rpm files under their canonical name-version-release.arch.rpm and the
 * repository metadata createrepo_c makes (repodata/repomd.xml and the files it names). The
 * metadata is not gpg-signed: what a host trusts is the bundle manifest, signed by the
 * controller's CA and checked file by file (SHA-256) by the agent before dnf reads any of it.
 * Rebuilt from scratch each time, so a package left out of a rebuild leaves the repository.
 */
export async function buildBundleRpmRepo(opts: {
  outDir: string;
  rpms: readonly string[];
  installMissing?: boolean;
}): Promise<RepoPackage[]> {
  await requireBuildPrograms(RPM_REPO_PROGRAMS, { installMissing: opts.installMissing ?? true });
  if (opts.rpms.length === 0)
    throw new KctlError('invalid_args', '--format rpm needs the packages as --rpm FILE (none given)', {
      details: {
        remedy: 'pass kubeadm, kubelet, kubectl, cri-tools, kubernetes-cni, containerd and runc .rpm files',
      },
    });
  const dir = resolve(opts.outDir);
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true, mode: 0o755 });
  const packages: RepoPackage[] = [];
  const seen = new Map<string, string>();
  for (const rpm of opts.rpms) {
    const p = await rpmFields(rpm);
    const earlier = seen.get(p.file);
    if (earlier !== undefined)
      throw new KctlError('invalid_args', `--rpm "${rpm}" and "${earlier}" are the same package ${p.file}`);
    seen.set(p.file, rpm);
    await copyFile(rpm, join(dir, p.file));
    packages.push({ ...p, file: `${BUNDLE_RPM_DIR}/${p.file}` });
  }
  // no cache, no mtime-dependent output beyond what repomd records: plain files only (S18)
  const r = await execa('createrepo_c', ['--quiet', '--no-database', '--simple-md-filenames', dir], {
    env,
    extendEnv: false,
    reject: false,
  });
  if (r.exitCode !== 0)
    throw new KctlError('program_failed', `createrepo_c ${dir} failed (exit ${r.exitCode})`, {
      details: { stderr: r.stderr.split('\n').slice(-15).join('\n') },
    });
  return packages.sort((a, b) => (a.file < b.file ? -1 : 1));
}
