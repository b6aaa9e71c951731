import { createHash } from 'node:crypto';
import {
  BUNDLE_APT_KEYRING,
  BUNDLE_HOST_DIR,
  BUNDLE_KEYRING_PATH,
  BundleManifest,
  manifestSignatureValid,
} from '../../proto/bundle.js';
import { KctlError, describeZodError } from '../../proto/errors.js';
import type { Change } from '../../proto/results.js';
import type { Host } from '../host/host.js';
import type { BundleSource } from './bundle-fetch.js';
import type { Step } from './step.js';

export const BUNDLE_SYNC_STEP_ID = 'bundle-sync';
export const KEYRING_DIFF = '(binary apt keyring, from the verified offline bundle)';

type BundleFileChange = Extract<Change, { kind: 'bundle-file' }>;
type FileChange = Extract<Change, { kind: 'file' }>;

/** The manifest, only once its signature verifies against the pinned CA (S18). */
export async function verifiedManifest(source: BundleSource): Promise<BundleManifest> {
  const signed = await source.manifest();
  if (!manifestSignatureValid(signed.manifest, signed.signature, source.caPem())) {
    throw new KctlError(
      'step_failed',
      'The offline bundle manifest from the controller has a bad signature: it does not verify against the pinned controller CA; nothing was changed',
      {
        details: {
          remedy: 'check that the agent talks to its own controller and that the bundle was not altered',
        },
      },
    );
  }
  let data: unknown;
  try {
    data = JSON.parse(signed.manifest);
  } catch {
    throw new KctlError('step_failed', 'The offline bundle manifest is signed but is not JSON');
  }
  const parsed = BundleManifest.safeParse(data);
  if (!parsed.success)
    throw new KctlError(
      'step_failed',
      `The offline bundle manifest: ${describeZodError(parsed.error, 'manifest')}`,
    );
  return parsed.data;
}

/** Every non-directory entry below `dir`, as host paths; symlinks are listed, never followed. */
async function listTree(host: Host, dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const name of await host.listDir(dir)) {
    const path = `${dir}/${name}`;
    const s = await host.stat(path);
    if (s?.isDirectory) out.push(...(await listTree(host, path)));
    else if (s) out.push(path);
  }
  return out;
}

const hostPathOf = (bundlePath: string): string => `${BUNDLE_HOST_DIR}/${bundlePath}`;

/**
 * Keeps /var/lib/kctl/bundle equal to the controller's offline bundle: the manifest's signature is
 * checked against the pinned CA, a file is downloaded when it is missing or its SHA-256 differs,
 * checked again as it streams in and renamed into place only when it matches (a bad download
 * leaves the previous copy), files the manifest no longer lists are removed, and the repository's
 * keyring is installed for apt. A second run finds nothing to do.
 */
export function bundleSyncStep(source: BundleSource | undefined): Step {
  const need = (): BundleSource => {
    if (source) return source;
    throw new KctlError(
      'step_failed',
      'The offline bundle cannot be synced: this agent has no controller connection for it',
    );
  };
  return {
    id: BUNDLE_SYNC_STEP_ID,
    title: 'offline bundle',
    dependsOn: [],
    async diff(host) {
      const manifest = await verifiedManifest(need());
      const changes: Change[] = [];
      for (const f of manifest.files) {
        const path = hostPathOf(f.path);
        const now = await host.hashFile(path);
        if (now === undefined || now.size !== f.size || now.sha256 !== f.sha256) {
          changes.push({
            kind: 'bundle-file',
            path,
            action: 'download',
            sha256: f.sha256,
            size: f.size,
            reason: now === undefined ? 'missing' : 'differs',
          });
        }
      }
      const wanted = new Set(manifest.files.map((f) => hostPathOf(f.path)));
      for (const path of await listTree(host, BUNDLE_HOST_DIR)) {
        if (!wanted.has(path))
          changes.push({
            kind: 'bundle-file',
            path,
            action: 'remove',
            sha256: null,
            size: null,
            reason: 'not in the manifest',
          });
      }
      const keyring = manifest.files.find((f) => f.path === BUNDLE_KEYRING_PATH);
      if (keyring) {
        const now = await host.hashFile(BUNDLE_APT_KEYRING);
        const mode = (await host.stat(BUNDLE_APT_KEYRING))?.mode;
        if (now?.sha256 !== keyring.sha256 || mode !== 0o644) {
          changes.push({
            kind: 'file',
            path: BUNDLE_APT_KEYRING,
            mode: 0o644,
            diff: KEYRING_DIFF,
            previousSha256: now?.sha256 ?? null,
            nextSha256: keyring.sha256,
            sensitive: false,
          });
        }
      }
      return changes;
    },
    async apply(host, changes) {
      const bundle = changes.filter((c): c is BundleFileChange => c.kind === 'bundle-file');
      for (const c of bundle) {
        if (c.action !== 'download' || c.sha256 === null || c.size === null) continue;
        const rel = c.path.slice(BUNDLE_HOST_DIR.length + 1);
        if (!c.path.startsWith(`${BUNDLE_HOST_DIR}/`))
          throw new KctlError('plan_stale', `"${c.path}" is not inside ${BUNDLE_HOST_DIR}`);
        await host.writeFileFromStream(c.path, await need().file(rel), {
          sha256: c.sha256,
          size: c.size,
          mode: 0o644,
        });
      }
      for (const c of bundle) if (c.action === 'remove') await host.removeFile(c.path);
      for (const c of changes) {
        if (c.kind !== 'file' || c.path !== BUNDLE_APT_KEYRING) continue;
        await installKeyring(host, c);
      }
    },
  };
}

/** Copies the synced keyring to /etc/apt/keyrings, only when it is the one the signed manifest names. */
async function installKeyring(host: Host, change: FileChange): Promise<void> {
  const source = hostPathOf(BUNDLE_KEYRING_PATH);
  const bytes = await host.readFileBytes(source);
  if (bytes === undefined || createHash('sha256').update(bytes).digest('hex') !== change.nextSha256) {
    throw new KctlError(
      'step_failed',
      `"${source}" does not match the signed manifest; the apt keyring is not installed`,
    );
  }
  await host.writeFileAtomic(BUNDLE_APT_KEYRING, bytes, { mode: 0o644 });
}
