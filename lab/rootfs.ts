import { createHash } from 'node:crypto';
import { mkdir, readFile, rename, rm, symlink, writeFile, readdir, lstat } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { z } from 'zod';
import { KctlError } from '../proto/errors.js';
import { readMachineDistroSources, renderOneLineSource, type AptSource } from './apt-sources.js';
import { LAB_PATH, ROOTFS_PROGRAMS, requirePrograms } from './prereqs.js';

/**
 * The lab's Debian base root filesystem, built once with mmdebstrap from the machine's own apt
 * sources and cached under a key of everything that shapes it. Hosts never write to it: each host
 * gets an overlay (or a copy) on top, so the cached tree stays the same for every later lab.
 */

/** What a lab host needs to boot, run cloud-init and install packages with apt. */
export const BASE_PACKAGES = [
  'systemd',
  'systemd-sysv',
  'dbus',
  'libpam-systemd',
  'cloud-init',
  'ca-certificates',
  'iproute2',
  'curl',
  'gpgv',
  'procps',
  'iputils-ping',
] as const;

/** Bump when customizeBaseRootfs changes, so old caches are not reused. */
const CUSTOMIZE_VERSION = 2;
export const DEFAULT_CACHE_DIR = '/var/cache/kctl/lab';
const MARKER = '.kctl-base.json';

/** The cloud-init system config every lab host gets: only the NoCloud seed is looked at. */
export const LAB_CLOUD_CFG = [
  '# kctl lab: hosts are seeded through /var/lib/cloud/seed/nocloud only',
  'datasource_list: [ NoCloud, None ]',
  '# C.UTF-8 is built into glibc; the default en_US.UTF-8 needs the locales package',
  'locale: C.UTF-8',
  '# no OpenSSH in the lab (no SSH anywhere): do not try to make host keys',
  'ssh_genkeytypes: []',
  '',
].join('\n');

const BaseMarker = z.strictObject({
  key: z.string(),
  suite: z.string(),
  packages: z.array(z.string()),
  sources: z.array(z.string()),
  builtAt: z.string(),
  buildMs: z.number(),
});
export type BaseMarker = z.infer<typeof BaseMarker>;

export interface BaseRootfsInput {
  suite: string;
  sources: string[];
  packages: string[];
  arch: string;
}

/** Same input, same key: the package list, the sources, the architecture and our customization. */
export function baseRootfsKey(input: BaseRootfsInput): string {
  const canonical = JSON.stringify({
    v: CUSTOMIZE_VERSION,
    suite: input.suite,
    sources: [...input.sources].sort(),
    packages: [...new Set(input.packages)].sort(),
    arch: input.arch,
  });
  return createHash('sha256').update(canonical).digest('hex').slice(0, 16);
}

/** mmdebstrap's argv: apt variant plus our packages, one source line per suite. */
export function mmdebstrapArgs(input: BaseRootfsInput, target: string): string[] {
  return [
    '--mode=root',
    '--format=directory',
    '--variant=apt',
    `--architectures=${input.arch}`,
    `--include=${[...new Set(input.packages)].sort().join(',')}`,
    input.suite,
    target,
    ...input.sources,
  ];
}

export interface EnsureBaseRootfsOptions {
  cacheDir?: string;
  /** more packages on top of BASE_PACKAGES (changes the cache key) */
  extraPackages?: string[];
  /** install mmdebstrap with apt when it is missing (as root); default true */
  installMissing?: boolean;
  /** test seam: the machine's /etc */
  etc?: string;
  log?: (msg: string) => void;
}

export interface BaseRootfs {
  path: string;
  key: string;
  /** false when it came from the cache */
  built: boolean;
  marker: BaseMarker;
}

async function dpkgArch(): Promise<string> {
  const { stdout } = await execa('dpkg', ['--print-architecture'], { env: { PATH: LAB_PATH } });
  return stdout.trim();
}

async function readMarker(dir: string): Promise<BaseMarker | undefined> {
  try {
    return BaseMarker.parse(JSON.parse(await readFile(join(dir, MARKER), 'utf8')));
  } catch {
    return undefined;
  }
}

