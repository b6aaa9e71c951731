import { gunzipSync } from 'node:zlib';
import { KctlError } from '../../proto/errors.js';
import type { Host } from '../host/host.js';
import { fetchWithHostTrust } from '../host/host-trust.js';
import type { AgentOp } from './registry.js';
import { debVersions, primaryHref, rpmVersions } from './package-index-parse.js';

/** A repository index is a few MiB at most (pkgs.k8s.io's per-minor ones are far smaller). */
const MAX_INDEX_BYTES = 64 * 1024 * 1024;
const FETCH_TIMEOUT_MS = 60_000;

const withSlash = (url: string): string => (url.endsWith('/') ? url : `${url}/`);

function gunzipIf(url: string, body: Buffer): string {
  if (url.endsWith('.gz')) return gunzipSync(body, { maxOutputLength: MAX_INDEX_BYTES }).toString('utf8');
  if (/\.(zst|xz|bz2)$/.test(url))
    throw new KctlError(
      'step_failed',
      `The package index ${url} is compressed in a format kctl does not read`,
    );
  return body.toString('utf8');
}

async function fetchText(host: Host, url: string): Promise<string> {
  const body = await fetchWithHostTrust(host, url, {
    maxBytes: MAX_INDEX_BYTES,
    timeoutMs: FETCH_TIMEOUT_MS,
  });
  return gunzipIf(url, body);
}

/** apt's flat repository: `Packages.gz` when the repository has it, else `Packages`. */
async function readDebIndex(host: Host, repoUrl: string): Promise<{ index: string; text: string }> {
  const base = withSlash(repoUrl);
  try {
    return { index: `${base}Packages.gz`, text: await fetchText(host, `${base}Packages.gz`) };
  } catch {
    return { index: `${base}Packages`, text: await fetchText(host, `${base}Packages`) };
  }
}

/** dnf's repository: repomd.xml names the primary metadata file. */
async function readRpmIndex(host: Host, repoUrl: string): Promise<{ index: string; text: string }> {
  const base = withSlash(repoUrl);
  const repomd = await fetchText(host, `${base}repodata/repomd.xml`);
  const href = primaryHref(repomd);
  if (href === undefined || href.includes('..') || /^[a-z]+:/i.test(href))
    throw new KctlError('step_failed', `${base}repodata/repomd.xml names no usable primary metadata`);
  const index = `${base}${href}`;
  return { index, text: await fetchText(host, index) };
}

/**
 * `packages.available`: reads the repository's index over HTTPS, trusting the host's CA bundle as
 * apt and dnf do, and answers the versions of the names asked for. Writes nothing.
 */
export const packagesAvailableOp: AgentOp<'packages.available'> = {
  name: 'packages.available',
  async run({ format, repoUrl, names }, { host }) {
    const { index, text } =
      format === 'deb' ? await readDebIndex(host, repoUrl) : await readRpmIndex(host, repoUrl);
    const versions = format === 'deb' ? debVersions(text, names) : rpmVersions(text, names);
    return { index, versions };
  },
};
