import { access, constants } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { KctlError } from '../../proto/errors.js';

/** A program the bundle builder runs on the operator's machine, and the Debian package that ships it. */
export interface BuildProgram {
  program: string;
  pkg: string;
}

export const REPO_PROGRAMS: BuildProgram[] = [
  { program: 'apt-get', pkg: 'apt' },
  { program: 'apt-ftparchive', pkg: 'apt-utils' },
  { program: 'dpkg-deb', pkg: 'dpkg' },
  { program: 'gpg', pkg: 'gnupg' },
  { program: 'gpgconf', pkg: 'gnupg' },
];

/** PATH for the builder's programs, with the sbin directories a non-login root shell may lack. */
export const BUILD_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

async function missingPrograms(programs: BuildProgram[]): Promise<BuildProgram[]> {
  const missing: BuildProgram[] = [];
  for (const p of programs) {
    let found = false;
    for (const dir of BUILD_PATH.split(':')) {
      try {
        await access(join(dir, p.program), constants.X_OK);
        found = true;
        break;
      } catch {
        // not in this directory
      }
    }
    if (!found) missing.push(p);
  }
  return missing;
}

/**
 * Makes sure the bundle builder's programs exist. As root with `installMissing`, installs their
 * Debian packages with the machine's apt first; otherwise throws naming them and the apt-get line.
 */
export async function requireBuildPrograms(
  programs: BuildProgram[],
  opts: { installMissing?: boolean } = {},
): Promise<void> {
  let missing = await missingPrograms(programs);
  const isRoot = process.getuid?.() === 0;
  if (missing.length > 0 && isRoot && opts.installMissing === true) {
    const pkgs = [...new Set(missing.map((m) => m.pkg))];
    const env = { DEBIAN_FRONTEND: 'noninteractive', PATH: BUILD_PATH };
    const install = () =>
      execa('apt-get', ['install', '-y', '-q', '--no-install-recommends', ...pkgs], { env, reject: false });
    if ((await install()).exitCode !== 0) {
      await execa('apt-get', ['update', '-q'], { env, reject: false });
      await install();
    }
    missing = await missingPrograms(programs);
  }
  if (missing.length === 0) return;
  const pkgs = [...new Set(missing.map((m) => m.pkg))];
  throw new KctlError('not_found', `building a bundle needs: ${missing.map((m) => m.program).join(', ')}`, {
    details: { remedy: `apt-get install ${pkgs.join(' ')}` },
  });
}
