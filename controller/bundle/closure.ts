import { mkdir, mkdtemp, rm, writeFile, copyFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { execa } from 'execa';
import { KctlError } from '../../proto/errors.js';
import { BUILD_PATH } from './build-programs.js';

/**
 * The dependency closure of an offline bundle. Extra .debs (the kube packages) are copied into the
 * repository as they are, so what they depend on (kubelet: conntrack, iptables, ebtables, ethtool,
 * socat, iproute2, util-linux, mount; kubeadm: cri-tools, kubernetes-cni) must be fetched with the
 * other packages: their Depends become apt targets, and apt resolves the rest of the closure for
 * the distribution release this machine's apt lists describe. After the build, a throw-away apt
 * root whose only source is the bundle simulates installing everything, so a bundle that misses a
 * dependency is refused here rather than on an air-gapped host.
 */

const env = { PATH: BUILD_PATH, LANG: 'C.UTF-8' };

async function run(file: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const r = await execa(file, args, { env, extendEnv: false, reject: false });
  return { code: r.exitCode ?? 1, stdout: r.stdout, stderr: r.stderr };
}

/** One Depends group: alternatives `a (>= 1) | b`, each a package name. */
export function parseDepends(field: string): string[][] {
  return field
    .split(',')
    .map((group) =>
      group
        .split('|')
        .map((alt) =>
          alt
            .trim()
            .replace(/\s*\(.*\)\s*$/, '')
            .replace(/:any$/, '')
            .trim(),
        )
        .filter((name) => name !== ''),
    )
    .filter((g) => g.length > 0);
}

/**
 * The packages apt must fetch for a bundle: the named ones, and each dependency of the extra .debs
 * that no extra .deb provides (the first alternative of a group; apt adds their own closure).
 */
export function closureTargets(
  packages: readonly string[],
  debs: ReadonlyArray<{ name: string; depends: string }>,
): string[] {
  const provided = new Set(debs.map((d) => d.name));
  const out = new Set(packages);
  for (const d of debs) {
    for (const group of parseDepends(d.depends)) {
      if (group.some((name) => provided.has(name))) continue;
      const first = group[0];
      if (first !== undefined) out.add(first);
    }
  }
  return [...out];
}

/** Package and Depends of each .deb file. */
export async function debDependencies(
  paths: readonly string[],
): Promise<Array<{ name: string; depends: string }>> {
  const out: Array<{ name: string; depends: string }> = [];
  for (const path of paths) {
    const r = await run('dpkg-deb', ['--show', '--showformat=${Package}\\t${Depends}\\n', path]);
    const [name = '', depends = ''] = r.stdout.trim().split('\t');
    if (r.code !== 0 || name === '') throw new KctlError('invalid_args', `"${path}" is not a Debian package`);
    out.push({ name, depends });
  }
  return out;
}

/** What `kctl bundle build` asks apt for: the packages plus the extra .debs' dependencies. */
export async function bundlePackageTargets(
  packages: readonly string[],
  debs: readonly string[],
): Promise<string[]> {
  return closureTargets(packages, await debDependencies(debs));
}

/**
 * Refuses a repository that cannot install `names` on its own: `apt-get --simulate install` in a
 * throw-away apt root whose only source is `repoDir` (checked with its own keyring), against the
 * dpkg status of `baseStatus` (a host with those packages installed) or an empty one.
 */
export async function verifyAptClosure(options: {
  repoDir: string;
  keyring: string;
  names: readonly string[];
  baseStatus?: string | undefined;
}): Promise<void> {
  const root = await mkdtemp(join(tmpdir(), 'kctl-closure-'));
  try {
    const dirs = [
      'lists/partial',
      'cache/archives/partial',
      'etc/apt.conf.d',
      'etc/preferences.d',
      'etc/sources.list.d',
    ];
    for (const d of dirs) await mkdir(join(root, d), { recursive: true });
    const sources = join(root, 'etc/sources.list');
    await writeFile(
      sources,
      `deb [signed-by=${resolve(options.keyring)}] file:${resolve(options.repoDir)} ./\n`,
    );
    const status = join(root, 'status');
    if (options.baseStatus !== undefined) await copyFile(options.baseStatus, status);
    else await writeFile(status, '');
    const apt = [
      '-q',
      '-o', `Dir::Etc::sourcelist=${sources}`,
      '-o', `Dir::Etc::sourceparts=${join(root, 'etc/sources.list.d')}`,
      '-o', `Dir::Etc::parts=${join(root, 'etc/apt.conf.d')}`,
      '-o', `Dir::Etc::preferencesparts=${join(root, 'etc/preferences.d')}`,
      '-o', `Dir::State::Lists=${join(root, 'lists')}`,
      '-o', `Dir::State::status=${status}`,
      '-o', `Dir::State::extended_states=${join(root, 'extended_states')}`,
      '-o', `Dir::Cache=${join(root, 'cache')}`,
      '-o', 'Debug::NoLocking=true',
      '-o', 'APT::Install-Recommends=false',
    ]; // prettier-ignore
    const update = await run('apt-get', [...apt, 'update']);
    if (update.code !== 0)
      throw new KctlError(
        'program_failed',
        `apt-get update on the bundle repository "${options.repoDir}" failed`,
        {
          details: { stderr: update.stderr.split('\n').slice(-10).join('\n') },
        },
      );
    const sim = await run('apt-get', [...apt, '--simulate', 'install', ...options.names]);
    if (sim.code !== 0) {
      const unmet = (sim.stdout + '\n' + sim.stderr)
        .split('\n')
        .filter((l) => /Depends:|Unable to locate|has no installation candidate|not installable/.test(l))
        .map((l) => l.trim());
      throw new KctlError(
        'invalid_args',
        `The bundle repository "${options.repoDir}" cannot install ${options.names.join(', ')} on its own: ${unmet.slice(0, 5).join('; ') || 'apt refused'}`,
        {
          details: {
            unmet,
            remedy:
              'give the missing packages with --package (their dependencies come along), or build on a machine whose apt lists match the hosts',
          },
        },
      );
    }
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}
