import type { TrustedCertificate } from '../../proto/host-spec.js';
import type { Change } from '../../proto/results.js';
import { KctlError } from '../../proto/errors.js';
import type { Host } from '../host/host.js';
import type { Step } from './step.js';
import { applyFileChange, fileChange } from './file.js';

export const TRUST_STORE_STEP_ID = 'trust-store';

/** Where a distribution keeps local CA anchors, the fixed program that rebuilds its bundle, and the bundle. */
export interface TrustStoreLayout {
  program: 'update-ca-certificates' | 'update-ca-trust';
  args: readonly string[];
  anchorsDir: string;
  bundle: string;
}

export const DEBIAN_TRUST_STORE: TrustStoreLayout = {
  program: 'update-ca-certificates',
  args: [],
  anchorsDir: '/usr/local/share/ca-certificates',
  bundle: '/etc/ssl/certs/ca-certificates.crt',
};

export const EL_TRUST_STORE: TrustStoreLayout = {
  program: 'update-ca-trust',
  args: ['extract'],
  anchorsDir: '/etc/pki/ca-trust/source/anchors',
  bundle: '/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem',
};

/** The layout of the refresh program the host has: Debian's ca-certificates, else EL's. */
export async function trustStoreLayout(host: Host): Promise<TrustStoreLayout> {
  for (const layout of [DEBIAN_TRUST_STORE, EL_TRUST_STORE])
    if ((await host.which(layout.program)) !== undefined) return layout;
  throw new KctlError(
    'step_failed',
    'Cannot add CA certificates to the trust store: neither update-ca-certificates nor update-ca-trust is installed',
    { details: { remedy: 'install the ca-certificates package (Debian/Ubuntu and EL both name it so)' } },
  );
}

export function anchorPath(layout: TrustStoreLayout, name: string): string {
  return `${layout.anchorsDir}/kctl-${name}.crt`;
}

/**
 * The certificates of a PEM text as their base64 DER, whitespace removed: the same certificate in
 * the bundle that update-ca-certificates concatenates and the one p11-kit re-encodes compares equal.
 */
export function pemBodies(text: string): string[] {
  const re = /-----BEGIN CERTIFICATE-----([A-Za-z0-9+/=\s]+)-----END CERTIFICATE-----/g;
  return [...text.matchAll(re)].map((m) => (m[1] ?? '').replace(/\s+/g, ''));
}

/**
 * The host's trust store holds these CAs: one anchor file each (kctl-<name>.crt) and, whenever an
 * anchor changed or the generated bundle lacks one of them, the distribution's refresh program runs.
 * Reading the bundle makes a refresh that failed half-way pending again on the next run.
 */
export function trustStoreStep(certificates: readonly TrustedCertificate[], dependsOn: string[] = []): Step {
  const want = (layout: TrustStoreLayout): Map<string, string> =>
    new Map(certificates.map((c) => [anchorPath(layout, c.name), c.pem]));
  return {
    id: TRUST_STORE_STEP_ID,
    title: `CA certificates in the host's trust store (${certificates.map((c) => c.name).join(', ')})`,
    dependsOn,
    async diff(host) {
      const layout = await trustStoreLayout(host);
      const changes: Change[] = [];
      for (const [path, content] of want(layout)) {
        const c = await fileChange(host, { path, content, mode: 0o644 });
        if (c) changes.push(c);
      }
      const have = new Set(pemBodies((await host.readFile(layout.bundle)) ?? ''));
      const missing = certificates.filter((c) => pemBodies(c.pem).some((b) => !have.has(b)));
      if (changes.length > 0 || missing.length > 0) {
        const reason =
          missing.length > 0
            ? `${layout.bundle} lacks ${missing.map((c) => `kctl-${c.name}.crt`).join(', ')}`
            : `anchors in ${layout.anchorsDir} changed`;
        changes.push({ kind: 'trust-store', program: layout.program, reason });
      }
      return changes;
    },
    async apply(host, changes) {
      const layout = await trustStoreLayout(host);
      const contents = want(layout);
      for (const c of changes) {
        if (c.kind !== 'file') continue;
        const content = contents.get(c.path);
        if (content === undefined)
          throw new KctlError('plan_stale', `"${c.path}" is not an anchor of this trust store`);
        await applyFileChange(host, c, content);
      }
      // after every anchor is written: one refresh sees them all
      if (changes.some((c) => c.kind === 'trust-store'))
        await host.run(layout.program, layout.args, { timeoutMs: 120_000 });
    },
  };
}
