import { KctlError } from '../../proto/errors.js';
import { ClusterSpec, type SpecIssue } from '../../proto/cluster-spec.js';
import type { PreflightSpec } from '../../proto/checks.js';
import type { HostSpec } from '../../proto/host-spec.js';
import type { HostRecord, Store } from '../store/store.js';
import { crossFieldRules } from '../spec/parse.js';
import {
  resolveHostRoles,
  type EtcdMemberAssignment,
  type HostAssignment,
  type LbHostAssignment,
} from '../spec/resolve.js';
import { packageFormatFor } from '../render/packages.js';
import { cniManifestFor, type CniManifest } from '../render/cni/cni-inputs.js';
import { prepareHostSpec } from './host-spec.js';
import { controlPlaneEtcdFiles, etcdHostSpec } from './etcd-host-spec.js';
import { lbHostSpec } from './lb-host-spec.js';
import type { EtcdPki } from '../etcd/pki.js';
import { etcdPkiFor } from '../etcd/pki-store.js';
import { etcdClientUrl } from '../render/etcd.js';
import type { PackageFormat } from '../render/types.js';
import { clusterRenderers, type ConfigRenderers } from './renderers.js';
import { kubeVipManifestFor } from '../render/cluster-spec-inputs.js';
import type { PlannedHost } from './planned-host.js';

export type { PlannedHost } from './planned-host.js';

/** A host with role etcd (etcd.mode managed): a member of the etcd cluster kctl runs, no node. */
export interface PlannedEtcdMember {
  name: string;
  hostId: string;
  /** its client and peer URLs' address (hosts[].address, else picked as a node's) */
  address: string;
  packageFormat: PackageFormat | undefined;
}

/** A host with role lb (ha.mode haproxy-keepalived): HAProxy and keepalived, no node. */
export interface PlannedLbHost {
  name: string;
  hostId: string;
  /** keepalived's unicast address (hosts[].address, else picked as a node's) */
  address: string;
  packageFormat: PackageFormat | undefined;
}

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
  /** etcd.mode managed: the etcd hosts in cluster.yaml's order (none otherwise) */
  etcdMembers: readonly PlannedEtcdMember[];
  /**
   * What the etcd phase converges a member to: all members forming the cluster together (state
   * new: etcd reads initial-cluster only on a member's first start, so this stays the spec of a
   * running member too). `joining`: a member added to a running cluster (after etcdctl member add),
   * state existing with the members etcd then lists. Needs the etcd PKI (resolveClusterWithEtcd).
   */
  etcdHostSpecFor(member: PlannedEtcdMember, joining?: { members: readonly PlannedEtcdMember[] }): HostSpec;
  /** the dedicated lb hosts in cluster.yaml's order (none: HAProxy and keepalived, if any, on the control planes) */
  loadBalancers: readonly PlannedLbHost[];
  /** What the load-balancers phase converges an lb host to (controller/plan/lb-host-spec.ts). */
  lbHostSpecFor(lb: PlannedLbHost): HostSpec;
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

/**
 * FIXED_BY_PREPARE for this cluster. With packages.source preinstalled prepare installs nothing, so
 * the FileExisting checks (conntrack, iptables, socat ...) are what tells that a golden image lacks them.
 */
export function fixedByPrepare(spec: ClusterSpec): string[] {
  if (spec.packages.source !== 'preinstalled') return FIXED_BY_PREPARE;
  return FIXED_BY_PREPARE.filter((id) => !id.startsWith('FileExisting-'));
}

export function preflightSpecFor(
  spec: ClusterSpec,
  host: HostAssignment,
  ignore: string[] = fixedByPrepare(spec),
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

/**
 * cluster.yaml (already parsed as YAML) + enrolled hosts -> the resolved cluster; every problem
 * named by its path. `store` is any synchronous source of the host rows (the controller reads them
 * from its AsyncStore first: resolveClusterFromStore).
 */
export function resolveCluster(
  deps: {
    store: Pick<Store, 'listHosts'>;
    controllerUrl?: string | undefined;
    etcdPki?: EtcdPki | undefined;
  },
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
  const etcdMembers = plannedEtcdMembers(spec, resolved.etcdMembers, byName);
  const loadBalancers = plannedLbHosts(resolved.loadBalancers, byName);
  const warnings = [...rules.warnings, ...resolved.warnings];
  // cluster.yaml's rule counts named entries only; selectors are counted once resolved
  if (
    etcdMembers.length % 2 === 0 &&
    etcdMembers.length > 0 &&
    !warnings.some((w) => w.path === 'hosts' && w.message.includes('etcd members'))
  )
    warnings.push({
      path: 'hosts',
      message: `${etcdMembers.length} etcd members: an even number tolerates no more failures than ${etcdMembers.length - 1} (quorum)`,
    });
  // kubeadm sees managed etcd as external etcd: the members' client URLs and kctl's client files
  const kubeadmSpec = managedAsExternal(spec, etcdMembers, deps.etcdPki);
  const cni = cniManifestFor(spec, cniManifest);
  // the prepare files name the package repository of a minor: one set of renderers per version asked for
  const byVersion = new Map<string, ConfigRenderers>();
  const renderersFor = (version: string): ConfigRenderers => {
    let r = byVersion.get(version);
    if (!r) {
      r = clusterRenderers({ ...kubeadmSpec, kubernetesVersion: version }, deps.controllerUrl);
      byVersion.set(version, r);
    }
    return r;
  };
  return {
    spec,
    hosts,
    first: planned.find((h) => h.first),
    warnings,
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
        loadBalancers,
      });
      // external etcd: kubeadm's etcd.external names these files, in place before init and join
      // (managed: from the etcd PKI; a caller that loaded none, such as health, checks no etcd files)
      const etcdFiles =
        host.role === 'control-plane' && (spec.etcd.mode !== 'managed' || deps.etcdPki !== undefined)
          ? controlPlaneEtcdFiles(spec, deps.etcdPki)
          : [];
      if (etcdFiles.length > 0) hostSpec.files = [...hostSpec.files, ...etcdFiles];
      const vip = options.member
        ? kubeVipManifestFor({ ...spec, kubernetesVersion: version }, { role: host.role, first: false })
        : undefined;
      return vip
        ? { ...hostSpec, files: [...hostSpec.files, { ...vip, mode: 0o600, sensitive: false }] }
        : hostSpec;
    },
    etcdMembers,
    loadBalancers,
    lbHostSpecFor(lb) {
      return lbHostSpec(spec, lb, {
        balancers: loadBalancers,
        controlPlanes: planned.filter((h) => h.role === 'control-plane'),
        packageFormat: lb.packageFormat,
      });
    },
    etcdHostSpecFor(member, joining) {
      if (deps.etcdPki === undefined)
        throw new KctlError('internal', 'etcd.mode managed: the etcd PKI is not loaded');
      return etcdHostSpec(spec, member, {
        members: joining?.members ?? etcdMembers,
        initialClusterState: joining ? 'existing' : 'new',
        pki: deps.etcdPki,
        packageFormat: member.packageFormat,
      });
    },
    host(name) {
      const h = hosts.get(name);
      if (!h) throw new KctlError('unknown_host', `Host "${name}" is not part of cluster "${spec.name}"`);
      return h;
    },
  };
}

