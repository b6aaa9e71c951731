import { isIP } from 'node:net';
import { CALICO_VERSION } from '../../../proto/images.js';
import { renderManifestDocuments } from './manifest-yaml.js';
import type { CalicoInput } from './types.js';

/**
 * Calico's CRDs (manifests/calico.yaml at v3.28). Their upstream schemas are long; these accept any
 * content (x-kubernetes-preserve-unknown-fields), which is all calico-node and kube-controllers need.
 */
const CRDS: ReadonlyArray<readonly [kind: string, plural: string, scope: 'Cluster' | 'Namespaced']> = [
  ['BGPConfiguration', 'bgpconfigurations', 'Cluster'],
  ['BGPFilter', 'bgpfilters', 'Cluster'],
  ['BGPPeer', 'bgppeers', 'Cluster'],
  ['BlockAffinity', 'blockaffinities', 'Cluster'],
  ['CalicoNodeStatus', 'caliconodestatuses', 'Cluster'],
  ['ClusterInformation', 'clusterinformations', 'Cluster'],
  ['FelixConfiguration', 'felixconfigurations', 'Cluster'],
  ['GlobalNetworkPolicy', 'globalnetworkpolicies', 'Cluster'],
  ['GlobalNetworkSet', 'globalnetworksets', 'Cluster'],
  ['HostEndpoint', 'hostendpoints', 'Cluster'],
  ['IPAMBlock', 'ipamblocks', 'Cluster'],
  ['IPAMConfig', 'ipamconfigs', 'Cluster'],
  ['IPAMHandle', 'ipamhandles', 'Cluster'],
  ['IPPool', 'ippools', 'Cluster'],
  ['IPReservation', 'ipreservations', 'Cluster'],
  ['KubeControllersConfiguration', 'kubecontrollersconfigurations', 'Cluster'],
  ['NetworkPolicy', 'networkpolicies', 'Namespaced'],
  ['NetworkSet', 'networksets', 'Namespaced'],
];

function crd(kind: string, plural: string, scope: string): object {
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: `${plural}.crd.projectcalico.org` },
    spec: {
      group: 'crd.projectcalico.org',
      names: { kind, listKind: `${kind}List`, plural, singular: kind.toLowerCase() },
      scope,
      versions: [
        {
          name: 'v1',
          served: true,
          storage: true,
          schema: { openAPIV3Schema: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } },
        },
      ],
    },
  };
}

const env = (name: string, value: string): { name: string; value: string } => ({ name, value });
const labels = (name: string): Record<string, string> => ({ 'k8s-app': name });
const sa = (name: string): object => ({
  apiVersion: 'v1',
  kind: 'ServiceAccount',
  metadata: { name, namespace: 'kube-system' },
});
const binding = (name: string): object => ({
  apiVersion: 'rbac.authorization.k8s.io/v1',
  kind: 'ClusterRoleBinding',
  metadata: { name },
  roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name },
  subjects: [{ kind: 'ServiceAccount', name, namespace: 'kube-system' }],
});
const CRD_RESOURCES = CRDS.map(([, plural]) => plural);

/** The CNI config install-cni writes on every node; __KUBECONFIG_FILEPATH__ and __CNI_MTU__ are its own placeholders. */
const CNI_NETWORK_CONFIG = `${JSON.stringify(
  {
    name: 'k8s-pod-network',
    cniVersion: '0.3.1',
    plugins: [
      {
        type: 'calico',
        log_level: 'info',
        log_file_path: '/var/log/calico/cni/cni.log',
        datastore_type: 'kubernetes',
        nodename: '__KUBERNETES_NODE_NAME__',
        mtu: '__CNI_MTU__',
        ipam: { type: 'calico-ipam' },
        policy: { type: 'k8s' },
        kubernetes: { kubeconfig: '__KUBECONFIG_FILEPATH__' },
      },
      { type: 'portmap', snat: true, capabilities: { portMappings: true } },
      { type: 'bandwidth', capabilities: { bandwidth: true } },
    ],
  },
  null,
  2,
  // install-cni substitutes the bare placeholder, so the MTU ends up a JSON number
).replace('"__CNI_MTU__"', '__CNI_MTU__')}\n`;

/**
 * Calico in its manifest ("calico.yaml", Kubernetes datastore, BGP, no Typha) at CALICO_VERSION:
 * the pool CIDR, IP autodetection, MTU and images come from cluster.yaml. An IPv6 podSubnet gets
 * an IPv6 pool and IPv6 autodetection instead.
 */
