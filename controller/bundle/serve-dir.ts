import { join, resolve } from 'node:path';
import { KctlError } from '../../proto/errors.js';
import { readManifest } from './manifest.js';

export const DEFAULT_BUNDLE_SUBDIR = 'bundle';

/**
 * The bundle directory `controller run` serves: --bundle DIR (which must hold a valid manifest, or
 * the controller does not start), else <data-dir>/bundle when it holds one, else none.
 */
export async function resolveBundleDir(
  explicit: string | undefined,
  dataDir: string,
): Promise<string | undefined> {
  if (explicit !== undefined) {
    const dir = resolve(explicit);
    await readManifest(dir).catch((err: unknown) => {
      throw new KctlError('invalid_config', `--bundle ${dir}: ${(err as Error).message}`, { cause: err });
    });
    return dir;
  }
  const dir = join(dataDir, DEFAULT_BUNDLE_SUBDIR);
  return (await readManifest(dir).then(
    () => true,
    () => false,
  ))
    ? dir
    : undefined;
}
