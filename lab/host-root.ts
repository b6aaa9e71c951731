import { randomBytes } from 'node:crypto';
import { chmod, mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { KctlError } from '../proto/errors.js';
import { LAB_PATH } from './prereqs.js';
import type { LabSeed } from './seed.js';

/**
 * A host's root directory on top of the cached base. `overlay` (default) mounts an overlayfs whose
 * lower layer is the base: a host costs only what it writes. `copy` duplicates the base with
 * `cp --reflink=auto -a` (a real copy on ext4; near-free on btrfs/xfs with reflinks).
 */
export type LabStorage = 'overlay' | 'copy';

export interface HostRootPaths {
  hostDir: string;
  root: string;
  upper: string;
  work: string;
}

export function hostRootPaths(labDir: string, name: string, storage: LabStorage): HostRootPaths {
  const hostDir = join(labDir, 'hosts', name);
  return {
    hostDir,
    root: storage === 'overlay' ? join(hostDir, 'merged') : join(hostDir, 'root'),
    upper: join(hostDir, 'upper'),
    work: join(hostDir, 'work'),
  };
}

export async function prepareHostRoot(
  base: string,
  paths: HostRootPaths,
  storage: LabStorage,
): Promise<void> {
  const env = { PATH: LAB_PATH };
  await mkdir(paths.hostDir, { recursive: true, mode: 0o700 });
  if (storage === 'copy') {
    const r = await execa('cp', ['--reflink=auto', '-a', '--', base, paths.root], { env, reject: false });
    if (r.exitCode !== 0)
      throw new KctlError('io_error', `Cannot copy the lab base to "${paths.root}": ${r.stderr}`);
    return;
  }
  for (const d of [paths.upper, paths.work, paths.root]) await mkdir(d, { recursive: true });
  // commas and colons would break the option string; our paths never have them, but say so if they do
  for (const p of [base, paths.upper, paths.work]) {
    if (/[,:]/.test(p))
      throw new KctlError('invalid_args', `overlay path "${p}" must not contain ',' or ':'`);
  }
  const r = await execa(
    'mount',
    [
      '-t',
      'overlay',
      'overlay',
      '-o',
      `lowerdir=${base},upperdir=${paths.upper},workdir=${paths.work}`,
      paths.root,
    ],
    { env, reject: false },
  );
  if (r.exitCode !== 0) {
    throw new KctlError('io_error', `Cannot mount the overlay for "${paths.root}": ${r.stderr.trim()}`, {
      details: { remedy: 'use --storage copy if this kernel or filesystem has no overlayfs' },
    });
  }
}

export function newMachineId(): string {
  return randomBytes(16).toString('hex');
}

export const NOCLOUD_SEED_DIR = 'var/lib/cloud/seed/nocloud';

export const LAB_RESOLV_CONF =
  '# kctl lab: no DNS. A nameserver line as every host has; nothing listens on this one.\nnameserver 127.0.0.1\n';

/**
 * Identity and seed: hostname, a fresh machine-id (written, so the host has it from its first
 * boot and the lab can tell it), and the NoCloud seed files, root-only (user-data may hold a token).
 */
export async function writeHostIdentity(
  root: string,
  identity: { name: string; machineId: string },
  seed: Required<LabSeed>,
): Promise<void> {
  await writeFile(join(root, 'etc/hostname'), `${identity.name}\n`);
  await writeFile(join(root, 'etc/machine-id'), `${identity.machineId}\n`, { mode: 0o444 });
  await writeFile(
    join(root, 'etc/hosts'),
    `127.0.0.1\tlocalhost\n127.0.1.1\t${identity.name}\n::1\tlocalhost ip6-localhost ip6-loopback\n`,
  );
  // hosts and programs (kubelet, kctl's preflight) expect a nameserver line; the lab has no DNS:
  // the host's own loopback, where nothing listens, so a lookup fails at once and stays in the host
  await rm(join(root, 'etc/resolv.conf'), { force: true });
  await writeFile(join(root, 'etc/resolv.conf'), LAB_RESOLV_CONF);
  const seedDir = join(root, NOCLOUD_SEED_DIR);
  await rm(seedDir, { recursive: true, force: true });
  await mkdir(seedDir, { recursive: true, mode: 0o700 });
  await chmod(seedDir, 0o700);
  await writeFile(join(seedDir, 'user-data'), seed.userData, { mode: 0o600 });
  await writeFile(join(seedDir, 'meta-data'), seed.metaData, { mode: 0o600 });
  await writeFile(join(seedDir, 'network-config'), seed.networkConfig, { mode: 0o600 });
}

/** A directory of this machine shown inside every host (e.g. state shared by the hosts). */
export interface LabBind {
  /** absolute path on this machine */
  source: string;
  /** absolute path inside the host */
  target: string;
  readOnly?: boolean;
}

function bindArg(b: LabBind): string {
  for (const p of [b.source, b.target]) {
    // nspawn splits the option on ':'; a relative path would be resolved against nspawn's cwd
    if (!p.startsWith('/') || p.includes(':') || p.includes(','))
      throw new KctlError('invalid_args', `lab bind path "${p}" must be absolute, without ':' or ','`);
  }
  return `--bind${b.readOnly === true ? '-ro' : ''}=${b.source}:${b.target}`;
}

/**
 * systemd-nspawn's environment. `/proc/sys/net` writable: the network namespace is the host's own,
 * and a real host sets its own net sysctls (kubeadm needs net.ipv4.ip_forward=1). nspawn makes
 * it writable only for its own --private-network, not for --network-namespace-path.
 */
export const NSPAWN_ENV: Readonly<Record<string, string>> = { SYSTEMD_NSPAWN_API_VFS_WRITABLE: 'network' };

/** systemd-nspawn's argv for one host (pure, tested). */
export function nspawnArgs(h: {
  name: string;
  root: string;
  netnsPath: string;
  capabilities: string[];
  binds?: LabBind[];
}): string[] {
  return [
    '--quiet',
    '--boot',
    // PID 1 here may not be systemd: no machined registration, no transient scope
    '--keep-unit',
    '--register=no',
    `--machine=${h.name}`,
    `--hostname=${h.name}`,
    `--directory=${h.root}`,
    `--network-namespace-path=${h.netnsPath}`,
    '--link-journal=no',
    '--resolv-conf=off',
    '--timezone=off',
    '--console=read-only',
    // the namespace is the host's own: let its systemd-networkd configure eth0
    ...h.capabilities.map((c) => `--capability=${c}`),
    ...(h.binds ?? []).map(bindArg),
  ];
}