function plannedEtcdMembers(
  spec: ClusterSpec,
  assigned: readonly EtcdMemberAssignment[],
  byName: ReadonlyMap<string, { id: string; facts?: { os: { id: string } } | null | undefined }>,
): PlannedEtcdMember[] {
  if (spec.etcd.mode !== 'managed') return [];
  return assigned.map((m) => {
    const record = byName.get(m.name);
    if (!record) throw new KctlError('unknown_host', `Host "${m.name}" is not enrolled`);
    if (m.address === undefined)
      throw specError([
        {
          path: 'hosts',
          message: `etcd member "${m.name}" reported no usable address: give hosts[].address`,
        },
      ]);
    return {
      name: m.name,
      hostId: record.id,
      address: m.address,
      packageFormat: packageFormatFor(record.facts?.os.id ?? ''),
    };
  });
}

function plannedLbHosts(
  assigned: readonly LbHostAssignment[],
  byName: ReadonlyMap<string, { id: string; facts?: { os: { id: string } } | null | undefined }>,
): PlannedLbHost[] {
  return assigned.map((m) => {
    const record = byName.get(m.name);
    if (!record) throw new KctlError('unknown_host', `Host "${m.name}" is not enrolled`);
    if (m.address === undefined)
      throw specError([
        { path: 'hosts', message: `lb host "${m.name}" reported no usable address: give hosts[].address` },
      ]);
    return {
      name: m.name,
      hostId: record.id,
      address: m.address,
      packageFormat: packageFormatFor(record.facts?.os.id ?? ''),
    };
  });
}

/** kubeadm's view of managed etcd: external etcd at the members' client URLs, with kctl's client pair. */
function managedAsExternal(
  spec: ClusterSpec,
  members: readonly PlannedEtcdMember[],
  pki: EtcdPki | undefined,
): ClusterSpec {
  if (spec.etcd.mode !== 'managed') return spec;
  return {
    ...spec,
    etcd: {
      mode: 'external',
      endpoints: members.map((m) => etcdClientUrl(m.address)),
      caCert: pki?.ca.certPem ?? '',
      clientCert: pki?.apiserverClient.certPem ?? '',
      clientKey: pki?.apiserverClient.keyPem ?? '',
    },
  };
}

/** Where the enrolled hosts come from: the controller's AsyncStore, or a synchronous Store in tools and tests. */
type HostRows = { listHosts(): HostRecord[] | Promise<HostRecord[]> };

/** resolveCluster over the hosts the store holds now (read once). */
export async function resolveClusterFromStore(
  deps: {
    store: HostRows;
    controllerUrl?: string | undefined;
    etcdPki?: EtcdPki | undefined;
  },
  raw: unknown,
  cniManifest: string | undefined,
): Promise<ResolvedCluster> {
  const hosts = await deps.store.listHosts();
  return resolveCluster({ ...deps, store: { listHosts: () => hosts } }, raw, cniManifest);
}

/**
 * resolveCluster for plans and applies: with etcd.mode managed, the etcd PKI for the resolved
 * members is loaded from the controller's data dir (created or extended there first), so every
 * plan renders the same keys.
 */
export async function resolveClusterWithEtcd(
  deps: {
    store: HostRows;
    controllerUrl?: string | undefined;
    dataDir?: string | undefined;
  },
  raw: unknown,
  cniManifest: string | undefined,
): Promise<ResolvedCluster> {
  const hosts = await deps.store.listHosts();
  const snapshot = { ...deps, store: { listHosts: () => hosts } };
  const cluster = resolveCluster(snapshot, raw, cniManifest);
  if (cluster.spec.etcd.mode !== 'managed') return cluster;
  if (deps.dataDir === undefined)
    throw new KctlError('internal', 'etcd.mode managed: this controller has no data dir for the etcd PKI');
  const etcdPki = await etcdPkiFor(
    deps.dataDir,
    cluster.etcdMembers.map((m) => ({ name: m.name, address: m.address })),
  );
  return resolveCluster({ ...snapshot, etcdPki }, raw, cniManifest);
}
