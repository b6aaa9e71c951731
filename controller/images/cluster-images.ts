import type { NodeRole } from '../../proto/checks.js';
import type { ClusterSpec } from '../../proto/cluster-spec.js';
import { KctlError } from '../../proto/errors.js';
import {
  KCTL_IMAGES,
  KUBEADM_DEFAULT_REPOSITORY,
  KUBEADM_IMAGE_VERSIONS,
  type ClusterImage,
  type KctlImageName,
  type KubeadmImageName,
  type KubeadmImageVersions,
} from '../../proto/images.js';
import { kubeVersion } from '../../proto/kube-version.js';

export type ImagesSpecInput = Pick<
  ClusterSpec,
  'kubernetesVersion' | 'imageRepository' | 'images' | 'cni' | 'ha' | 'runtime'
>;

/** etcd, CoreDNS and pause for this Kubernetes version, as its kubeadm names them. */
export function kubeadmImageVersions(kubernetesVersion: string): KubeadmImageVersions {
  const { minor, patch } = kubeVersion(kubernetesVersion);
  const ranges = KUBEADM_IMAGE_VERSIONS[minor];
  const entry = ranges?.filter((r) => r.fromPatch <= patch).at(-1);
  if (!entry)
    throw new KctlError(
      'invalid_spec',
      `kubernetesVersion: no image list is known for Kubernetes ${kubernetesVersion}`,
      { details: { known: Object.keys(KUBEADM_IMAGE_VERSIONS).map((m) => `1.${m}`) } },
    );
  return entry;
}

/** kubeadm's image references (`kubeadm config images list --kubernetes-version V --image-repository R`). */
export function kubeadmImages(
  kubernetesVersion: string,
  imageRepository: string,
): Record<KubeadmImageName, string> {
  const v = kubeVersion(kubernetesVersion);
  const o = kubeadmImageVersions(kubernetesVersion);
  // kubeadm's GetDNSImage: only the default repository keeps CoreDNS under coredns/coredns
  const dnsRepo =
    imageRepository === KUBEADM_DEFAULT_REPOSITORY ? `${imageRepository}/coredns` : imageRepository;
  return {
    'kube-apiserver': `${imageRepository}/kube-apiserver:${v.text}`,
    'kube-controller-manager': `${imageRepository}/kube-controller-manager:${v.text}`,
    'kube-scheduler': `${imageRepository}/kube-scheduler:${v.text}`,
    'kube-proxy': `${imageRepository}/kube-proxy:${v.text}`,
    pause: `${imageRepository}/pause:${o.pause}`,
    etcd: `${imageRepository}/etcd:${o.etcd}`,
    coredns: `${dnsRepo}/coredns:${o.coredns}`,
  };
}

/**
 * An image kctl deploys: its cluster.yaml override, else its upstream home while imageRepository is
 * kubeadm's default, else the upstream path below imageRepository.
 */
export function kctlImage(
  spec: Pick<ClusterSpec, 'imageRepository' | 'images'>,
  name: KctlImageName,
): string {
  const override = spec.images.overrides[name];
  if (override !== undefined) return override;
  const home = KCTL_IMAGES[name];
  const registry = spec.imageRepository === KUBEADM_DEFAULT_REPOSITORY ? home.registry : spec.imageRepository;
  return `${registry}/${home.path}:${home.tag}`;
}

/** The registry host containerd resolves a reference against (docker.io when the first part is no host). */
export function registryHostOf(image: string): string {
  const first = image.split('/')[0] ?? '';
  return image.includes('/') && (first.includes('.') || first.includes(':') || first === 'localhost')
    ? first
    : 'docker.io';
}

const CNI_IMAGES: Record<ClusterSpec['cni']['plugin'], KctlImageName[]> = {
  calico: ['calico-cni', 'calico-node', 'calico-kube-controllers'],
  flannel: ['flannel-cni-plugin', 'flannel'],
  none: [],
};

/**
 * The images a host of this role runs. Control planes: everything kubeadm's ImagePull preflight
 * pulls, kube-vip when it holds the VIP, and the CNI. Workers: kube-proxy and pause (DaemonSet and
 * sandbox), the CNI, and CoreDNS, whose Deployment may be scheduled on any node.
 */
export function clusterImages(spec: ImagesSpecInput, role: NodeRole): ClusterImage[] {
  const kubeadm = kubeadmImages(spec.kubernetesVersion, spec.imageRepository);
  const kubeadmNames: KubeadmImageName[] =
    role === 'control-plane'
      ? [
          'kube-apiserver',
          'kube-controller-manager',
          'kube-scheduler',
          'kube-proxy',
          'pause',
          'etcd',
          'coredns',
        ]
      : ['kube-proxy', 'pause', 'coredns'];
  const kctlNames: KctlImageName[] = [
    ...(role === 'control-plane' && spec.ha.mode === 'kube-vip' ? (['kube-vip'] as const) : []),
    ...CNI_IMAGES[spec.cni.plugin],
  ];
  // a user-supplied CNI manifest names its own images: kctl cannot know them
  const cniNames = spec.cni.manifest === undefined ? kctlNames : kctlNames.filter((n) => n === 'kube-vip');
  const mirrors = spec.runtime.containerd.registryMirrors;
  const entry = (
    name: ClusterImage['name'],
    image: string,
    source: ClusterImage['source'],
    overridden: boolean,
  ): ClusterImage => {
    const digest = /@(sha256:[0-9a-f]{64})$/.exec(image)?.[1];
    return {
      name,
      image,
      source,
      overridden,
      ...(digest !== undefined ? { digest } : {}),
      mirrors: mirrors[registryHostOf(image)] ?? mirrors._default ?? [],
    };
  };
  return [
    ...kubeadmNames.map((n) => entry(n, kubeadm[n], 'kubeadm', false)),
    ...cniNames.map((n) => entry(n, kctlImage(spec, n), 'kctl', spec.images.overrides[n] !== undefined)),
  ];
}

/** The logical names of every image some host of this cluster runs (both roles). */
export function clusterImageNames(spec: Pick<ClusterSpec, 'cni' | 'ha'>): ClusterImage['name'][] {
  const kctl: KctlImageName[] = [
    ...(spec.ha.mode === 'kube-vip' ? (['kube-vip'] as const) : []),
    ...(spec.cni.manifest === undefined ? CNI_IMAGES[spec.cni.plugin] : []),
  ];
  return [
    'kube-apiserver',
    'kube-controller-manager',
    'kube-scheduler',
    'kube-proxy',
    'pause',
    'etcd',
    'coredns',
    ...kctl,
  ];
}
