import type { Host } from '../host/host.js';
import type { HostProbes } from '../probes/host-probes.js';
import type { CheckSeverity, PreflightSpec } from '../../proto/checks.js';
import { compareMinor, parseKubeVersion } from '../../proto/checks.js';

/** Which kubeadm command the node will run; kubeadm's check lists differ by it (kubeadm-facts §1.3, §1.4). */
export type Phase = 'init' | 'control-plane-join' | 'worker-join';

export const ALL_PHASES: readonly Phase[] = ['init', 'control-plane-join', 'worker-join'];
export const CONTROL_PLANE_PHASES: readonly Phase[] = ['init', 'control-plane-join'];
export const JOIN_PHASES: readonly Phase[] = ['control-plane-join', 'worker-join'];

export function phaseOf(spec: PreflightSpec): Phase {
  if (spec.role === 'worker') return 'worker-join';
  return spec.isFirstControlPlane ? 'init' : 'control-plane-join';
}

export interface CheckInput {
  host: Host;
  spec: PreflightSpec;
  probes: HostProbes;
  /** the agent's environment (for *_proxy); tests pass their own */
  env: Readonly<Record<string, string | undefined>>;
  /** true when the name resolves to an address; DNS with a short timeout in the agent */
  resolveName: (name: string) => Promise<boolean>;
  /** free bytes of the filesystem holding the path, undefined when it cannot be measured */
  freeBytes: (path: string) => Promise<number | undefined>;
  /** this host's clock offset from the controller's, measured over the agent channel; absent in tools */
  clockOffset?: () => { offsetMs: number; uncertaintyMs: number } | undefined;
}

/** What a check found; severity turns 'fail' into 'warn' for warning checks when results are built. */
export interface CheckOutcome {
  status: 'pass' | 'warn' | 'fail' | 'skip';
  observed: string;
  expected: string;
  remedy?: string;
}

export interface AppliesTo {
  /** every phase when absent */
  phases?: readonly Phase[];
  /** Kubernetes minor versions [from, below): "1.30" */
  fromVersion?: string;
  belowVersion?: string;
}

export interface Check {
  /** kubeadm's name where one exists, so --ignore-preflight-errors names work */
  id: string;
  title: string;
  severity: CheckSeverity;
  /** a kubeadm name that also ignores this check (e.g. SystemVerification for SystemVerification-Cgroups) */
  ignoreGroup?: string;
  appliesTo: AppliesTo;
  run(input: CheckInput): Promise<CheckOutcome>;
}

export function checkApplies(check: Check, spec: PreflightSpec): boolean {
  const { phases, fromVersion, belowVersion } = check.appliesTo;
  if (phases && !phases.includes(phaseOf(spec))) return false;
  const target = parseKubeVersion(spec.kubernetesVersion);
  if (target === undefined) return true;
  const from = fromVersion === undefined ? undefined : parseKubeVersion(fromVersion);
  const below = belowVersion === undefined ? undefined : parseKubeVersion(belowVersion);
  if (from && compareMinor(target, from) < 0) return false;
  if (below && compareMinor(target, below) >= 0) return false;
  return true;
}

export const pass = (observed: string, expected: string): CheckOutcome => ({
  status: 'pass',
  observed,
  expected,
});
export const fail = (observed: string, expected: string, remedy: string): CheckOutcome => ({
  status: 'fail',
  observed,
  expected,
  remedy,
});
export const skip = (observed: string, expected: string): CheckOutcome => ({
  status: 'skip',
  observed,
  expected,
});

/** kubeadm's name for a path check: "/etc/kubernetes/kubelet.conf" -> "<kind>--etc-kubernetes-kubelet.conf". */
export function pathCheckId(
  kind: 'FileAvailable' | 'DirAvailable' | 'FileContent' | 'FileExisting',
  path: string,
): string {
  return `${kind}-${path.replace(/\//g, '-')}`;
}
