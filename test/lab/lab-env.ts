import { execa } from 'execa';
import { resolve } from 'node:path';
import { BOOT_PROGRAMS, checkPrograms, findProgram } from '../../lab/prereqs.js';

export const REPO = resolve(import.meta.dirname, '../..');

/** Why the lab tests cannot run here, or undefined when they can. */
export async function labSkipReason(): Promise<string | undefined> {
  const report = await checkPrograms(BOOT_PROGRAMS);
  if (!report.isRoot) return 'needs root (network namespaces, mounts, containers)';
  if (process.platform !== 'linux') return 'needs Linux';
  // as root, lab up installs what is missing with apt; without apt it cannot
  if (report.missing.length > 0 && (await findProgram('apt-get')) === undefined) {
    return `missing ${report.missing.map((m) => m.program).join(', ')} and no apt-get to install them`;
  }
  return undefined;
}

/** `kctl ...` in a new process, as an operator would run it. */
export async function kctl(args: string[]) {
  return execa(resolve(REPO, 'node_modules/.bin/tsx'), [resolve(REPO, 'controller/cli/kctl.ts'), ...args], {
    cwd: REPO,
    reject: false,
    timeout: 300_000,
  });
}
