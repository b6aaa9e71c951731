import { kubeadmApiVersion } from '../../proto/kube-version.js';
import { clusterConfiguration, CRI_SOCKET } from './kubeadm.js';
import type { KubeadmInput } from './types.js';
import { renderYamlDocuments } from './yaml-documents.js';

/**
 * The config for `kubeadm init phase control-plane apiserver` and `init phase upload-config kubeadm`
 * on a running control plane: InitConfiguration with only what the API server manifest takes from
 * it (node name, CRI socket, advertise address and port; no bootstrap token, no certificate key)
 * and the cluster's ClusterConfiguration. Nothing secret, so it may be journaled and shown.
 */
export function renderKubeadmApiserverConfig(input: KubeadmInput): string {
  const api = kubeadmApiVersion(input.kubernetesVersion);
  const init = {
    apiVersion: api,
    kind: 'InitConfiguration',
    nodeRegistration: { name: input.nodeName, criSocket: input.criSocket || CRI_SOCKET },
    localAPIEndpoint: {
      ...(input.advertiseAddress !== undefined ? { advertiseAddress: input.advertiseAddress } : {}),
      bindPort: input.bindPort,
    },
  };
  return renderYamlDocuments([init, clusterConfiguration(input)]);
}
