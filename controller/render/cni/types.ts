/** What kctl's CNI templates are rendered from (mapped from cluster.yaml in cni-inputs.ts). */
export interface CniInput {
  /** networking.podSubnet: the pool pods get addresses from */
  podSubnet: string;
  /** cni.mtu: the pod interface MTU; the plugin detects it when absent */
  mtu?: number | undefined;
}

export interface CalicoInput extends CniInput {
  /** cni.calico.ipAutodetectionMethod, e.g. first-found, interface=eth0, can-reach=198.18.0.1 */
  ipAutodetectionMethod: string;
  images: { node: string; cni: string; kubeControllers: string };
}

export interface FlannelInput extends CniInput {
  images: { flannel: string; cniPlugin: string };
}
