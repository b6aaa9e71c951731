import { KctlError } from '../../proto/errors.js';
import { ClusterSpec, type SpecIssue } from '../../proto/cluster-spec.js';
import type { PreflightSpec } from '../../proto/checks.js';
import type { HostSpec } from '../../proto/host-spec.js';
import type { Store } from '../store/store.js';
import { crossFieldRules } from '../spec/parse.js';
import { resolveHostRoles, type HostAssignment } from '../spec/resolve.js';
import { packageFormatFor } from '../render/packages.js';
import { cniManifestFor, type CniManifest } from '../render/cni/cni-inputs.js';
import { prepareHostSpec } from './host-spec.js';
import { controlPlaneEtcdFiles } from './etcd-host-spec.js';
import { clusterRenderers, type ConfigRenderers } from './renderers.js';
import { kubeVipManifestFor } from '../render/cluster-spec-inputs.js';
import type { PlannedHost } from './planned-host.js';

export type { PlannedHost } from './planned-host.js';

/** cluster.yaml checked and bound to the enrolled hosts: everything a plan is made from but the hosts' state. */
export interface ResolvedCluster {
  spec: ClusterSpec;
  hosts: ReadonlyMap<string, PlannedHost>;
  first: PlannedHost | undefined;
  warnings: SpecIssue[];
  /** what the CNI phase applies: cni.manifest's content, else kctl's template (undefined: plugin none) */
  cniManifest: string | undefined;
  cni: CniManifest | undefined;
  renderers: ConfigRenderers;
  /**
   * What the prepare phase converges a host to, with the kube packages of `version` (default: the
   * spec's). A control plane that is already a `member` of a kube-vip cluster also keeps kube-vip's
   * steady-state manifest (admin.conf): the first control plane's init-time one (super-admin.conf)
   * is replaced once the cluster is up.
   */
  hostSpecFor(host: PlannedHost, version?: string, options?: { member?: boolean }): HostSpec;
  host(name: string): PlannedHost;
}

/**
 * Checks that prepare fixes, or that only hold once packages are in: before prepare they would
 * stop every fresh host. kubeadm runs its own preflight again at init and join.
 */
export const FIXED_BY_PREPARE = [
  'CRI',
  'Swap',
  'KubeletVersion',
  'FileContent--proc-sys-net-ipv4-ip_forward',
  'FileContent--proc-sys-net-bridge-bridge-nf-call-iptables',
  'FileContent--proc-sys-net-bridge-bridge-nf-call-ip6tables',
  'FileExisting-conntrack',
  'FileExisting-iptables',
  'FileExisting-ip',
  'FileExisting-mount',
  'FileExisting-nsenter',
  'FileExisting-ebtables',
  'FileExisting-ethtool',
  'FileExisting-socat',
  'FileExisting-tc',
  'FileExisting-touch',
  'FileExisting-cp',
  'Service-Kubelet',
];

export function preflightSpecFor(
  spec: ClusterSpec,
  host: HostAssignment,
  ignore: string[] = FIXED_BY_PREPARE,
): PreflightSpec {
  return {
    role: host.role,
    kubernetesVersion: spec.kubernetesVersion,
    isFirstControlPlane: host.first,
    kubeProxyMode: spec.kubeProxy.mode,
    apiServerPort: spec.controlPlaneEndpoint.port,
    controlPlaneEndpoint: `${spec.controlPlaneEndpoint.host}:${spec.controlPlaneEndpoint.port}`,
    podSubnet: spec.networking.podSubnet,
    serviceSubnet: spec.networking.serviceSubnet,
    nodeName: host.name,
    ...(host.address ? { advertiseAddress: host.address } : {}),
    ignore,
  };
}

function specError(issues: SpecIssue[]): KctlError {
  return new KctlError('invalid_spec', issues.map((i) => `${i.path}: ${i.message}`).join('; '), {
    details: { issues },
  });
}

