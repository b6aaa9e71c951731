import { serviceIps, clusterEndpoint, type ResolvedCluster } from './cluster-params.js';
import { renderKubeconfig } from './kubeconfig.js';
import { splitHostPort } from './k8s-values.js';
import type { NodeParams } from './node-files.js';
import {
  createCa,
  createServiceAccountKey,
  issueCert,
  type CertAndKey,
  type KeyAlgorithm,
} from './standin-pki.js';

/**
 * kubeadm's certificate tree (the `certs` and `kubeconfig` phases): the shared CAs and service-account
 * key that upload-certs carries between control planes, each node's own leaf certificates, and the
 * kubeconfig files. File names are relative to the certificates directory.
 */

/** What `kubeadm init phase upload-certs` uploads (local etcd). */
export const SHARED_CERT_FILES = [
  'ca.crt',
  'ca.key',
  'sa.key',
  'sa.pub',
  'front-proxy-ca.crt',
  'front-proxy-ca.key',
  'etcd/ca.crt',
  'etcd/ca.key',
] as const;

export type PkiFiles = Record<string, string>;

export interface Validity {
  now: number;
  certMs?: number | undefined;
  caMs?: number | undefined;
}

export async function createSharedCerts(algorithm: KeyAlgorithm, validity: Validity): Promise<PkiFiles> {
  const ca = (cn: string) =>
    createCa({ commonName: cn, algorithm, now: validity.now, validityMs: validity.caMs });
  // the service-account key follows the encryption algorithm like every other kubeadm key
  const [cluster, frontProxy, etcd, sa] = await Promise.all([
    ca('kubernetes'),
    ca('front-proxy-ca'),
    ca('etcd-ca'),
    createServiceAccountKey(algorithm),
  ]);
  return {
    'ca.crt': cluster.certPem,
    'ca.key': cluster.keyPem,
    'front-proxy-ca.crt': frontProxy.certPem,
    'front-proxy-ca.key': frontProxy.keyPem,
    'etcd/ca.crt': etcd.certPem,
    'etcd/ca.key': etcd.keyPem,
    'sa.key': sa.keyPem,
    'sa.pub': sa.pubPem,
  };
}

function pair(files: PkiFiles, base: string): CertAndKey {
  const certPem = files[`${base}.crt`];
  const keyPem = files[`${base}.key`];
  if (!certPem || !keyPem) throw new Error(`missing ${base}.crt/.key`);
  return { certPem, keyPem };
}

/** The 1.29+ admin.conf group; older clusters used system:masters directly. */
export const adminGroup = (kubeadmMinor: number): string =>
  kubeadmMinor >= 29 ? 'kubeadm:cluster-admins' : 'system:masters';

/** A control plane's own certificates: API server serving/client certs and, with local etcd, etcd's. */
export async function createControlPlaneCerts(
  shared: PkiFiles,
  cluster: ResolvedCluster,
  node: NodeParams,
  algorithm: KeyAlgorithm,
  kubeadmMinor: number,
  validity: Validity,
): Promise<PkiFiles> {
  const ca = pair(shared, 'ca');
  const frontProxyCa = pair(shared, 'front-proxy-ca');
  const endpointHost = cluster.controlPlaneEndpoint
    ? splitHostPort(cluster.controlPlaneEndpoint)?.host
    : undefined;
  const common = { algorithm, now: validity.now, validityMs: validity.certMs };
  const jobs: Record<string, Promise<CertAndKey>> = {
    apiserver: issueCert(ca, {
      ...common,
      commonName: 'kube-apiserver',
      usages: ['server'],
      altNames: [
        node.nodeName,
        'kubernetes',
        'kubernetes.default',
        'kubernetes.default.svc',
        `kubernetes.default.svc.${cluster.dnsDomain}`,
        serviceIps(cluster).apiServer,
        node.advertiseAddress,
        ...(endpointHost ? [endpointHost] : []),
        ...cluster.apiServer.certSANs,
      ],
    }),
    'apiserver-kubelet-client': issueCert(ca, {
      ...common,
      commonName: 'kube-apiserver-kubelet-client',
      organizations: [adminGroup(kubeadmMinor)],
      usages: ['client'],
    }),
    'front-proxy-client': issueCert(frontProxyCa, {
      ...common,
      commonName: 'front-proxy-client',
      usages: ['client'],
    }),
  };
  if (cluster.etcd.kind === 'local') {
    const etcdCa = pair(shared, 'etcd/ca');
    const etcdSans = (extra: string[]) => [
      node.nodeName,
      'localhost',
      node.advertiseAddress,
      '127.0.0.1',
      '::1',
      ...extra,
    ];
    jobs['etcd/server'] = issueCert(etcdCa, {
      ...common,
      commonName: node.nodeName,
      usages: ['server', 'client'],
      altNames: etcdSans(cluster.etcd.serverCertSANs),
    });
    jobs['etcd/peer'] = issueCert(etcdCa, {
      ...common,
      commonName: node.nodeName,
      usages: ['server', 'client'],
      altNames: etcdSans(cluster.etcd.peerCertSANs),
    });
    jobs['etcd/healthcheck-client'] = issueCert(etcdCa, {
      ...common,
      commonName: 'kube-etcd-healthcheck-client',
      usages: ['client'],
    });
    jobs['apiserver-etcd-client'] = issueCert(etcdCa, {
      ...common,
      commonName: 'kube-apiserver-etcd-client',
      usages: ['client'],
    });
  }
  const names = Object.keys(jobs);
  const issued = await Promise.all(Object.values(jobs));
  const files: PkiFiles = {};
  names.forEach((name, i) => {
    const c = issued[i];
    if (!c) return;
    files[`${name}.crt`] = c.certPem;
    files[`${name}.key`] = c.keyPem;
  });
  return files;
}

