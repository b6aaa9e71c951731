import { createHash } from 'node:crypto';
import { KctlError } from '../../proto/errors.js';
import type { HostRepoKey } from '../../proto/host-spec.js';
import type { Change } from '../../proto/results.js';
import type { Host } from '../host/host.js';
import { fetchWithHostTrust } from '../host/host-trust.js';
import { armor, normalizeFingerprint, parsePublicKeys, type OpenPgpKeyring } from './repo-key-openpgp.js';
import type { Step } from './step.js';

const KEY_MODE = 0o644; // apt reads keyrings as the unprivileged _apt user

function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

/** The file content for the wanted format: binary for apt's `.gpg` keyrings, armored for rpm. */
function keyringFile(want: HostRepoKey, keys: OpenPgpKeyring): Buffer {
  return want.format === 'binary' ? keys.binary : Buffer.from(armor(keys.binary));
}

/** True when `keys` is acceptable as it stands: with a pin, exactly the pinned primary key. */
function matchesPin(want: HostRepoKey, keys: OpenPgpKeyring): boolean {
  if (want.fingerprint === undefined) return true;
  const pin = normalizeFingerprint(want.fingerprint);
  return keys.primaryFingerprints.length === 1 && keys.primaryFingerprints[0] === pin;
}

/** The keyring now on the host, or undefined when it is absent or not a public key file. */
function currentKeys(content: Buffer | undefined): OpenPgpKeyring | undefined {
  if (content === undefined) return undefined;
  try {
    return parsePublicKeys(content);
  } catch {
    return undefined;
  }
}

/** Fetches the key over HTTPS (the host's trust), checks it and returns the keyring file's content. */
async function fetchKeyring(
  host: Host,
  want: HostRepoKey,
): Promise<{ content: Buffer; fingerprints: string[] }> {
  const body = await fetchWithHostTrust(host, want.url, { maxBytes: 256 * 1024 });
  let keys: OpenPgpKeyring;
  try {
    keys = parsePublicKeys(body);
  } catch (err) {
    throw new KctlError(
      'step_failed',
      `The repository key at ${want.url} is unusable: ${(err as Error).message}`,
      {
        cause: err,
      },
    );
  }
  if (!matchesPin(want, keys)) {
    throw new KctlError(
      'step_failed',
      `The repository key at ${want.url} has fingerprint ${keys.primaryFingerprints.join(', ')}, not ${normalizeFingerprint(want.fingerprint ?? '')} as ${want.pinnedBy ?? 'the host spec'} pins; refusing to trust it`,
      {
        details: {
          field: want.pinnedBy ?? 'repoKey.fingerprint',
          fetched: keys.primaryFingerprints,
          remedy: `check the mirror, then set ${want.pinnedBy ?? 'the pin'} to the key the repository really uses`,
        },
      },
    );
  }
  return { content: keyringFile(want, keys), fingerprints: keys.primaryFingerprints };
}

/**
 * The repository signing key, the way the kubeadm install guide gets it (`curl -fsSL
 * <repo>/Release.key | gpg --dearmor -o /etc/apt/keyrings/kubernetes-apt-keyring.gpg`), without
 * curl or gpg on the host: fetched over HTTPS trusting the host's CA bundle, checked against the
 * optional fingerprint pin, written where the repo file's signed-by / gpgkey points. A keyring
 * already in place that holds a public key (the pinned one, when pinned) is kept, so a converged
 * host fetches nothing; a keyring that does not match the pin is fetched again.
 */
export function repoKeyStep(want: HostRepoKey, dependsOn: string[] = []): Step {
  /** what this step's own diff fetched, by SHA-256: apply writes exactly the planned bytes */
  const fetched = new Map<string, Buffer>();
  return {
    id: `repo-key:${want.path}`,
    title: `repository key ${want.path}`,
    dependsOn,
    async diff(host) {
      const current = await host.readFileBytes(want.path);
      const keys = currentKeys(current);
      if (current !== undefined && keys !== undefined && matchesPin(want, keys)) {
        const stat = await host.stat(want.path);
        if (stat?.mode === KEY_MODE) return [];
        return [keyChange(want, current, current, `mode ${(stat?.mode ?? 0).toString(8)} -> 644`)];
      }
      const { content, fingerprints } = await fetchKeyring(host, want);
      fetched.set(sha256(content), content);
      return [keyChange(want, current, content, `OpenPGP key ${fingerprints.join(', ')} from ${want.url}`)];
    },
    async apply(host, changes) {
      for (const c of changes) {
        if (c.kind !== 'file') continue;
        let content = fetched.get(c.nextSha256);
        if (content === undefined) {
          const current = await host.readFileBytes(want.path);
          content =
            current !== undefined && sha256(current) === c.nextSha256
              ? current
              : (await fetchKeyring(host, want)).content;
        }
        if (sha256(content) !== c.nextSha256) {
          throw new KctlError('plan_stale', `The key at ${want.url} changed since the plan was made`);
        }
        await host.writeFileAtomic(want.path, content, { mode: KEY_MODE });
      }
    },
  };
}

function keyChange(
  want: HostRepoKey,
  current: Buffer | undefined,
  next: Buffer,
  diff: string,
): Extract<Change, { kind: 'file' }> {
  return {
    kind: 'file',
    path: want.path,
    mode: KEY_MODE,
    diff,
    previousSha256: current === undefined ? null : sha256(current),
    nextSha256: sha256(next),
    sensitive: false,
  };
}
