import { access, copyFile, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { execa } from 'execa';
import type { NodeRole } from '../../proto/checks.js';
import { BUNDLE_IMAGES_DIR, type BundleImage } from '../../proto/bundle-images.js';
import { KctlError } from '../../proto/errors.js';
import { clusterImages, registryHostOf, type ImagesSpecInput } from '../images/cluster-images.js';
import { hashFile } from './manifest.js';
import { readOciArchive } from './oci-archive.js';

/** Copies one image from a registry into an OCI archive named `ref`; `kctl bundle build` uses skopeo. */
export type CopyImage = (source: string, archive: string, ref: string) => Promise<void>;

export interface BundleImagesOptions {
  /** cluster.yaml: which images, for which roles */
  spec: ImagesSpecInput;
  /** OCI archives given on the command line; each must hold one image the cluster uses */
  archives?: readonly string[];
  /** registry the rest are copied from (host[:port], optionally /prefix), in place of each image's own */
  registry?: string;
  /** skopeo --src-cert-dir: a directory holding the registry's ca.crt */
  registryCertDir?: string;
  /** skopeo --src-tls-verify=false: an http-only (or untrusted) registry */
  registryInsecure?: boolean;
  copyImage?: CopyImage;
}

const ROLES: readonly NodeRole[] = ['control-plane', 'worker'];

/** Every image some host of the cluster runs, with the roles that run it, sorted by reference. */
export function bundleImageNeeds(spec: ImagesSpecInput): Map<string, NodeRole[]> {
  const needs = new Map<string, NodeRole[]>();
  for (const role of ROLES) {
    for (const image of clusterImages(spec, role)) {
      const roles = needs.get(image.image) ?? [];
      roles.push(role);
      needs.set(image.image, roles);
    }
  }
  return new Map([...needs.entries()].sort(([a], [b]) => a.localeCompare(b)));
}

/** Where an image is copied from: itself, or the same path below `registry`. */
export function imageSource(ref: string, registry: string | undefined): string {
  if (registry === undefined) return ref;
  const host = registryHostOf(ref);
  const path = ref.startsWith(`${host}/`) ? ref.slice(host.length + 1) : ref;
  return `${registry.replace(/\/+$/, '')}/${path}`;
}

/** `registry.k8s.io/kube-apiserver:v1.31.2` -> `images/registry.k8s.io_kube-apiserver_v1.31.2.tar` */
export function archivePathFor(ref: string): string {
  return `${BUNDLE_IMAGES_DIR}/${ref.replace(/[/:@]/g, '_')}.tar`;
}

/** skopeo copy docker://SOURCE oci-archive:ARCHIVE:REF, with the system's signature policy when it has one. */
export function skopeoCopy(options: { certDir?: string; insecure?: boolean }): CopyImage {
  return async (source, archive, ref) => {
    const policy = await access('/etc/containers/policy.json').then(
      () => undefined,
      async () => {
        // no policy on this machine: the digests land in the signed manifest, which is what hosts trust
        const dir = await mkdtemp(join(tmpdir(), 'kctl-skopeo-'));
        await writeFile(join(dir, 'policy.json'), '{"default":[{"type":"insecureAcceptAnything"}]}\n');
        return dir;
      },
    );
    try {
      const r = await execa(
        'skopeo',
        [
          ...(policy !== undefined ? ['--policy', join(policy, 'policy.json')] : []),
          'copy',
          ...(options.certDir !== undefined ? ['--src-cert-dir', options.certDir] : []),
          ...(options.insecure === true ? ['--src-tls-verify=false'] : []),
          '--',
          `docker://${source}`,
          `oci-archive:${archive}:${ref}`,
        ],
        { reject: false, all: true, timeout: 30 * 60_000 },
      );
      if (r.exitCode !== 0)
        throw new KctlError(
          'program_failed',
          `skopeo could not copy ${source}: ${(r.all ?? '').trim().split('\n').slice(-3).join(' ')}`,
          {
            details: {
              remedy:
                'give --image-registry (a registry reachable from here) or --image-archive FILE for this image',
            },
          },
        );
    } finally {
      if (policy !== undefined) await rm(policy, { recursive: true, force: true });
    }
  };
}

/**
 * `kctl bundle build --images`: DIR/images holds one OCI archive per image the cluster runs (both
 * roles), first from the archives given, the rest copied from the registry. Each archive's name and
 * digest are read back from its index.json, so the manifest lists what containerd will import.
 */
export async function addBundleImages(dir: string, options: BundleImagesOptions): Promise<BundleImage[]> {
  const needs = bundleImageNeeds(options.spec);
  const pinned = [...needs.keys()].filter((r) => r.includes('@'));
  if (pinned.length > 0)
    throw new KctlError(
      'invalid_args',
      `--images: ${pinned.join(', ')} ${pinned.length === 1 ? 'is' : 'are'} pinned by digest; the bundle carries tagged images only`,
      { details: { remedy: 'name these images by tag in images.overrides' } },
    );
  const imagesDir = join(dir, BUNDLE_IMAGES_DIR);
  await rm(imagesDir, { recursive: true, force: true });
  await mkdir(imagesDir, { recursive: true, mode: 0o755 });
  const done = new Map<string, { digest: string; archive: string }>();
  for (const file of options.archives ?? []) {
    const held = await readOciArchive(file);
    if (!needs.has(held.ref))
      throw new KctlError(
        'invalid_args',
        `--image-archive "${file}" holds ${held.ref}, which cluster.yaml does not use`,
        { details: { wanted: [...needs.keys()] } },
      );
    if (done.has(held.ref))
      throw new KctlError('invalid_args', `--image-archive "${basename(file)}": ${held.ref} is given twice`);
    const archive = archivePathFor(held.ref);
    await copyFile(file, join(dir, archive));
    done.set(held.ref, { digest: held.digest, archive });
  }
  const copy =
    options.copyImage ??
    skopeoCopy({
      ...(options.registryCertDir !== undefined ? { certDir: options.registryCertDir } : {}),
      ...(options.registryInsecure !== undefined ? { insecure: options.registryInsecure } : {}),
    });
  for (const ref of needs.keys()) {
    if (done.has(ref)) continue;
    const archive = archivePathFor(ref);
    const source = imageSource(ref, options.registry);
    await copy(source, join(dir, archive), ref);
    const held = await readOciArchive(join(dir, archive));
    if (held.ref !== ref)
      throw new KctlError('internal', `The archive copied from ${source} names ${held.ref}, not ${ref}`);
    done.set(ref, { digest: held.digest, archive });
  }
  const images: BundleImage[] = [];
  for (const [ref, roles] of needs) {
    const got = done.get(ref);
    if (!got) continue; // unreachable: every need was copied above
    const { sha256 } = await hashFile(join(dir, got.archive));
    images.push({ ref, digest: got.digest, archive: got.archive, archiveSha256: sha256, roles });
  }
  return images;
}

/** A bundle built without --images keeps no archives of an earlier build. */
export async function removeBundleImages(dir: string): Promise<void> {
  await rm(join(dir, BUNDLE_IMAGES_DIR), { recursive: true, force: true });
}

/**
 * A bundle that carries images must carry every image cluster.yaml needs: hosts load the bundle's
 * images and nothing else reaches an air-gapped site, so a stale bundle (another kubernetesVersion,
 * imageRepository or CNI) is found while planning, not by kubeadm's pull on every host. A bundle
 * without images says nothing: the images then come through the registry mirrors.
 */
export function checkBundleCarriesImages(spec: ImagesSpecInput, bundlePaths: readonly string[]): void {
  const carried = new Set(bundlePaths.filter((p) => p.startsWith(`${BUNDLE_IMAGES_DIR}/`)));
  if (carried.size === 0) return;
  const lacking = [...bundleImageNeeds(spec).keys()].filter((ref) => !carried.has(archivePathFor(ref)));
  if (lacking.length === 0) return;
  const message = `the offline bundle carries images but not ${lacking.join(', ')}`;
  throw new KctlError('invalid_spec', `kubernetesVersion: ${message}`, {
    details: {
      issues: [{ path: 'kubernetesVersion', message }],
      remedy: 'rebuild the bundle with kctl bundle build --images -f cluster.yaml',
    },
  });
}