export interface KubeconfigSpec {
  file: string;
  userName: string;
  commonName: string;
  organizations: string[];
  /** controller-manager and scheduler talk to their local API server */
  local: boolean;
}

/** The kubeconfig files a control plane gets; super-admin.conf only from `kubeadm init` on >= 1.29. */
export function controlPlaneKubeconfigs(
  nodeName: string,
  kubeadmMinor: number,
  init: boolean,
): KubeconfigSpec[] {
  return [
    {
      file: 'admin.conf',
      userName: 'kubernetes-admin',
      commonName: 'kubernetes-admin',
      organizations: [adminGroup(kubeadmMinor)],
      local: false,
    },
    ...(init && kubeadmMinor >= 29
      ? [
          {
            file: 'super-admin.conf',
            userName: 'kubernetes-super-admin',
            commonName: 'kubernetes-super-admin',
            organizations: ['system:masters'],
            local: false,
          },
        ]
      : []),
    {
      file: 'kubelet.conf',
      userName: `system:node:${nodeName}`,
      commonName: `system:node:${nodeName}`,
      organizations: ['system:nodes'],
      local: false,
    },
    {
      file: 'controller-manager.conf',
      userName: 'system:kube-controller-manager',
      commonName: 'system:kube-controller-manager',
      organizations: [],
      local: true,
    },
    {
      file: 'scheduler.conf',
      userName: 'system:kube-scheduler',
      commonName: 'system:kube-scheduler',
      organizations: [],
      local: true,
    },
  ];
}

export async function renderControlPlaneKubeconfigs(
  specs: readonly KubeconfigSpec[],
  shared: PkiFiles,
  cluster: ResolvedCluster,
  node: NodeParams,
  algorithm: KeyAlgorithm,
  validity: Validity,
): Promise<Record<string, string>> {
  const ca = pair(shared, 'ca');
  const clients = await Promise.all(
    specs.map((s) =>
      issueCert(ca, {
        commonName: s.commonName,
        organizations: s.organizations,
        usages: ['client'],
        algorithm,
        now: validity.now,
        validityMs: validity.certMs,
      }),
    ),
  );
  const out: Record<string, string> = {};
  specs.forEach((s, i) => {
    const client = clients[i];
    if (!client) return;
    const server = s.local
      ? `https://${clusterEndpoint({ ...cluster, controlPlaneEndpoint: undefined }, node.advertiseAddress, node.bindPort)}`
      : `https://${clusterEndpoint(cluster, node.advertiseAddress, node.bindPort)}`;
    out[s.file] = renderKubeconfig({
      clusterName: cluster.clusterName,
      server,
      caCertPem: ca.certPem,
      userName: s.userName,
      client,
    });
  });
  return out;
}
