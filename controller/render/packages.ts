import type { HostFile, HostRepoKey } from '../../proto/host-spec.js';
import { KEY_FINGERPRINT_FIELD } from '../../proto/cluster-spec.js';
import { KctlError } from '../../proto/errors.js';
import { BUNDLE_APT_HOST_DIR, BUNDLE_APT_KEYRING, BUNDLE_RPM_HOST_DIR } from '../../proto/bundle.js';
import { kubeVersion } from '../../proto/kube-version.js';
import type { PackageFormat, PackageRepoInput } from './types.js';

export type { PackageFormat, PackageRepoInput, PackageSource } from './types.js';

export const PKGS_K8S_IO = 'https://pkgs.k8s.io';
export const KUBERNETES_APT_KEYRING = '/etc/apt/keyrings/kubernetes-apt-keyring.gpg';
export const KUBERNETES_APT_LIST = '/etc/apt/sources.list.d/kubernetes.list';
export const KUBERNETES_YUM_REPO = '/etc/yum.repos.d/kubernetes.repo';
/** The rpm repo's key, armored, fetched by the agent; the repo file's gpgkey points at it. */
export const KUBERNETES_RPM_KEY = '/etc/pki/rpm-gpg/RPM-GPG-KEY-kubernetes';
/** The yum/dnf repo id: installs need `--disableexcludes=kubernetes`. */
export const KUBERNETES_YUM_REPO_ID = 'kubernetes';
/**
 * The offline bundle's flat apt repository as the host sees it: the bundle-sync step copies it from
 * the controller (signed manifest, every SHA-256 checked) to this directory, so apt reads a local
 * `file:` source, never the network, and needs no client certificate.
 */
export const BUNDLE_APT_SOURCE_URL = `file:${BUNDLE_APT_HOST_DIR}`;
export { BUNDLE_APT_KEYRING };
/** The packages kctl pins and holds; cri-tools and kubernetes-cni follow as dependencies. */
export const KUBERNETES_PACKAGES = ['kubelet', 'kubeadm', 'kubectl'] as const;
/** Excluded from yum/dnf updates so only a deliberate upgrade moves them. */
const YUM_EXCLUDES = 'kubelet kubeadm kubectl cri-tools kubernetes-cni';

const DEB_FAMILY = new Set(['debian', 'ubuntu', 'raspbian', 'linuxmint', 'pop', 'devuan']);
const RPM_FAMILY = new Set([
  'rhel',
  'centos',
  'rocky',
  'almalinux',
  'fedora',
  'ol',
  'amzn',
  'opensuse-leap',
  'sles',
]);

/** The package format for an os-release ID (HostFacts.os.id), or undefined when kctl does not know it. */
export function packageFormatFor(osId: string): PackageFormat | undefined {
  if (DEB_FAMILY.has(osId)) return 'deb';
  if (RPM_FAMILY.has(osId)) return 'rpm';
  return undefined;
}

/** A URL that goes into a repo file line as is: one token, http(s). */
function requireUrl(url: string, what: string): string {
  const ok = /^https?:\/\/\S+$/.test(url);
  if (!ok) throw new KctlError('invalid_args', `The ${what} "${url}" is not an http(s) URL`);
  return url;
}

/** One repository per minor on pkgs.k8s.io (or a mirror of it): `<base>/core:/stable:/v1.31`. */
export function kubernetesRepoBase(input: PackageRepoInput): string {
  const { minor } = kubeVersion(input.kubernetesVersion);
  const base =
    input.source.kind === 'mirror'
      ? requireUrl(input.source.baseUrl, 'package mirror').replace(/\/+$/, '')
      : PKGS_K8S_IO;
  return `${base}/core:/stable:/v1.${minor}`;
}

/** The key apt's keyring is made from (`gpg --dearmor`); the same key signs every minor's repo. */
export function kubernetesAptKeyUrl(input: PackageRepoInput): string {
  return `${kubernetesRepoBase(input)}/deb/Release.key`;
}

/** The key dnf/rpm check packages with: served next to the rpm repo's metadata. */
export function kubernetesRpmKeyUrl(input: PackageRepoInput): string {
  return `${kubernetesRepoBase(input)}/rpm/repodata/repomd.xml.key`;
}

/**
 * The repository signing key the agent fetches for an upstream or mirror source, as the kubeadm
 * guide does (`curl <repo>/Release.key | gpg --dearmor -o <keyring>`): binary for apt's signed-by
 * (every apt reads it, while `.asc` keyrings need apt >= 1.4), armored for rpm's gpgkey. The
 * bundle brings its own keyring; `fingerprint`, when given, is the only key the hosts accept.
 */
