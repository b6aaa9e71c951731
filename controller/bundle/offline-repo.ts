import { copyFile, mkdir, mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { gzipSync } from 'node:zlib';
import { execa } from 'execa';
import { KctlError } from '../../proto/errors.js';
import { BUILD_PATH, REPO_PROGRAMS, requireBuildPrograms } from './build-programs.js';

/**
 * A flat apt repository for the offline bundle: real .debs of containerd, runc and whatever they
 * need that the lab base lacks, fetched with this machine's apt, plus extra .debs (the kube
 * stand-ins). The index is made by apt-ftparchive and the Release file is signed with a key made
 * for this repository only, so hosts trust it with `signed-by=` rather than `trusted=yes`.
 *
 * Dependencies are resolved by apt itself: `apt-get install --download-only` against a copy of
 * the base root filesystem's dpkg status, so apt downloads exactly what a lab host lacks, with
 * the same resolver that will install them (no hand-walked `apt-cache depends`).
 */
export const DEFAULT_REPO_PACKAGES = ['containerd', 'runc'];
export const BUNDLE_KEYRING = 'kctl-bundle.gpg';

export interface BuildOfflineAptRepoOptions {
  outDir: string;
  /** paths of more .deb files to include (kube stand-ins) */
  extraDebs?: string[];
  /** packages to fetch with their dependencies; default containerd and runc */
  packages?: string[];
  /** a root filesystem whose installed packages need not be fetched (the lab base); default none */
  baseRootfs?: string;
  installMissing?: boolean;
}

export interface RepoPackage {
  name: string;
  version: string;
  architecture: string;
  file: string;
}

export interface OfflineAptRepo {
  dir: string;
  packages: RepoPackage[];
  /** binary keyring (for /etc/apt/keyrings/) that verifies InRelease / Release.gpg */
  keyringPath: string;
  fingerprint: string;
}

/** The sources line a host writes, e.g. to /etc/apt/sources.list.d/kctl-bundle.list. */
export function bundleSourcesLine(
  baseUrl: string,
  keyringOnHost = `/etc/apt/keyrings/${BUNDLE_KEYRING}`,
): string {
  return `deb [signed-by=${keyringOnHost}] ${baseUrl.replace(/\/$/, '')} ./`;
}

const env = { PATH: BUILD_PATH, LANG: 'C.UTF-8' };

async function run(
  file: string,
  args: string[],
  opts: { cwd?: string; extraEnv?: Record<string, string> } = {},
) {
  const r = await execa(file, args, {
    env: { ...env, ...opts.extraEnv },
    extendEnv: false,
    reject: false,
    ...(opts.cwd !== undefined ? { cwd: opts.cwd } : {}),
  });
  if (r.exitCode !== 0) {
    throw new KctlError(
      'program_failed',
      `${file} ${args.slice(0, 4).join(' ')} failed (exit ${r.exitCode})`,
      {
        details: { stderr: r.stderr.split('\n').slice(-15).join('\n') },
      },
    );
  }
  return r.stdout;
}

/** apt-get's argv to download packages and their dependencies missing from a dpkg status file. */
export function aptDownloadArgs(
  packages: string[],
  statusFile: string,
  archives: string,
  stateDir: string,
): string[] {
  return [
    '-q',
    '-y',
    '-o', `Dir::State::status=${statusFile}`,
    '-o', `Dir::State::extended_states=${join(stateDir, 'extended_states')}`,
    '-o', `Dir::Cache::archives=${archives}`,
    '-o', 'Debug::NoLocking=true',
    '-o', 'APT::Install-Recommends=false',
    '-o', 'APT::Get::AllowUnauthenticated=false',
    'install',
    '--download-only',
    ...packages,
  ]; // prettier-ignore
}

async function aptListsPresent(): Promise<boolean> {
  const names = await readdir('/var/lib/apt/lists').catch(() => [] as string[]);
  return names.some((n) => n.endsWith('_Packages') || n.endsWith('_Packages.lz4'));
}

async function debFields(path: string): Promise<RepoPackage> {
  const out = await run('dpkg-deb', [
    '--show',
    '--showformat=${Package}\\t${Version}\\t${Architecture}\\n',
    path,
  ]);
  const [name = '', version = '', architecture = ''] = out.trim().split('\t');
  if (name === '') throw new KctlError('invalid_args', `"${path}" is not a Debian package`);
  return { name, version, architecture, file: `pool/${basename(path)}` };
}

export async function buildOfflineAptRepo(opts: BuildOfflineAptRepoOptions): Promise<OfflineAptRepo> {
  await requireBuildPrograms(REPO_PROGRAMS, { installMissing: opts.installMissing ?? true });
  const dir = resolve(opts.outDir);
  const pool = join(dir, 'pool');
  await rm(dir, { recursive: true, force: true });
  await mkdir(pool, { recursive: true });
  const work = await mkdtemp(join(tmpdir(), 'kctl-apt-repo-'));
  try {
    const archives = join(work, 'archives');
    await mkdir(join(archives, 'partial'), { recursive: true });
    const statusFile = join(work, 'status');
    const baseStatus =
      opts.baseRootfs !== undefined ? join(opts.baseRootfs, 'var/lib/dpkg/status') : undefined;
    if (baseStatus !== undefined) await copyFile(baseStatus, statusFile);
    else await writeFile(statusFile, '');
    if (!(await aptListsPresent())) await run('apt-get', ['update', '-q']);
    await run(
      'apt-get',
      aptDownloadArgs(opts.packages ?? DEFAULT_REPO_PACKAGES, statusFile, archives, work),
      {
        extraEnv: { DEBIAN_FRONTEND: 'noninteractive' },
      },
    );
    const debs = (await readdir(archives)).filter((n) => n.endsWith('.deb')).map((n) => join(archives, n));
    for (const extra of opts.extraDebs ?? []) {
      if (
        !extra.endsWith('.deb') ||
        !(await stat(extra).then(
          (s) => s.isFile(),
          () => false,
        ))
      ) {
        throw new KctlError('invalid_args', `extra package "${extra}" is not a .deb file`);
      }
      debs.push(resolve(extra));
    }
    const packages: RepoPackage[] = [];
    for (const deb of debs) {
      packages.push(await debFields(deb));
      await copyFile(deb, join(pool, basename(deb)));
    }
    const index = await run('apt-ftparchive', ['packages', 'pool'], { cwd: dir });
    await writeFile(join(dir, 'Packages'), index);
    await writeFile(join(dir, 'Packages.gz'), gzipSync(index));
    const release = await run(
      'apt-ftparchive',
      [
        '-o', 'APT::FTPArchive::Release::Origin=kctl',
        '-o', 'APT::FTPArchive::Release::Label=kctl offline bundle',
        '-o', 'APT::FTPArchive::Release::Description=containerd, runc and the kube packages for offline hosts',
        'release', '.',
      ], // prettier-ignore
      { cwd: dir },
    );
    await writeFile(join(dir, 'Release'), release);
    const { fingerprint } = await signRelease(dir, join(work, 'gnupg'));
    return {
      dir,
      packages: packages.sort((a, b) => a.name.localeCompare(b.name)),
      keyringPath: join(dir, BUNDLE_KEYRING),
      fingerprint,
    };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/**
 * A signing key for this repository alone, in a throw-away GNUPGHOME: exports the public key as
 * a binary keyring, writes InRelease and Release.gpg, then stops the gpg-agent it started.
 */
async function signRelease(dir: string, gnupgHome: string): Promise<{ fingerprint: string }> {
  await mkdir(gnupgHome, { recursive: true, mode: 0o700 });
  const gpgEnv = { GNUPGHOME: gnupgHome };
  const gpg = (args: string[]) =>
    run('gpg', ['--batch', '--quiet', '--no-tty', ...args], { extraEnv: gpgEnv });
  try {
    await gpg([
      '--passphrase',
      '',
      '--quick-generate-key',
      'kctl offline bundle <bundle@kctl.invalid>',
      'ed25519',
      'sign',
      '2y',
    ]);
    const listing = await gpg(['--with-colons', '--list-secret-keys']);
    const fingerprint = /^fpr:+([0-9A-F]{40,64}):/m.exec(listing)?.[1];
    if (fingerprint === undefined)
      throw new KctlError('program_failed', 'gpg made no key for the bundle repository');
    await gpg(['--output', join(dir, BUNDLE_KEYRING), '--export', fingerprint]);
    await gpg([
      '--local-user',
      fingerprint,
      '--output',
      join(dir, 'InRelease'),
      '--clearsign',
      join(dir, 'Release'),
    ]);
    await gpg([
      '--local-user',
      fingerprint,
      '--armor',
      '--output',
      join(dir, 'Release.gpg'),
      '--detach-sign',
      join(dir, 'Release'),
    ]);
    return { fingerprint };
  } finally {
    await execa('gpgconf', ['--kill', 'all'], {
      env: { ...env, ...gpgEnv },
      extendEnv: false,
      reject: false,
    });
  }
}
