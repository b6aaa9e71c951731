import type { ClusterSpec } from '../../proto/cluster-spec.js';
import type { HostSpec } from '../../proto/host-spec.js';
import { KctlError } from '../../proto/errors.js';
import { apiserverEtcdClientFiles, etcdMemberFiles, type EtcdPki } from '../etcd/pki.js';
import {
  ETCD_DEFAULTS_PATH,
  ETCD_DROPIN_PATH,
  ETCD_UNIT,
  renderEtcdDefaults,
  renderEtcdDropIn,
  type EtcdMember,
} from '../render/etcd.js';
import type { PackageFormat } from '../render/types.js';
import { bundleRepoFiles } from './host-spec.js';

/**
 * What an etcd host (role etcd, etcd.mode managed) converges to: Debian's etcd-server and etcd-client (from the
 * host's repositories or the bundle; held, since a member moves between etcd minors one at a time),
 * its PKI in kubeadm's layout, /etc/default/etcd and the unit's drop-in, and etcd.service running.
 * No kubelet, no kubeadm, no containerd, no Kubernetes sysctls; swap is left alone.
 * The files go in before the package (the agent's order, dpkg --force-confold keeps them), so the
 * first start after installing already runs as this member, not as the package's lone default.
 */
export function etcdHostSpec(
  spec: ClusterSpec,
  self: EtcdMember,
  options: {
    /** the members the cluster is formed with: all of them (new), or the running ones plus self (existing) */
    members: readonly EtcdMember[];
    initialClusterState: 'new' | 'existing';
    pki: EtcdPki;
    packageFormat: PackageFormat | undefined;
  },
): HostSpec {
  if (spec.etcd.mode !== 'managed')
    throw new KctlError(
      'invalid_spec',
      `Host "${self.name}" has role etcd, but etcd.mode is ${spec.etcd.mode}`,
    );
  if (options.packageFormat === 'rpm' && spec.packages.source !== 'preinstalled')
    throw new KctlError(
      'invalid_spec',
      `Host "${self.name}": kctl installs etcd from Debian's etcd-server package only; preinstall etcd there`,
    );
  const restarts = [ETCD_UNIT];
  const installs = spec.packages.source !== 'preinstalled' && options.packageFormat !== undefined;
  return {
    hostName: self.name,
    role: 'etcd',
    kubernetesVersion: spec.kubernetesVersion,
    kubeProxyMode: spec.kubeProxy.mode,
    swap: 'keep',
    sysctls: {},
    modules: [],
    files: [
      ...etcdMemberFiles(options.pki, self.name).map((f) => ({ ...f, restarts })),
      {
        path: ETCD_DEFAULTS_PATH,
        content: renderEtcdDefaults({
          clusterName: spec.name,
          self,
          members: options.members,
          initialClusterState: options.initialClusterState,
          extraArgs: spec.extraArgs.etcd,
        }),
        mode: 0o644,
        sensitive: false,
        restarts,
      },
      { path: ETCD_DROPIN_PATH, content: renderEtcdDropIn(), mode: 0o644, sensitive: false, restarts },
      ...(installs ? bundleRepoFiles(spec, options.packageFormat) : []),
    ],
    ...(installs && spec.packages.source === 'bundle' ? { packagesFrom: 'bundle' as const } : {}),
    // etcd-client: etcdctl, which checks the member's health (etcd.status) and adds members
    packages: installs
      ? [
          { name: 'etcd-server', hold: true, restarts },
          { name: 'etcd-client', hold: true },
        ]
      : [],
    services: [{ unit: ETCD_UNIT, start: true }],
  };
}

/** The etcd client files a control plane gets besides kubeadm's: from the etcd PKI, or cluster.yaml (external). */
export function controlPlaneEtcdFiles(spec: ClusterSpec, pki: EtcdPki | undefined): HostSpec['files'] {
  const e = spec.etcd;
  let files: ReturnType<typeof apiserverEtcdClientFiles>;
  if (e.mode === 'stacked') return [];
  if (e.mode === 'external') {
    files = apiserverEtcdClientFiles({
      ca: { certPem: e.caCert },
      apiserverClient: { certPem: e.clientCert, keyPem: e.clientKey },
    });
  } else {
    if (pki === undefined) throw new KctlError('internal', 'etcd.mode managed: the etcd PKI is not loaded');
    files = apiserverEtcdClientFiles(pki);
  }
  return files.map((f) => ({ ...f }));
}
