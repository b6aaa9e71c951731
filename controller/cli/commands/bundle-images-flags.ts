import type { Command } from 'commander';
import { KctlError } from '../../../proto/errors.js';
import type { BundleImagesOptions } from '../../bundle/images.js';
import { loadClusterFile } from '../cluster-file.js';
import { collect } from '../controller-cmd.js';

/** `kctl bundle build`'s image flags, as commander parses them. */
export interface ImageFlags {
  images: boolean;
  file?: string;
  imageArchive: string[];
  imageRegistry?: string;
  imageRegistryCertDir?: string;
  imageRegistryInsecure: boolean;
}

export function withImageOptions(cmd: Command): Command {
  return cmd
    .option('--images', 'add every image cluster.yaml needs (all roles) as OCI archives', false)
    .option(
      '-f, --file <cluster.yaml>',
      "the cluster spec: the build is refused when its inputs leave out a package the cluster's hosts install (and --images adds its images)",
    )
    .option(
      '--image-archive <file>',
      'OCI archive (skopeo oci-archive) of one image (repeatable)',
      collect,
      [],
    )
    .option(
      '--image-registry <host[:port][/prefix]>',
      'copy the images no --image-archive gives from here, at their own paths (default: their own registry)',
    )
    .option(
      '--image-registry-cert-dir <dir>',
      "directory holding the registry's ca.crt (skopeo --src-cert-dir)",
    )
    .option(
      '--image-registry-insecure',
      'the registry speaks plain http or has an untrusted certificate',
      false,
    );
}

/** The images part of a bundle build, or undefined without --images; the image flags need --images. */
export async function imagesOptionsFrom(flags: ImageFlags): Promise<BundleImagesOptions | undefined> {
  if (!flags.images) {
    const stray = [
      flags.imageArchive.length > 0 ? '--image-archive' : undefined,
      flags.imageRegistry !== undefined ? '--image-registry' : undefined,
    ].filter((f) => f !== undefined);
    if (stray.length > 0) throw new KctlError('invalid_args', `${stray.join(' and ')} need --images`);
    return undefined;
  }
  if (flags.file === undefined)
    throw new KctlError(
      'invalid_args',
      '--images needs -f cluster.yaml: the images follow its versions and imageRepository',
    );
  const { spec } = await loadClusterFile(flags.file);
  return {
    spec,
    archives: flags.imageArchive,
    ...(flags.imageRegistry !== undefined ? { registry: flags.imageRegistry } : {}),
    ...(flags.imageRegistryCertDir !== undefined ? { registryCertDir: flags.imageRegistryCertDir } : {}),
    registryInsecure: flags.imageRegistryInsecure,
  };
}
