import { access, constants } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { KctlError } from '../proto/errors.js';

/** A program the lab runs, and the Debian package that ships it. */
export interface LabProgram {
  program: string;
  pkg: string;
}

export const BOOT_PROGRAMS: LabProgram[] = [
  { program: 'systemd-nspawn', pkg: 'systemd-container' },
  { program: 'ip', pkg: 'iproute2' },
  { program: 'nsenter', pkg: 'util-linux' },
  { program: 'mount', pkg: 'mount' },
  { program: 'umount', pkg: 'mount' },
];
export const ROOTFS_PROGRAMS: LabProgram[] = [{ program: 'mmdebstrap', pkg: 'mmdebstrap' }];

/** PATH plus the sbin directories a non-login root shell may lack. */
export const LAB_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

export async function findProgram(
  name: string,
  path = `${process.env.PATH ?? ''}:${LAB_PATH}`,
): Promise<string | undefined> {
  for (const dir of path.split(':')) {
    if (dir === '') continue;
    const candidate = join(dir, name);
    try {
      await access(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not in this directory
    }
  }
  return undefined;
}

export interface PrereqReport {
  isRoot: boolean;
  missing: LabProgram[];
}

export async function checkPrograms(programs: LabProgram[]): Promise<PrereqReport> {
  const missing: LabProgram[] = [];
  for (const p of programs) if ((await findProgram(p.program)) === undefined) missing.push(p);
  return { isRoot: process.getuid?.() === 0, missing };
}

/** The message and remedy when the lab cannot run here (pure, for the CLI and tests). */
export function describeMissing(report: PrereqReport): { message: string; remedy: string } | undefined {
  const pkgs = [...new Set(report.missing.map((m) => m.pkg))];
  const parts: string[] = [];
  if (!report.isRoot)
    parts.push('it must run as root (it creates network namespaces, mounts and containers)');
  if (pkgs.length > 0) parts.push(`missing programs: ${report.missing.map((m) => m.program).join(', ')}`);
  if (parts.length === 0) return undefined;
  const install = pkgs.length > 0 ? `apt-get install ${pkgs.join(' ')}` : '';
  const remedy = report.isRoot
    ? install
    : `run as root (sudo)${install !== '' ? ` after: sudo ${install}` : ''}`;
  return { message: `The fleet lab cannot run here: ${parts.join('; ')}`, remedy };
}

/**
 * Makes sure the programs exist. As root with `installMissing`, installs their Debian packages
 * with the machine's apt; otherwise throws a KctlError that says what is missing and how to install it.
 */
export async function requirePrograms(
  programs: LabProgram[],
  opts: { installMissing?: boolean } = {},
): Promise<void> {
  let report = await checkPrograms(programs);
  if (report.isRoot && report.missing.length > 0 && opts.installMissing === true) {
    const pkgs = [...new Set(report.missing.map((m) => m.pkg))];
    const env = { DEBIAN_FRONTEND: 'noninteractive', PATH: LAB_PATH };
    const install = () =>
      execa('apt-get', ['install', '-y', '-q', '--no-install-recommends', ...pkgs], { env, reject: false });
    if ((await install()).exitCode !== 0) {
      await execa('apt-get', ['update', '-q'], { env, reject: false });
      await install();
    }
    report = await checkPrograms(programs);
  }
  const problem = describeMissing(report);
  if (problem) throw new KctlError('not_found', problem.message, { details: { remedy: problem.remedy } });
}
