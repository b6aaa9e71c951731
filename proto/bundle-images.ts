import { z } from 'zod';
import { NodeRole } from './checks.js';
import { ImageReference } from './images.js';

/**
 * Container images in the offline bundle (issue 14): each one an OCI archive (`skopeo copy ...
 * oci-archive:`) under `images/`, listed in the signed manifest with the digest containerd records
 * for it once imported and the archive's SHA-256, and the roles whose hosts load it.
 */

/** Where the archives live inside the bundle. */
export const BUNDLE_IMAGES_DIR = 'images';
/** containerd's namespace for the images the kubelet (CRI) sees. */
export const CONTAINERD_K8S_NAMESPACE = 'k8s.io';
export const MAX_BUNDLE_IMAGES = 256;

const Sha256Hex = z.string().regex(/^[0-9a-f]{64}$/, 'must be 64 lowercase hex characters');
export const ImageDigest = z.string().regex(/^sha256:[0-9a-f]{64}$/, 'must be sha256:<64 hex>');

export const BundleImage = z.strictObject({
  /** the reference containerd stores the image under (the archive's ref.name annotation) */
  ref: ImageReference,
  /** digest of the archive's manifest (or index): the target `ctr images ls` shows after import */
  digest: ImageDigest,
  /** bundle path of the OCI archive, also listed in the manifest's files */
  archive: z
    .string()
    .max(1024)
    .regex(/^images\/[A-Za-z0-9][A-Za-z0-9._+-]{0,254}$/, 'must be a file directly below images/'),
  archiveSha256: Sha256Hex,
  /** the roles whose hosts load it into containerd */
  roles: z.array(NodeRole).min(1).max(NodeRole.options.length),
});
export type BundleImage = z.infer<typeof BundleImage>;

export const BundleImages = z
  .array(BundleImage)
  .max(MAX_BUNDLE_IMAGES)
  .refine((list) => new Set(list.map((i) => i.ref)).size === list.length, 'image refs must be unique');

/** One image a host's containerd lacks (or holds at another digest): imported from the synced bundle. */
export const ImageChange = z.strictObject({
  kind: z.literal('image'),
  ref: ImageReference,
  digest: ImageDigest,
  /** the digest containerd holds now under this ref; null when absent */
  from: ImageDigest.nullable(),
  archive: z.string().max(1024),
  archiveSha256: Sha256Hex,
  reason: z.enum(['missing', 'differs', 'containerd not running']),
});
export type ImageChange = z.infer<typeof ImageChange>;

/** The images of the bundle a host of `role` loads, sorted by ref. */
export function bundleImagesFor(images: readonly BundleImage[] | undefined, role: string): BundleImage[] {
  return (images ?? [])
    .filter((i) => (i.roles as readonly string[]).includes(role))
    .sort((a, b) => a.ref.localeCompare(b.ref));
}

/**
 * `ctr -n k8s.io images ls` output -> ref -> target digest. Columns are REF TYPE DIGEST SIZE
 * PLATFORMS LABELS, whitespace-separated (no column holds a space before DIGEST).
 */
export function parseCtrImages(stdout: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of stdout.split('\n')) {
    const [ref, , digest] = line.trim().split(/\s+/);
    if (ref === undefined || ref === 'REF' || digest === undefined) continue;
    if (/^sha256:[0-9a-f]{64}$/.test(digest)) out.set(ref, digest);
  }
  return out;
}

/** Each image's archive must be a listed file with the same SHA-256; the problems, as sentences. */
export function imageArchiveProblems(
  images: readonly BundleImage[],
  files: ReadonlyArray<{ path: string; sha256: string }>,
): string[] {
  const byPath = new Map(files.map((f) => [f.path, f.sha256]));
  const problems: string[] = [];
  for (const i of images) {
    const sha = byPath.get(i.archive);
    if (sha === undefined) problems.push(`image ${i.ref}: its archive "${i.archive}" is not a listed file`);
    else if (sha !== i.archiveSha256)
      problems.push(
        `image ${i.ref}: archive "${i.archive}" has sha256 ${sha} in files, ${i.archiveSha256} in images`,
      );
  }
  return problems;
}