/** cluster.yaml (already parsed as YAML) + enrolled hosts -> the resolved cluster; every problem named by its path. */
export function resolveCluster(
  deps: { store: Store; controllerUrl?: string | undefined },
  raw: unknown,
  cniManifest: string | undefined,
): ResolvedCluster {
  const parsed = ClusterSpec.safeParse(raw);
  if (!parsed.success)
    throw specError(
      parsed.error.issues.map((i) => ({ path: i.path.map(String).join('.'), message: i.message })),
    );
  const spec = parsed.data;
  const rules = crossFieldRules(spec);
  if (rules.errors.length > 0) throw specError(rules.errors);
  // the members' PKI, files and HostSpec exist (controller/etcd, controller/plan/etcd-host-spec.ts); no phase installs them yet
  if (spec.etcd.mode === 'managed')
    throw specError([
      { path: 'etcd.mode', message: 'managed etcd is not applied by this kctl yet: use stacked or external' },
    ]);
  const enrolled = deps.store.listHosts().filter((h) => h.state === 'active');
  const resolved = resolveHostRoles(
    spec,
    enrolled.map((h) => ({ name: h.name, labels: h.labels, ips: h.facts?.ips ?? [] })),
  );
  if (resolved.errors.length > 0) throw specError(resolved.errors);
  const byName = new Map(enrolled.map((h) => [h.name, h]));
  const planned: PlannedHost[] = resolved.assignments.map((a) => {
    const record = byName.get(a.name);
    if (!record) throw new KctlError('unknown_host', `Host "${a.name}" is not enrolled`);
    const osId = record.facts?.os.id ?? '';
    return {
      ...a,
      hostId: record.id,
      kernelRelease: record.facts?.kernel ?? '',
      osId,
      packageFormat: packageFormatFor(osId),
      containerdVersion: record.facts?.containerdVersion,
    };
  });
  const hosts = new Map(planned.map((h) => [h.name, h]));
  const cni = cniManifestFor(spec, cniManifest);
  // the prepare files name the package repository of a minor: one set of renderers per version asked for
  const byVersion = new Map<string, ConfigRenderers>();
  const renderersFor = (version: string): ConfigRenderers => {
    let r = byVersion.get(version);
    if (!r) {
      r = clusterRenderers({ ...spec, kubernetesVersion: version }, deps.controllerUrl);
      byVersion.set(version, r);
    }
    return r;
  };
  return {
    spec,
    hosts,
    first: planned.find((h) => h.first),
    warnings: [...rules.warnings, ...resolved.warnings],
    cniManifest: cni?.content,
    cni,
    renderers: renderersFor(spec.kubernetesVersion),
    hostSpecFor(host, version = spec.kubernetesVersion, options = {}) {
      const hostSpec = prepareHostSpec({ ...spec, kubernetesVersion: version }, host, {
        kernelRelease: host.kernelRelease,
        packageFormat: host.packageFormat,
        containerdVersion: host.containerdVersion,
        files: renderersFor(version).prepareFiles(host),
        controlPlanes: planned.filter((h) => h.role === 'control-plane'),
      });
      // external etcd: kubeadm's etcd.external names these files, in place before init and join
      const etcdFiles = host.role === 'control-plane' ? controlPlaneEtcdFiles(spec, undefined) : [];
      if (etcdFiles.length > 0) hostSpec.files = [...hostSpec.files, ...etcdFiles];
      const vip = options.member
        ? kubeVipManifestFor({ ...spec, kubernetesVersion: version }, { role: host.role, first: false })
        : undefined;
      return vip
        ? { ...hostSpec, files: [...hostSpec.files, { ...vip, mode: 0o600, sensitive: false }] }
        : hostSpec;
    },
    host(name) {
      const h = hosts.get(name);
      if (!h) throw new KctlError('unknown_host', `Host "${name}" is not part of cluster "${spec.name}"`);
      return h;
    },
  };
}
