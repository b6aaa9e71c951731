import { z } from 'zod';

/**
 * The container images a kctl cluster runs, by logical name. kubeadm's own images (control plane,
 * kube-proxy, pause, etcd, CoreDNS) are named as `kubeadm config images list` names them; kube-vip and
 * the CNI images are the ones kctl's own manifests name.
 */
export const KUBEADM_IMAGE_NAMES = [
  'kube-apiserver',
  'kube-controller-manager',
  'kube-scheduler',
  'kube-proxy',
  'pause',
  'etcd',
  'coredns',
] as const;

/** Images kctl writes into its own manifests: these can be overridden one by one in cluster.yaml. */
export const KCTL_IMAGE_NAMES = [
  'kube-vip',
  'calico-node',
  'calico-cni',
  'calico-kube-controllers',
  'flannel',
  'flannel-cni-plugin',
] as const;

export const KctlImageName = z.enum(KCTL_IMAGE_NAMES);
export type KctlImageName = z.infer<typeof KctlImageName>;
export type KubeadmImageName = (typeof KUBEADM_IMAGE_NAMES)[number];
export type ImageName = KubeadmImageName | KctlImageName;

/**
 * An image reference as containerd takes it: `[host[:port]/]path[:tag][@sha256:digest]`, lowercase
 * path, with a tag or a digest (no implicit `latest`).
 */
