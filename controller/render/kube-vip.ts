import { isIP } from 'node:net';
import { KctlError } from '../../proto/errors.js';
import { KCTL_IMAGES, KUBE_VIP_VERSION } from '../../proto/images.js';
import { kubeVersion } from '../../proto/kube-version.js';
import type { KubeVipInput } from './types.js';
import { renderYamlDocuments } from './yaml-documents.js';

export { KUBE_VIP_VERSION };
/** Upstream's image; a cluster's own (imageRepository, images.overrides) comes in as input.image. */
export const KUBE_VIP_IMAGE = `${KCTL_IMAGES['kube-vip'].registry}/${KCTL_IMAGES['kube-vip'].path}:${KUBE_VIP_VERSION}`;
/** Not a name kubeadm's FileAvailable checks look at (kube-apiserver.yaml, etcd.yaml, ...). */
export const KUBE_VIP_MANIFEST_PATH = '/etc/kubernetes/manifests/kube-vip.yaml';
export const ADMIN_CONF = '/etc/kubernetes/admin.conf';
export const SUPER_ADMIN_CONF = '/etc/kubernetes/super-admin.conf';

const SUPER_ADMIN_FROM_MINOR = 29;

/**
 * Which kubeconfig kube-vip reads. From 1.29, admin.conf only gets its rights through a binding
 * that `kubeadm init` creates over the API, which needs the VIP kube-vip has not announced yet; so
 * the control plane that runs init uses super-admin.conf (kube-vip#684). Joining control planes
 * have no super-admin.conf and use admin.conf.
 */
export function kubeVipKubeconfig(kubernetesVersion: string, runsInit: boolean): string {
  return runsInit && kubeVersion(kubernetesVersion).minor >= SUPER_ADMIN_FROM_MINOR
    ? SUPER_ADMIN_CONF
    : ADMIN_CONF;
}

function env(name: string, value: string): { name: string; value: string } {
  return { name, value };
}

/**
 * The static pod `kube-vip manifest pod --interface I --address VIP --controlplane --arp
 * --leaderElection` emits at v1.2.x (kubeadm-facts §5.2), env vars in its order.
 */
export function renderKubeVipManifest(input: KubeVipInput): string {
  const family = isIP(input.vip);
  if (family === 0)
    throw new KctlError('invalid_spec', `The kube-vip VIP "${input.vip}" is not an IP address`);
  if (!Number.isInteger(input.port) || input.port < 1 || input.port > 65535)
    throw new KctlError('invalid_spec', `The kube-vip port ${input.port} is not a TCP port`);
  const pod = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'kube-vip', namespace: 'kube-system' },
    spec: {
      containers: [
        {
          name: 'kube-vip',
          image: input.image ?? KUBE_VIP_IMAGE,
          imagePullPolicy: 'IfNotPresent',
          args: ['manager'],
          env: [
            env('vip_arp', 'true'),
            env('port', String(input.port)),
            { name: 'vip_nodename', valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } },
            env('vip_interface', input.interface),
            env('vip_subnet', family === 4 ? '32' : '128'),
            env('dns_mode', 'first'),
            env('cp_enable', 'true'),
            env('cp_namespace', 'kube-system'),
            env('vip_leaderelection', 'true'),
            env('vip_leasename', 'plndr-cp-lock'),
            // kube-vip >= v1.1.0 defaults, matching client-go
            env('vip_leaseduration', '15'),
            env('vip_renewdeadline', '10'),
            env('vip_retryperiod', '2'),
            env('address', input.vip),
            env('prometheus_server', ':2112'),
          ],
          securityContext: { capabilities: { add: ['NET_ADMIN', 'NET_RAW'], drop: ['ALL'] } },
          // the hostPath varies (super-admin.conf on the init node); kube-vip always reads this path
          volumeMounts: [{ name: 'kubeconfig', mountPath: ADMIN_CONF }],
        },
      ],
      // with cp_enable kube-vip talks to kubernetes:<port>, the local API server, before the VIP exists
      hostAliases: [{ ip: '127.0.0.1', hostnames: ['kubernetes'] }],
      hostNetwork: true,
      volumes: [
        {
          name: 'kubeconfig',
          hostPath: { path: kubeVipKubeconfig(input.kubernetesVersion, input.firstControlPlane) },
        },
      ],
    },
  };
  return renderYamlDocuments([pod]);
}
