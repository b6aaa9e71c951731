import type { ClusterSpec } from '../../proto/cluster-spec.js';
import type { HostFile } from '../../proto/host-spec.js';
import { KctlError } from '../../proto/errors.js';
import { kubeVersion } from './kube-version.js';

export const PKGS_K8S_IO = 'https://pkgs.k8s.io';
export const KUBERNETES_APT_KEYRING = '/etc/apt/keyrings/kubernetes-apt-keyring.gpg';
export const KUBERNETES_APT_LIST = '/etc/apt/sources.list.d/kubernetes.list';
export const KUBERNETES_YUM_REPO = '/etc/yum.repos.d/kubernetes.repo';
/** The yum/dnf repo id: installs need `--disableexcludes=kubernetes`. */
export const KUBERNETES_YUM_REPO_ID = 'kubernetes';
/** Where the controller serves the offline bundle's flat apt repo and its rpm repo. */
export const BUNDLE_APT_PATH = '/bundle/apt';
export const BUNDLE_RPM_PATH = '/bundle/rpm';
export const BUNDLE_APT_KEYRING = '/etc/apt/keyrings/kctl-bundle-keyring.gpg';
/** The packages kctl pins and holds; cri-tools and kubernetes-cni follow as dependencies. */
export const KUBERNETES_PACKAGES = ['kubelet', 'kubeadm', 'kubectl'] as const;
/** Excluded from yum/dnf updates so only a deliberate upgrade moves them. */
const YUM_EXCLUDES = 'kubelet kubeadm kubectl cri-tools kubernetes-cni';

export type PackageFormat = 'deb' | 'rpm';

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

export interface PackageSourceInput {
  packages: ClusterSpec['packages'];
  kubernetesVersion: string;
  /** https://host:port of the controller; needed for the `bundle` source */
  controllerUrl?: string | undefined;
}

/** One repository per minor on pkgs.k8s.io (or a mirror of it): `<base>/core:/stable:/v1.31`. */
export function kubernetesRepoBase(
  input: Pick<PackageSourceInput, 'packages' | 'kubernetesVersion'>,
): string {
  const { minor } = kubeVersion(input.kubernetesVersion);
  const base = input.packages.source === 'mirror' ? input.packages.url.replace(/\/+$/, '') : PKGS_K8S_IO;
  return `${base}/core:/stable:/v1.${minor}`;
}

function controllerBase(input: PackageSourceInput): string {
  if (input.controllerUrl === undefined || !/^https:\/\/[^\s/]+$/.test(input.controllerUrl)) {
    throw new KctlError(
      'invalid_args',
      'The bundle package source needs the controller URL as https://host:port',
    );
  }
  return input.controllerUrl;
}

/** The key apt's keyring is made from (`gpg --dearmor`); the same key signs every minor's repo. */
export function kubernetesAptKeyUrl(
  input: Pick<PackageSourceInput, 'packages' | 'kubernetesVersion'>,
): string {
  return `${kubernetesRepoBase(input)}/deb/Release.key`;
}

/** /etc/apt/sources.list.d/kubernetes.list. pkgs.k8s.io repos are flat: suite `/`, no component. */
export function renderAptSource(input: PackageSourceInput): string {
  if (input.packages.source === 'bundle') {
    return `deb [signed-by=${BUNDLE_APT_KEYRING}] ${controllerBase(input)}${BUNDLE_APT_PATH} ./\n`;
  }
  return `deb [signed-by=${KUBERNETES_APT_KEYRING}] ${kubernetesRepoBase(input)}/deb/ /\n`;
}

/** /etc/yum.repos.d/kubernetes.repo with the Kubernetes packages excluded from ordinary updates. */
export function renderYumRepo(input: PackageSourceInput): string {
  const { minor } = kubeVersion(input.kubernetesVersion);
  const baseurl =
    input.packages.source === 'bundle'
      ? `${controllerBase(input)}${BUNDLE_RPM_PATH}/`
      : `${kubernetesRepoBase(input)}/rpm/`;
  return [
    `[${KUBERNETES_YUM_REPO_ID}]`,
    `name=Kubernetes v1.${minor}`,
    `baseurl=${baseurl}`,
    'enabled=1',
    'gpgcheck=1',
    `gpgkey=${baseurl}repodata/repomd.xml.key`,
    `exclude=${YUM_EXCLUDES}`,
    '',
  ].join('\n');
}

/**
 * A Kubernetes package version in its repository's format: deb `1.31.2-1.1` (the OBS revision
 * pkgs.k8s.io builds carry), rpm `1.31.2` (dnf resolves the release).
 */
export function kubernetesPackageVersion(
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
  const version = kubernetesPackageVersion(kubernetesVersion, format);
  return KUBERNETES_PACKAGES.map((name) => ({ name, version, hold: true }));
}

/** The repository file for this host's package format. */
export function packageRepoFile(input: PackageSourceInput, format: PackageFormat): HostFile {
  return format === 'deb'
    ? { path: KUBERNETES_APT_LIST, content: renderAptSource(input), mode: 0o644, sensitive: false }
    : { path: KUBERNETES_YUM_REPO, content: renderYumRepo(input), mode: 0o644, sensitive: false };
}
