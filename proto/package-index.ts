import { z } from 'zod';
import { HttpsUrl } from './validators.js';

/**
 * `packages.available`: the versions a package repository offers, read by a host from the
 * repository's own index (apt's Packages, dnf's primary.xml) the way its package manager would
 * reach it. Read-only: the host's package state and apt/dnf caches are not touched, so `kctl plan`
 * can find a pinned version the repository lacks before any host is changed.
 */
export const PackagesAvailableArgs = z.strictObject({
  format: z.enum(['deb', 'rpm']),
  /** the repository as its repo file names it: the flat apt directory, or dnf's baseurl */
  repoUrl: HttpsUrl,
  names: z
    .array(z.string().regex(/^[a-z0-9][a-z0-9.+-]{0,127}$/, 'must be a package name'))
    .min(1)
    .max(16),
});
export type PackagesAvailableArgs = z.infer<typeof PackagesAvailableArgs>;

export const PackagesAvailableResult = z.strictObject({
  /** the index file read */
  index: z.string().max(4096),
  /** every version of each asked-for name: deb `1.31.3-1.1`, rpm `1.31.3-150500.1.1` */
  versions: z.record(z.string().max(128), z.array(z.string().max(128)).max(5000)),
});
export type PackagesAvailableResult = z.infer<typeof PackagesAvailableResult>;

export const PackageIndexOps = {
  'packages.available': { args: PackagesAvailableArgs, result: PackagesAvailableResult },
} as const;
