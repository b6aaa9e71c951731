import { isIP } from 'node:net';
import { FLANNEL_VERSION } from '../../../proto/images.js';
import { renderManifestDocuments } from './manifest-yaml.js';
import type { FlannelInput } from './types.js';

const NAMESPACE = 'kube-flannel';
const labels = { app: 'flannel', 'k8s-app': 'flannel', tier: 'node' };

/**
 * flannel as its kube-flannel.yml at FLANNEL_VERSION (vxlan backend): net-conf.json's Network is the
 * podSubnet (IPv6Network for an IPv6 one). flannel sizes its vxlan device from the host interface;
 * a cni.mtu goes into the CNI delegate, which the flannel CNI plugin then uses for the pod veths.
 */
export function renderFlannelManifest(input: FlannelInput): string {
  const v6 = isIP(input.podSubnet.split('/')[0] ?? '') === 6;
  const netConf = v6
    ? { EnableIPv4: false, EnableIPv6: true, IPv6Network: input.podSubnet, Backend: { Type: 'vxlan' } }
    : { Network: input.podSubnet, EnableNFTables: false, Backend: { Type: 'vxlan' } };
  const cniConf = {
    name: 'cbr0',
    cniVersion: '0.3.1',
    plugins: [
      {
        type: 'flannel',
        delegate: {
          hairpinMode: true,
          isDefaultGateway: true,
          ...(input.mtu !== undefined ? { mtu: input.mtu } : {}),
        },
      },
      { type: 'portmap', capabilities: { portMappings: true } },
    ],
  };
  const json = (o: object): string => `${JSON.stringify(o, null, 2)}\n`;
  const hostPath = (name: string, path: string, type?: string): object => ({
    name,
    hostPath: { path, ...(type !== undefined ? { type } : {}) },
  });
  const docs = [
    {
      apiVersion: 'v1',
      kind: 'Namespace',
      metadata: {
        name: NAMESPACE,
        labels: { 'k8s-app': 'flannel', 'pod-security.kubernetes.io/enforce': 'privileged' },
      },
    },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRole',
      metadata: { name: 'flannel', labels: { 'k8s-app': 'flannel' } },
      rules: [
        { apiGroups: [''], resources: ['pods'], verbs: ['get'] },
        { apiGroups: [''], resources: ['nodes'], verbs: ['get', 'list', 'watch'] },
        { apiGroups: [''], resources: ['nodes/status'], verbs: ['patch'] },
      ],
    },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRoleBinding',
      metadata: { name: 'flannel', labels: { 'k8s-app': 'flannel' } },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'flannel' },
      subjects: [{ kind: 'ServiceAccount', name: 'flannel', namespace: NAMESPACE }],
    },
    {
      apiVersion: 'v1',
      kind: 'ServiceAccount',
      metadata: { name: 'flannel', namespace: NAMESPACE, labels: { 'k8s-app': 'flannel' } },
    },
    {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'kube-flannel-cfg', namespace: NAMESPACE, labels },
      data: { 'cni-conf.json': json(cniConf), 'net-conf.json': json(netConf) },
    },
    {
      apiVersion: 'apps/v1',
      kind: 'DaemonSet',
      metadata: { name: 'kube-flannel-ds', namespace: NAMESPACE, labels },
      spec: {
        selector: { matchLabels: { app: 'flannel' } },
        template: {
          metadata: { labels },
          spec: {
            affinity: {
              nodeAffinity: {
                requiredDuringSchedulingIgnoredDuringExecution: {
                  nodeSelectorTerms: [
                    { matchExpressions: [{ key: 'kubernetes.io/os', operator: 'In', values: ['linux'] }] },
                  ],
                },
              },
            },
            hostNetwork: true,
            priorityClassName: 'system-node-critical',
            tolerations: [{ operator: 'Exists', effect: 'NoSchedule' }],
            serviceAccountName: 'flannel',
            initContainers: [
              {
                name: 'install-cni-plugin',
                image: input.images.cniPlugin,
                command: ['cp'],
                args: ['-f', '/flannel', '/opt/cni/bin/flannel'],
                volumeMounts: [{ name: 'cni-plugin', mountPath: '/opt/cni/bin' }],
              },
              {
                name: 'install-cni',
                image: input.images.flannel,
                command: ['cp'],
                args: ['-f', '/etc/kube-flannel/cni-conf.json', '/etc/cni/net.d/10-flannel.conflist'],
                volumeMounts: [
                  { name: 'cni', mountPath: '/etc/cni/net.d' },
                  { name: 'flannel-cfg', mountPath: '/etc/kube-flannel/' },
                ],
              },
            ],
            containers: [
              {
                name: 'kube-flannel',
                image: input.images.flannel,
                command: ['/opt/bin/flanneld'],
                args: ['--ip-masq', '--kube-subnet-mgr'],
                resources: { requests: { cpu: '100m', memory: '50Mi' } },
                securityContext: { privileged: false, capabilities: { add: ['NET_ADMIN', 'NET_RAW'] } },
                env: [
                  { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
                  { name: 'POD_NAMESPACE', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
                  { name: 'EVENT_QUEUE_DEPTH', value: '5000' },
                ],
                volumeMounts: [
                  { name: 'run', mountPath: '/run/flannel' },
                  { name: 'flannel-cfg', mountPath: '/etc/kube-flannel/' },
                  { name: 'xtables-lock', mountPath: '/run/xtables.lock' },
                ],
              },
            ],
            volumes: [
              hostPath('run', '/run/flannel'),
              hostPath('cni-plugin', '/opt/cni/bin'),
              hostPath('cni', '/etc/cni/net.d'),
              { name: 'flannel-cfg', configMap: { name: 'kube-flannel-cfg' } },
              hostPath('xtables-lock', '/run/xtables.lock', 'FileOrCreate'),
            ],
          },
        },
      },
    },
  ];
  const header = `# flannel ${FLANNEL_VERSION} rendered by kctl from cluster.yaml (Network ${input.podSubnet}, MTU ${input.mtu ?? 'auto'})\n`;
  return header + renderManifestDocuments(docs);
}
