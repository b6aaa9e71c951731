import { mkdir, readFile, readdir, rm } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import { KctlError } from '../../proto/errors.js';
import type { BundleManifest } from '../../proto/bundle.js';
import type { BundleImage } from '../../proto/bundle-images.js';
import {
  DEFAULT_REPO_PACKAGES,
  buildOfflineAptRepo,
  type OfflineAptRepo,
  type RepoPackage,
} from './offline-repo.js';
import { bundlePackageTargets, verifyAptClosure } from './closure.js';
import { MANIFEST_FILE, writeManifest } from './manifest.js';
import { addBundleImages, removeBundleImages, type BundleImagesOptions } from './images.js';
import { BUNDLE_RPM_DIR, RPM_REPO_PROGRAMS, buildBundleRpmRepo, rpmFields } from './rpm-repo.js';
import { requireBuildPrograms } from './build-programs.js';
import { checkBuildCovers, debNamesAndVersions, installedIn } from './bundle-needs.js';
import type { ClusterSpec } from '../../proto/cluster-spec.js';

/** deb: DIR/apt for Debian/Ubuntu hosts; rpm: DIR/rpm for dnf hosts (EL, Fedora). */
export type BundleFormat = 'deb' | 'rpm';
export const BUNDLE_FORMATS: readonly BundleFormat[] = ['deb', 'rpm'];

export interface BuildBundleOptions {
  outDir: string;
  /** which repositories the bundle holds; default deb only */
  formats?: readonly BundleFormat[];
  /** rpm: the .rpm files of DIR/rpm (kubeadm, kubelet, kubectl, cri-tools, kubernetes-cni, containerd, runc) */
  rpms?: string[];
  /** fetched with their dependencies by this machine's apt; buildOfflineAptRepo's default when absent */
  packages?: string[];
  /** more .deb files (e.g. kubeadm, kubelet, kubectl) */
  debs?: string[];
  /** a root filesystem whose installed packages need not be fetched */
  baseRootfs?: string;
  installMissing?: boolean;
  now?: Date;
  /** --images: the cluster's images as OCI archives (controller/bundle/images.ts) */
  images?: BundleImagesOptions;
  /** -f cluster.yaml: refuse, before fetching anything, inputs that leave out what its hosts install */
  cluster?: { spec: ClusterSpec; file: string };
}

export interface BuiltBundle {
  dir: string;
  manifest: BundleManifest;
  /** the apt repository's packages (none without deb) */
  packages: RepoPackage[];
  /** the rpm repository's packages (none without rpm) */
  rpmPackages: RepoPackage[];
  /** the apt repository's key; undefined without deb */
  fingerprint: string | undefined;
  images: BundleImage[];
}

/**
 * `kctl bundle build`: DIR/apt is the signed flat apt repository (buildOfflineAptRepo), DIR/rpm
 * (--format rpm) a createrepo_c repository for dnf hosts (rpm-repo.ts), and DIR/manifest.json lists every file under DIR with its SHA-256 and size. Other files an operator
 * put in DIR (binaries) are listed too. A non-empty DIR that is not a bundle is refused, so a
 * mistyped --out cannot sweep unrelated files into a bundle.
 */
export async function buildBundle(options: BuildBundleOptions): Promise<BuiltBundle> {
  const dir = resolve(options.outDir);
  const entries = await readdir(dir).catch(() => undefined);
  if (entries && entries.length > 0 && !entries.includes(MANIFEST_FILE)) {
    throw new KctlError('invalid_args', `--out "${dir}" is not empty and holds no ${MANIFEST_FILE}`, {
      details: { remedy: 'use an empty or new directory, or one made by kctl bundle build' },
    });
  }
  const formats = new Set<BundleFormat>(options.formats ?? ['deb']);
  if (formats.size === 0) throw new KctlError('invalid_args', '--format names no package format');
  // the extra .debs' Depends (kubelet: iptables, conntrack, ...) are fetched too (closure.ts)
  const targets = formats.has('deb')
    ? await bundlePackageTargets(options.packages ?? DEFAULT_REPO_PACKAGES, options.debs ?? [])
    : [];
  if (options.cluster) await checkInputsCover(options, [...formats], targets, options.cluster);
  await mkdir(dir, { recursive: true, mode: 0o755 });
  await rm(join(dir, MANIFEST_FILE), { force: true });
  const apt = formats.has('deb') ? await buildAptPart(dir, options, targets) : undefined;
  if (!apt) await rm(join(dir, 'apt'), { recursive: true, force: true });
  const rpmPackages = formats.has('rpm')
    ? await buildBundleRpmRepo({
        outDir: join(dir, BUNDLE_RPM_DIR),
        rpms: options.rpms ?? [],
        ...(options.installMissing !== undefined ? { installMissing: options.installMissing } : {}),
      })
    : [];
  if (!formats.has('rpm')) await rm(join(dir, BUNDLE_RPM_DIR), { recursive: true, force: true });
  const images = options.images ? await addBundleImages(dir, options.images) : undefined;
  if (!images) await removeBundleImages(dir);
  const manifest = await writeManifest(dir, options.now, images);
  return {
    dir,
    manifest,
    packages: apt?.packages ?? [],
    rpmPackages,
    fingerprint: apt?.fingerprint,
    images: images ?? [],
  };
}

/** The -f cluster.yaml check, on the inputs' own control data, before anything is fetched or written. */
async function checkInputsCover(
  options: BuildBundleOptions,
  formats: BundleFormat[],
  fetched: readonly string[],
  cluster: { spec: ClusterSpec; file: string },
): Promise<void> {
  const rpms: Array<{ name: string; version: string }> = [];
  if (formats.includes('rpm') && (options.rpms ?? []).length > 0) {
    await requireBuildPrograms(RPM_REPO_PROGRAMS, { installMissing: options.installMissing ?? true });
    for (const f of options.rpms ?? []) rpms.push(await rpmFields(f));
  }
  const installed =
    options.baseRootfs === undefined
      ? undefined
      : installedIn(await readFile(join(options.baseRootfs, 'var/lib/dpkg/status'), 'utf8'));
  checkBuildCovers(cluster.spec, cluster.file, {
    formats,
    fetched,
    debs: formats.includes('deb') ? await debNamesAndVersions(options.debs ?? []) : [],
    rpms,
    ...(installed ? { installed } : {}),
  });
}

/** DIR/apt with the dependency closure of what was asked for, refused when it cannot install on its own. */
async function buildAptPart(
  dir: string,
  options: BuildBundleOptions,
  packages: string[],
): Promise<OfflineAptRepo> {
  const repo = await buildOfflineAptRepo({
    outDir: join(dir, 'apt'),
    packages,
    ...(options.debs !== undefined ? { extraDebs: options.debs } : {}),
    ...(options.baseRootfs !== undefined ? { baseRootfs: options.baseRootfs } : {}),
    ...(options.installMissing !== undefined ? { installMissing: options.installMissing } : {}),
  });
  const extraFiles = new Set((options.debs ?? []).map((d) => basename(d)));
  await verifyAptClosure({
    repoDir: repo.dir,
    keyring: repo.keyringPath,
    // what was asked for and every extra .deb (kubeadm, kubelet, kubectl ...) installs from the bundle alone
    names: [
      ...new Set([
        ...packages,
        ...repo.packages.filter((p) => extraFiles.has(basename(p.file))).map((p) => p.name),
      ]),
    ],
    baseStatus:
      options.baseRootfs !== undefined ? join(options.baseRootfs, 'var/lib/dpkg/status') : undefined,
  });
  return repo;
}