export const ImageReference = z
  .string()
  .max(512)
  .regex(
    /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?(:\d{1,5})?(\/[a-z0-9]+([._-][a-z0-9]+)*)+(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(@sha256:[0-9a-f]{64})?$/,
    'must be an image reference like registry.example:5000/calico/node:v3.28.2',
  )
  .refine((s) => /:[A-Za-z0-9_][A-Za-z0-9_.-]*$|@sha256:/.test(s.replace(/^[^/]*\//, '')), {
    message: 'must carry a tag or a digest',
  });

/**
 * cluster.yaml `images:`. kubeadm's images follow `imageRepository` only (kubeadm has no per-image
 * setting for the control plane), so overrides are for the images kctl deploys itself.
 */
export const ImagesSpec = z.strictObject({
  overrides: z.partialRecord(KctlImageName, ImageReference).default({}),
});
export type ImagesSpec = z.infer<typeof ImagesSpec>;

/** The versions of kubeadm's non-control-plane images for a range of patch releases of one minor. */
export interface KubeadmImageVersions {
  /** first patch release these apply to; a later entry of the same minor takes over from its own */
  fromPatch: number;
  etcd: string;
  coredns: string;
  pause: string;
}

/**
 * etcd, CoreDNS and pause as kubeadm computes them (constants.go: SupportedEtcdVersion by minor,
 * CoreDNSVersion, PauseVersion of the kubeadm release). kubeadm bumps etcd and CoreDNS in patch
 * releases, hence the ranges.
 *
 * Sources and certainty:
 * - 1.29 to 1.31: kubernetes/minikube pkg/minikube/constants/constants_kubeadm_images.go, which
 *   records `kubeadm config images list` per release (1.29.0-2 etcd 3.5.10-0, 1.29.3-8 3.5.12-0,
 *   1.29.9+ 3.5.15-0; 1.30.0-4 3.5.12-0/coredns v1.11.1, 1.30.5+ 3.5.15-0/v1.11.3; 1.31.0 coredns
 *   v1.11.1, 1.31.1+ v1.11.3).
 * - 1.32 to 1.35: kubeadm's constants at each minor's .0 release as recalled from upstream, not
 *   read from a release here; later patch releases may carry a newer etcd (kubeadm-facts notes a
 *   3.5.24-0 in one constants file). Where they differ the host pulls what its kubeadm names, and
 *   `kctl images list` is then short by that image: add an entry with its fromPatch.
 * - pause agrees with controller/render/containerd.ts PAUSE_VERSIONS (a test checks it).
 */
export const KUBEADM_IMAGE_VERSIONS: Readonly<Record<number, readonly KubeadmImageVersions[]>> = {
  29: [
    { fromPatch: 0, etcd: '3.5.10-0', coredns: 'v1.11.1', pause: '3.9' },
    { fromPatch: 3, etcd: '3.5.12-0', coredns: 'v1.11.1', pause: '3.9' },
    { fromPatch: 9, etcd: '3.5.15-0', coredns: 'v1.11.1', pause: '3.9' },
  ],
  30: [
    { fromPatch: 0, etcd: '3.5.12-0', coredns: 'v1.11.1', pause: '3.9' },
    { fromPatch: 5, etcd: '3.5.15-0', coredns: 'v1.11.3', pause: '3.9' },
  ],
  31: [
    { fromPatch: 0, etcd: '3.5.15-0', coredns: 'v1.11.1', pause: '3.10' },
    { fromPatch: 1, etcd: '3.5.15-0', coredns: 'v1.11.3', pause: '3.10' },
  ],
  32: [{ fromPatch: 0, etcd: '3.5.16-0', coredns: 'v1.11.3', pause: '3.10' }],
  33: [{ fromPatch: 0, etcd: '3.5.21-0', coredns: 'v1.12.0', pause: '3.10' }],
  34: [{ fromPatch: 0, etcd: '3.6.4-0', coredns: 'v1.12.1', pause: '3.10.1' }],
  35: [{ fromPatch: 0, etcd: '3.6.5-0', coredns: 'v1.13.1', pause: '3.10.1' }],
};

/** kubeadm's default image repository; CoreDNS sits one level deeper there (coredns/coredns). */
export const KUBEADM_DEFAULT_REPOSITORY = 'registry.k8s.io';

export const KUBE_VIP_VERSION = 'v1.2.3';
/** The CNI releases kctl's templates are written from (controller/render/cni/). */
export const CALICO_VERSION = 'v3.28.2';
export const FLANNEL_VERSION = 'v0.26.7';
export const FLANNEL_CNI_PLUGIN_VERSION = 'v1.6.2-flannel1';

/**
 * Where kctl's own images live upstream: registry host, path below it, tag. Under a private
 * `imageRepository` the path is kept below it (`<imageRepository>/calico/node:v3.28.2`), the layout
 * `skopeo copy` or a pull-through mirror gives.
 */
export const KCTL_IMAGES: Readonly<Record<KctlImageName, { registry: string; path: string; tag: string }>> = {
  'kube-vip': { registry: 'ghcr.io', path: 'kube-vip/kube-vip', tag: KUBE_VIP_VERSION },
  'calico-node': { registry: 'docker.io', path: 'calico/node', tag: CALICO_VERSION },
  'calico-cni': { registry: 'docker.io', path: 'calico/cni', tag: CALICO_VERSION },
  'calico-kube-controllers': { registry: 'docker.io', path: 'calico/kube-controllers', tag: CALICO_VERSION },
  flannel: { registry: 'ghcr.io', path: 'flannel-io/flannel', tag: FLANNEL_VERSION },
  'flannel-cni-plugin': {
    registry: 'ghcr.io',
    path: 'flannel-io/flannel-cni-plugin',
    tag: FLANNEL_CNI_PLUGIN_VERSION,
  },
};

/** One image a host runs. */
export const ClusterImage = z.strictObject({
  name: z.enum([...KUBEADM_IMAGE_NAMES, ...KCTL_IMAGE_NAMES]),
  /** the reference the host pulls or finds in containerd's k8s.io namespace */
  image: z.string(),
  /** who names it: kubeadm (from imageRepository) or kctl's manifests */
  source: z.enum(['kubeadm', 'kctl']),
  /** when cluster.yaml's images.overrides replaced the computed reference */
  overridden: z.boolean(),
  /** sha256 digest, where the reference or the source pins one */
  digest: z.string().optional(),
  /** the containerd mirrors (runtime.containerd.registryMirrors) a pull of it goes through */
  mirrors: z.array(z.string()),
});
export type ClusterImage = z.infer<typeof ClusterImage>;
