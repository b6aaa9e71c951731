import type { ClusterSpec } from '../../proto/cluster-spec.js';
import type { PreflightSpec } from '../../proto/checks.js';
import type { HostSpec } from '../../proto/host-spec.js';
import type { ClusterPlan, Phase, Task } from '../orchestrator/plan.js';
import type { HostAssignment } from '../spec/resolve.js';

export interface PlannedHost extends HostAssignment {
  kernelRelease: string;
  /** /etc/os-release ID, which picks deb or rpm */
  osId: string;
  /** what the prepare phase converges this host to */
  hostSpec: HostSpec;
}

export interface PlanOptions {
  /** hosts prepared at once, and workers joined at once */
  concurrency?: number;
  cniManifest?: string;
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

function task(
  phase: string,
  host: string,
  kind: Task['kind'],
  title: string,
  input: Record<string, unknown>,
): Task {
  return { id: `${phase}/${host}`, phase, host, kind, title, input };
}

/**
 * The cluster-wide order as data (DESIGN.md, Orchestrator). Every host appears in every phase
 * that concerns it; each task checks the host's real state first, so a task for a host that is
 * already there is a cheap no-op and the plan stays the same across resumes.
 */
export function buildClusterPlan(
  spec: ClusterSpec,
  hosts: readonly PlannedHost[],
  options: PlanOptions = {},
): ClusterPlan {
  const limit = options.concurrency ?? 10;
  const first = hosts.find((h) => h.first);
  const cps = hosts.filter((h) => h.role === 'control-plane' && !h.first);
  const workers = hosts.filter((h) => h.role === 'worker');
  const phase = (id: string, title: string, mode: Phase['mode'], tasks: Task[]): Phase => ({
    id,
    title,
    mode,
    concurrency: limit,
    tasks,
  });
  const phases: Phase[] = [
    phase(
      'preflight',
      'Preflight checks',
      'parallel',
      hosts.map((h) =>
        task('preflight', h.name, 'preflight', 'preflight checks', { spec: preflightSpecFor(spec, h) }),
      ),
    ),
    phase(
      'prepare',
      'Prepare hosts',
      'parallel',
      hosts.map((h) => task('prepare', h.name, 'prepare', 'converge host', { hostSpec: h.hostSpec })),
    ),
  ];
  if (first) {
    phases.push(
      phase('init', 'Initialise the first control plane', 'serial', [
        task('init', first.name, 'init', 'kubeadm init', { address: first.address ?? null }),
      ]),
    );
    if (cps.length + workers.length > 0) {
      phases.push(
        phase('join-material', 'Mint join material', 'serial', [
          task('join-material', first.name, 'join-material', 'bootstrap token and certificate upload', {
            joiners: [...cps, ...workers].map((h) => h.name),
          }),
        ]),
      );
    }
    phases.push(
      phase(
        'control-planes',
        'Join control planes (one at a time)',
        'serial',
        cps.map((h) =>
          task('control-planes', h.name, 'join-control-plane', 'kubeadm join --control-plane', {
            address: h.address ?? null,
          }),
        ),
      ),
      phase(
        'workers',
        'Join workers',
        'parallel',
        workers.map((h) => task('workers', h.name, 'join-worker', 'kubeadm join', {})),
      ),
    );
    if (spec.cni.plugin !== 'none' && options.cniManifest !== undefined) {
      phases.push(
        phase('cni', 'Install the CNI', 'serial', [
          task('cni', first.name, 'cni', `kubectl apply ${spec.cni.plugin}`, {
            plugin: spec.cni.plugin,
            manifest: options.cniManifest,
          }),
        ]),
      );
    }
    phases.push(
      phase('verify', 'Verify nodes are Ready', 'serial', [
        task('verify', first.name, 'verify', 'nodes Ready', { nodes: hosts.map((h) => h.name) }),
      ]),
    );
  }
  return { cluster: spec.name, phases: phases.filter((p) => p.tasks.length > 0) };
}