export function kubernetesRepoKey(
  input: PackageRepoInput,
  format: PackageFormat,
  fingerprint?: string,
): HostRepoKey | undefined {
  if (input.source.kind === 'bundle') return undefined;
  const url = format === 'deb' ? kubernetesAptKeyUrl(input) : kubernetesRpmKeyUrl(input);
  if (!url.startsWith('https://'))
    throw new KctlError('invalid_args', `The repository key URL "${url}" is not an https URL`);
  const pin = fingerprint === undefined ? {} : { fingerprint, pinnedBy: KEY_FINGERPRINT_FIELD };
  return format === 'deb'
    ? { url, path: KUBERNETES_APT_KEYRING, format: 'binary', ...pin }
    : { url, path: KUBERNETES_RPM_KEY, format: 'armored', ...pin };
}

/**
 * /etc/apt/sources.list.d/kubernetes.list. pkgs.k8s.io repos are flat: suite `/`, no component;
 * the bundle is a flat repo too, at `./` below its local directory.
 */
export function renderAptSource(input: PackageRepoInput): string {
  if (input.source.kind === 'bundle') {
    return `deb [signed-by=${BUNDLE_APT_KEYRING}] ${BUNDLE_APT_SOURCE_URL} ./\n`;
  }
  return `deb [signed-by=${KUBERNETES_APT_KEYRING}] ${kubernetesRepoBase(input)}/deb/ /\n`;
}

/** /etc/yum.repos.d/kubernetes.repo with the Kubernetes packages excluded from ordinary updates. */
export function renderYumRepo(input: PackageRepoInput): string {
  const { minor } = kubeVersion(input.kubernetesVersion);
  if (input.source.kind === 'bundle') return renderBundleYumRepo(minor);
  const baseurl = `${kubernetesRepoBase(input)}/rpm/`;
  return [
    `[${KUBERNETES_YUM_REPO_ID}]`,
    `name=Kubernetes v1.${minor}`,
    `baseurl=${baseurl}`,
    'enabled=1',
    'gpgcheck=1',
    // the key the agent fetched and checked against the pin, not one dnf would fetch unchecked
    `gpgkey=file://${KUBERNETES_RPM_KEY}`,
    `exclude=${YUM_EXCLUDES}`,
    '',
  ].join('\n');
}

/**
 * The offline bundle's rpm repository, synced by the agent to BUNDLE_RPM_HOST_DIR. No gpgcheck:
 * the bundle's packages and metadata are trusted because the manifest listing their SHA-256 is
 * signed by the controller CA the agent pinned, and bundle-sync checks every file against it
 * before dnf reads any (the apt part gets its keyring from the same bundle, so it trusts nothing
 * more). Operators' own signed rpms keep their signatures; dnf just does not need a key for them.
 * metadata_expire=0: a re-synced bundle is read at once, and a local read costs nothing.
 */
function renderBundleYumRepo(minor: number): string {
  return [
    `[${KUBERNETES_YUM_REPO_ID}]`,
    `name=Kubernetes v1.${minor} (kctl offline bundle)`,
    `baseurl=file://${BUNDLE_RPM_HOST_DIR}`,
    'enabled=1',
    'gpgcheck=0',
    'repo_gpgcheck=0',
    'metadata_expire=0',
    `exclude=${YUM_EXCLUDES}`,
    '',
  ].join('\n');
}

/**
 * A Kubernetes package version in its repository's format: deb `1.31.2-1.1` (the OBS revision
 * pkgs.k8s.io builds carry), rpm `1.31.2` (dnf resolves the release, e.g. -150500.1.1).
 */
export function kubePackageVersion(
  kubernetesVersion: string,
  format: PackageFormat,
  debRevision = '1.1',
): string {
  const v = kubeVersion(kubernetesVersion);
  const plain = `1.${v.minor}.${v.patch}`;
  return format === 'deb' ? `${plain}-${debRevision}` : plain;
}

/** kubelet, kubeadm and kubectl at the cluster's version, held. */
export function kubernetesPackages(
  kubernetesVersion: string,
  format: PackageFormat,
): Array<{ name: string; version: string; hold: boolean }> {
  const version = kubePackageVersion(kubernetesVersion, format);
  return KUBERNETES_PACKAGES.map((name) => ({ name, version, hold: true }));
}

/** The repository file for this host's package format. */
export function packageRepoFile(input: PackageRepoInput, format: PackageFormat): HostFile {
  return format === 'deb'
    ? { path: KUBERNETES_APT_LIST, content: renderAptSource(input), mode: 0o644, sensitive: false }
    : { path: KUBERNETES_YUM_REPO, content: renderYumRepo(input), mode: 0o644, sensitive: false };
}