export function renderCalicoManifest(input: CalicoInput): string {
  const v6 = isIP(input.podSubnet.split('/')[0] ?? '') === 6;
  const hostPath = (name: string, path: string, type?: string): object => ({
    name,
    hostPath: { path, ...(type !== undefined ? { type } : {}) },
  });
  const config = {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: 'calico-config', namespace: 'kube-system' },
    data: {
      typha_service_name: 'none',
      calico_backend: 'bird',
      // "0": calico-node detects the MTU from the host's interfaces
      veth_mtu: String(input.mtu ?? 0),
      cni_network_config: CNI_NETWORK_CONFIG,
    },
  };
  const nodeRole = {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'ClusterRole',
    metadata: { name: 'calico-node' },
    rules: [
      {
        apiGroups: [''],
        resources: ['pods', 'nodes', 'namespaces', 'serviceaccounts', 'configmaps'],
        verbs: ['get', 'list', 'watch'],
      },
      { apiGroups: [''], resources: ['endpoints', 'services'], verbs: ['get', 'list', 'watch'] },
      { apiGroups: [''], resources: ['nodes/status', 'pods/status'], verbs: ['patch', 'update'] },
      {
        apiGroups: [''],
        resources: ['serviceaccounts/token'],
        resourceNames: ['calico-cni-plugin'],
        verbs: ['create'],
      },
      { apiGroups: ['discovery.k8s.io'], resources: ['endpointslices'], verbs: ['get', 'list', 'watch'] },
      { apiGroups: ['networking.k8s.io'], resources: ['networkpolicies'], verbs: ['get', 'list', 'watch'] },
      {
        apiGroups: ['crd.projectcalico.org'],
        resources: CRD_RESOURCES,
        verbs: ['get', 'list', 'watch', 'create', 'update', 'delete'],
      },
    ],
  };
  const controllersRole = {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'ClusterRole',
    metadata: { name: 'calico-kube-controllers' },
    rules: [
      {
        apiGroups: [''],
        resources: ['nodes', 'pods', 'namespaces', 'serviceaccounts'],
        verbs: ['get', 'list', 'watch'],
      },
      { apiGroups: ['networking.k8s.io'], resources: ['networkpolicies'], verbs: ['get', 'list', 'watch'] },
      {
        apiGroups: ['crd.projectcalico.org'],
        resources: CRD_RESOURCES,
        verbs: ['get', 'list', 'watch', 'create', 'update', 'delete'],
      },
    ],
  };
  const pool = v6
    ? [env('CALICO_IPV6POOL_CIDR', input.podSubnet), env('IP', 'none'), env('IP6', 'autodetect')]
    : [
        env('CALICO_IPV4POOL_CIDR', input.podSubnet),
        env('IP', 'autodetect'),
        env('CALICO_IPV4POOL_IPIP', 'Always'),
      ];
  const daemonSet = {
    apiVersion: 'apps/v1',
    kind: 'DaemonSet',
    metadata: { name: 'calico-node', namespace: 'kube-system', labels: labels('calico-node') },
    spec: {
      selector: { matchLabels: labels('calico-node') },
      updateStrategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 1 } },
      template: {
        metadata: { labels: labels('calico-node') },
        spec: {
          nodeSelector: { 'kubernetes.io/os': 'linux' },
          hostNetwork: true,
          tolerations: [
            { effect: 'NoSchedule', operator: 'Exists' },
            { key: 'CriticalAddonsOnly', operator: 'Exists' },
            { effect: 'NoExecute', operator: 'Exists' },
          ],
          serviceAccountName: 'calico-node',
          terminationGracePeriodSeconds: 0,
          priorityClassName: 'system-node-critical',
          initContainers: [
            {
              name: 'install-cni',
              image: input.images.cni,
              imagePullPolicy: 'IfNotPresent',
              command: ['/opt/cni/bin/install'],
              envFrom: [{ configMapRef: { name: 'kubernetes-services-endpoint', optional: true } }],
              env: [
                env('CNI_CONF_NAME', '10-calico.conflist'),
                {
                  name: 'CNI_NETWORK_CONFIG',
                  valueFrom: { configMapKeyRef: { name: 'calico-config', key: 'cni_network_config' } },
                },
                { name: 'KUBERNETES_NODE_NAME', valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } },
                {
                  name: 'CNI_MTU',
                  valueFrom: { configMapKeyRef: { name: 'calico-config', key: 'veth_mtu' } },
                },
                env('SLEEP', 'false'),
              ],
              volumeMounts: [
                { mountPath: '/host/opt/cni/bin', name: 'cni-bin-dir' },
                { mountPath: '/host/etc/cni/net.d', name: 'cni-net-dir' },
              ],
              securityContext: { privileged: true },
            },
          ],
          containers: [
            {
              name: 'calico-node',
              image: input.images.node,
              imagePullPolicy: 'IfNotPresent',
              envFrom: [{ configMapRef: { name: 'kubernetes-services-endpoint', optional: true } }],
              env: [
                env('DATASTORE_TYPE', 'kubernetes'),
                env('WAIT_FOR_DATASTORE', 'true'),
                { name: 'NODENAME', valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } },
                {
                  name: 'CALICO_NETWORKING_BACKEND',
                  valueFrom: { configMapKeyRef: { name: 'calico-config', key: 'calico_backend' } },
                },
                env('CLUSTER_TYPE', 'k8s,bgp'),
                env(v6 ? 'IP6_AUTODETECTION_METHOD' : 'IP_AUTODETECTION_METHOD', input.ipAutodetectionMethod),
                ...pool,
                {
                  name: 'FELIX_IPINIPMTU',
                  valueFrom: { configMapKeyRef: { name: 'calico-config', key: 'veth_mtu' } },
                },
                {
                  name: 'FELIX_VXLANMTU',
                  valueFrom: { configMapKeyRef: { name: 'calico-config', key: 'veth_mtu' } },
                },
                {
                  name: 'FELIX_WIREGUARDMTU',
                  valueFrom: { configMapKeyRef: { name: 'calico-config', key: 'veth_mtu' } },
                },
                env('CALICO_DISABLE_FILE_LOGGING', 'true'),
                env('FELIX_DEFAULTENDPOINTTOHOSTACTION', 'ACCEPT'),
                env('FELIX_IPV6SUPPORT', v6 ? 'true' : 'false'),
                env('FELIX_HEALTHENABLED', 'true'),
              ],
              securityContext: { privileged: true },
              resources: { requests: { cpu: '250m' } },
              livenessProbe: {
                exec: { command: ['/bin/calico-node', '-felix-live', '-bird-live'] },
                periodSeconds: 10,
                initialDelaySeconds: 10,
                failureThreshold: 6,
                timeoutSeconds: 10,
              },
              readinessProbe: {
                exec: { command: ['/bin/calico-node', '-felix-ready', '-bird-ready'] },
                periodSeconds: 10,
                timeoutSeconds: 10,
              },
              volumeMounts: [
                { mountPath: '/lib/modules', name: 'lib-modules', readOnly: true },
                { mountPath: '/run/xtables.lock', name: 'xtables-lock', readOnly: false },
                { mountPath: '/var/run/calico', name: 'var-run-calico', readOnly: false },
                { mountPath: '/var/lib/calico', name: 'var-lib-calico', readOnly: false },
                { mountPath: '/var/log/calico/cni', name: 'cni-log-dir', readOnly: true },
              ],
            },
          ],
          volumes: [
            hostPath('lib-modules', '/lib/modules'),
            hostPath('var-run-calico', '/var/run/calico', 'DirectoryOrCreate'),
            hostPath('var-lib-calico', '/var/lib/calico', 'DirectoryOrCreate'),
            hostPath('xtables-lock', '/run/xtables.lock', 'FileOrCreate'),
            hostPath('cni-bin-dir', '/opt/cni/bin', 'DirectoryOrCreate'),
            hostPath('cni-net-dir', '/etc/cni/net.d'),
            hostPath('cni-log-dir', '/var/log/calico/cni'),
          ],
        },
      },
    },
  };
  const controllers = {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: {
      name: 'calico-kube-controllers',
      namespace: 'kube-system',
      labels: labels('calico-kube-controllers'),
    },
    spec: {
      replicas: 1,
      selector: { matchLabels: labels('calico-kube-controllers') },
      strategy: { type: 'Recreate' },
      template: {
        metadata: {
          name: 'calico-kube-controllers',
          namespace: 'kube-system',
          labels: labels('calico-kube-controllers'),
        },
        spec: {
          nodeSelector: { 'kubernetes.io/os': 'linux' },
          tolerations: [
            { key: 'CriticalAddonsOnly', operator: 'Exists' },
            { key: 'node-role.kubernetes.io/master', effect: 'NoSchedule' },
            { key: 'node-role.kubernetes.io/control-plane', effect: 'NoSchedule' },
          ],
          serviceAccountName: 'calico-kube-controllers',
          priorityClassName: 'system-cluster-critical',
          containers: [
            {
              name: 'calico-kube-controllers',
              image: input.images.kubeControllers,
              imagePullPolicy: 'IfNotPresent',
              env: [env('ENABLED_CONTROLLERS', 'node'), env('DATASTORE_TYPE', 'kubernetes')],
              livenessProbe: {
                exec: { command: ['/usr/bin/check-status', '-l'] },
                periodSeconds: 10,
                initialDelaySeconds: 10,
                failureThreshold: 6,
                timeoutSeconds: 10,
              },
              readinessProbe: { exec: { command: ['/usr/bin/check-status', '-r'] }, periodSeconds: 10 },
            },
          ],
        },
      },
    },
  };
  const header = `# Calico ${CALICO_VERSION} rendered by kctl from cluster.yaml (podSubnet ${input.podSubnet}, MTU ${input.mtu ?? 'auto'}, IP autodetection ${input.ipAutodetectionMethod})\n`;
  return (
    header +
    renderManifestDocuments([
      config,
      ...CRDS.map(([k, p, s]) => crd(k, p, s)),
      nodeRole,
      controllersRole,
      binding('calico-node'),
      binding('calico-kube-controllers'),
      sa('calico-node'),
      sa('calico-cni-plugin'),
      sa('calico-kube-controllers'),
      daemonSet,
      controllers,
    ])
  );
}