/** Returns the cached base root filesystem for this input, building it first when there is none. */
export async function ensureBaseRootfs(opts: EnsureBaseRootfsOptions = {}): Promise<BaseRootfs> {
  const cacheDir = opts.cacheDir ?? DEFAULT_CACHE_DIR;
  const { codename, sources } = await readMachineDistroSources(opts.etc);
  const input: BaseRootfsInput = {
    suite: codename,
    sources: sources.map((s: AptSource) => renderOneLineSource(s)),
    packages: [...BASE_PACKAGES, ...(opts.extraPackages ?? [])],
    arch: await dpkgArch(),
  };
  const key = baseRootfsKey(input);
  const path = join(cacheDir, `base-${key}`);
  const cached = await readMarker(path);
  if (cached?.key === key) return { path, key, built: false, marker: cached };

  await requirePrograms(ROOTFS_PROGRAMS, { installMissing: opts.installMissing ?? true });
  await mkdir(cacheDir, { recursive: true, mode: 0o755 });
  const tmp = join(cacheDir, `.building-${key}-${process.pid}`);
  await rm(tmp, { recursive: true, force: true });
  const started = Date.now();
  opts.log?.(`building the lab base root filesystem ${key} with mmdebstrap (${codename})`);
  const run = await execa('mmdebstrap', mmdebstrapArgs(input, tmp), {
    env: { PATH: LAB_PATH, LANG: 'C.UTF-8' },
    extendEnv: false,
    reject: false,
    all: true,
  });
  if (run.exitCode !== 0) {
    await rm(tmp, { recursive: true, force: true });
    throw new KctlError(
      'program_failed',
      `mmdebstrap could not build the lab base root filesystem in "${tmp}"`,
      {
        details: { exitCode: run.exitCode, output: run.all.split('\n').slice(-20).join('\n') },
      },
    );
  }
  await customizeBaseRootfs(tmp);
  const marker: BaseMarker = {
    key,
    suite: codename,
    packages: [...new Set(input.packages)].sort(),
    sources: input.sources,
    builtAt: new Date().toISOString(),
    buildMs: Date.now() - started,
  };
  await writeFile(join(tmp, MARKER), `${JSON.stringify(marker, null, 2)}\n`);
  await rm(path, { recursive: true, force: true });
  await rename(tmp, path);
  return { path, key, built: true, marker };
}

async function removeIfPresent(path: string): Promise<void> {
  await rm(path, { force: true, recursive: true });
}

/**
 * Makes the tree a template: no identity (empty machine-id, no hostname, no SSH host keys), no
 * sources pointing off the machine (hosts install only from the bundle repo), no apt timers that
 * would try the network, and cloud-init told to read only the NoCloud seed.
 */
export async function customizeBaseRootfs(root: string): Promise<void> {
  await writeFile(join(root, 'etc/machine-id'), '');
  await removeIfPresent(join(root, 'var/lib/dbus/machine-id'));
  await symlink('/etc/machine-id', join(root, 'var/lib/dbus/machine-id'));
  await removeIfPresent(join(root, 'etc/hostname'));
  await writeFile(
    join(root, 'etc/apt/sources.list'),
    '# kctl lab hosts are offline: apt sources come from the kctl bundle repo (sources.list.d)\n',
  );
  const listDir = join(root, 'etc/apt/sources.list.d');
  for (const name of await readdir(listDir).catch(() => [] as string[]))
    await removeIfPresent(join(listDir, name));
  await writeFile(join(root, 'etc/resolv.conf'), '# kctl lab hosts have no DNS\n');
  await mkdir(join(root, 'etc/cloud/cloud.cfg.d'), { recursive: true });
  await writeFile(join(root, 'etc/cloud/cloud.cfg.d/90-kctl-lab.cfg'), LAB_CLOUD_CFG);
  // cloud-init renders network-config for systemd-networkd, which Debian leaves disabled
  const enable = await execa('chroot', [root, 'systemctl', 'enable', 'systemd-networkd.service'], {
    env: { PATH: LAB_PATH },
    reject: false,
  });
  if (enable.exitCode !== 0) {
    throw new KctlError(
      'program_failed',
      `Cannot enable systemd-networkd in "${root}": ${enable.stderr.trim()}`,
    );
  }
  for (const unit of ['apt-daily.timer', 'apt-daily-upgrade.timer']) {
    const link = join(root, 'etc/systemd/system', unit);
    const st = await lstat(link).catch(() => undefined);
    if (st) await rm(link);
    await symlink('/dev/null', link);
  }
}
