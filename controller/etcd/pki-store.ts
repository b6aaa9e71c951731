import { randomBytes } from 'node:crypto';
import { chmod, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { KctlError, describeZodError } from '../../proto/errors.js';
import { EtcdPki, ensureEtcdPki, type EtcdMemberIdentity } from './pki.js';

/** In the controller's data dir, beside ca.key: the etcd CA key and every member's keys. */
export const ETCD_PKI_FILE = 'etcd-pki.json';

export async function loadEtcdPki(dataDir: string): Promise<EtcdPki | undefined> {
  const file = join(dataDir, ETCD_PKI_FILE);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new KctlError('internal', `Cannot read "${file}": ${(err as Error).message}`, { cause: err });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new KctlError('internal', `"${file}" is not JSON: ${(err as Error).message}`, { cause: err });
  }
  const parsed = EtcdPki.safeParse(json);
  if (!parsed.success)
    throw new KctlError('internal', `"${file}" is not an etcd PKI: ${describeZodError(parsed.error)}`);
  return parsed.data;
}

/** Written whole (temp file, 0600, then rename), so a crash leaves the old or the new file. */
export async function saveEtcdPki(dataDir: string, pki: EtcdPki): Promise<void> {
  const file = join(dataDir, ETCD_PKI_FILE);
  const tmp = `${file}.${randomBytes(6).toString('hex')}.tmp`;
  try {
    await writeFile(tmp, JSON.stringify(pki, null, 2) + '\n', { mode: 0o600, flag: 'wx' });
    await chmod(tmp, 0o600);
    await rename(tmp, file);
  } catch (err) {
    await rm(tmp, { force: true });
    throw new KctlError('internal', `Cannot write "${file}": ${(err as Error).message}`, { cause: err });
  }
}

/**
 * The etcd PKI for these members, reusing what the data dir holds and saving what was added, so
 * the next plan renders the same keys. Callers serialize (one plan renders at a time).
 */
export async function etcdPkiFor(
  dataDir: string,
  members: readonly EtcdMemberIdentity[],
  options: { now?: number } = {},
): Promise<EtcdPki> {
  const { pki, changed } = await ensureEtcdPki(await loadEtcdPki(dataDir), members, options);
  if (changed) await saveEtcdPki(dataDir, pki);
  return pki;
}
