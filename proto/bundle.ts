import { createPublicKey, verify, X509Certificate } from 'node:crypto';
import { z } from 'zod';
import { BundleImages } from './bundle-images.js';

/**
 * The offline bundle (issue 4, S18): a directory of packages with a SHA-256 manifest. The
 * controller signs the manifest's exact bytes with its CA key; agents verify that signature with
 * the CA they pinned at enrolment, then every file's SHA-256 before it is put in place.
 */

export const BUNDLE_API_VERSION = 'kctl.dev/v1alpha1';
/** Where agents keep the synced bundle; apt reads its flat repository from `apt/` below it. */
export const BUNDLE_HOST_DIR = '/var/lib/kctl/bundle';
/** The bundle's apt repository, as a local source on the host (apt never talks to the network). */
export const BUNDLE_APT_HOST_DIR = `${BUNDLE_HOST_DIR}/apt`;
/** The bundle's yum/dnf repository (kctl bundle build --format rpm): a `file://` baseurl for dnf. */
export const BUNDLE_RPM_HOST_DIR = `${BUNDLE_HOST_DIR}/rpm`;
/** Where apt finds the bundle repository's key (`signed-by=` in the bundle's sources line). */
export const BUNDLE_APT_KEYRING = '/etc/apt/keyrings/kctl-bundle.gpg';
/** The repository's binary keyring inside the bundle (made by buildOfflineAptRepo). */
export const BUNDLE_KEYRING_PATH = 'apt/kctl-bundle.gpg';
export const MAX_BUNDLE_FILES = 10_000;
export const MAX_BUNDLE_FILE_BYTES = 4 * 1024 ** 3;
/**
 * Signed bytes = this prefix + the manifest text. The CA key also signs certificates; the prefix
 * keeps a manifest signature from ever meaning anything else.
 */
export const MANIFEST_SIGNATURE_CONTEXT = 'kctl.dev bundle manifest v1\0';

/** One path segment: no dot files (no `.`, `..`, or the agent's `.name.kctl-tmp-*` temp files). */
const SEGMENT = /^[A-Za-z0-9_+~%:@=-][A-Za-z0-9._+~%:@=-]{0,254}$/;

/** Why a bundle-relative path is refused, or undefined when it is a plain relative posix path. */
export function bundlePathProblem(path: string): string | undefined {
  if (path.length === 0 || path.length > 1024) return 'must be 1 to 1024 characters';
  if (path.startsWith('/')) return 'must be relative';
  if (path.includes('\\') || path.includes('\0')) return 'must be a posix path';
  for (const seg of path.split('/')) {
    if (seg === '..' || seg === '.') return 'must not contain "." or ".." segments';
    if (!SEGMENT.test(seg)) return `segment "${seg}" must be a plain file name (no leading dot)`;
  }
  return undefined;
}

export const BundlePath = z.string().superRefine((p, ctx) => {
  const problem = bundlePathProblem(p);
  if (problem !== undefined) ctx.addIssue({ code: 'custom', message: problem });
});

export const BundleFile = z.strictObject({
  path: BundlePath,
  sha256: z.string().regex(/^[0-9a-f]{64}$/, 'must be 64 lowercase hex characters'),
  size: z.number().int().min(0).max(MAX_BUNDLE_FILE_BYTES),
});
export type BundleFile = z.infer<typeof BundleFile>;

export const BundleManifest = z
  .strictObject({
    apiVersion: z.literal(BUNDLE_API_VERSION),
    kind: z.literal('BundleManifest'),
    createdAt: z.iso.datetime(),
    files: z.array(BundleFile).max(MAX_BUNDLE_FILES),
    /** container images as OCI archives (proto/bundle-images.ts); absent: the bundle carries none */
    images: BundleImages.optional(),
  })
  .superRefine((m, ctx) => {
    const paths = new Set(m.files.map((f) => f.path));
    if (paths.size !== m.files.length)
      ctx.addIssue({ code: 'custom', path: ['files'], message: 'paths must be unique' });
    // a file cannot also be a directory of another entry
    m.files.forEach((f, i) => {
      const parts = f.path.split('/');
      for (let n = 1; n < parts.length; n++) {
        if (paths.has(parts.slice(0, n).join('/'))) {
          ctx.addIssue({
            code: 'custom',
            path: ['files', i, 'path'],
            message: `"${f.path}" lies below "${parts.slice(0, n).join('/')}", which is a file`,
          });
        }
      }
    });
  });
export type BundleManifest = z.infer<typeof BundleManifest>;

/**
 * GET /v1/bundle/manifest. `manifest` is the manifest.json text exactly as signed (the agent
 * verifies these bytes, then parses them); `signature` is base64 DER ECDSA-SHA256 by the CA key
 * over MANIFEST_SIGNATURE_CONTEXT + manifest.
 */
export const SignedBundleManifest = z.strictObject({
  manifest: z.string().max(4 * 1024 * 1024),
  signature: z.string().regex(/^[A-Za-z0-9+/]{1,1024}={0,2}$/, 'must be base64'),
});
export type SignedBundleManifest = z.infer<typeof SignedBundleManifest>;

export function manifestSignedBytes(manifest: string): Buffer {
  return Buffer.concat([Buffer.from(MANIFEST_SIGNATURE_CONTEXT, 'utf8'), Buffer.from(manifest, 'utf8')]);
}

/** True when `signature` is the CA's signature over the manifest text. Never throws on bad input. */
export function manifestSignatureValid(manifest: string, signature: string, caPem: string): boolean {
  try {
    const key = createPublicKey(new X509Certificate(caPem).publicKey.export({ type: 'spki', format: 'pem' }));
    return verify('sha256', manifestSignedBytes(manifest), key, Buffer.from(signature, 'base64'));
  } catch {
    return false;
  }
}

/** The URL path of one bundle file: each segment percent-encoded, so `%` in a name stays a name. */
export function bundleFileUrlPath(path: string): string {
  return `/v1/bundle/files/${path.split('/').map(encodeURIComponent).join('/')}`;
}
