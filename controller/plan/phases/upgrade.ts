import { KctlError } from '../../../proto/errors.js';
import { parseKubeVersion, type KubeVersion } from '../../../proto/checks.js';
import type { HostSpec } from '../../../proto/host-spec.js';
import type { SpecIssue } from '../../../proto/cluster-spec.js';
import { phase, type DerivedTask, type PlanningContext, type TaskRun } from '../phase.js';
import { isMember, plainVersion } from '../observe.js';
import type { PlannedHost } from '../resolved-cluster.js';

/**
 * Upgrades are declarative: the version in cluster.yaml is the truth, and a node that runs another
 * one is upgraded in kubeadm's order (docs/cluster-yaml.md, "Upgrades"): the first control plane
 * (kubeadm package, `kubeadm upgrade plan`, `kubeadm upgrade apply`), then the other control planes
 * one at a time, then the workers `rollout.maxUnavailable` at a time; on each host the kubeadm
 * package first and the kubelet and kubectl packages after kubeadm's upgrade, the kubelet restarted,
 * the node drained before and uncordoned after.
 */
export interface UpgradeInput {
  from: string;
  to: string;
  first: boolean;
  controlPlane: boolean;
  /** the host spec with the new kubeadm package and the old kubelet and kubectl; absent for preinstalled packages */
  kubeadmStage?: HostSpec;
  /** the host spec with every kube package at the new version */
  finalStage?: HostSpec;
}

const cmp = (a: KubeVersion, b: KubeVersion): number =>
  a.major - b.major || a.minor - b.minor || a.patch - b.patch;

/** The versions a member runs: its kubelet package, its control plane's manifests, its node as the API reports it. */
function versionsOf(
  c: PlanningContext,
  h: PlannedHost,
): { installed?: string; controlPlane?: string; node?: string } {
  const o = c.observed.hosts.get(h.name);
  const node = c.observed.nodes?.find((n) => n.name === h.name);
  const installed = plainVersion(o?.state.kubeletVersion);
  const controlPlane = plainVersion(o?.state.controlPlaneVersion);
  const nodeVersion = plainVersion(node?.kubeletVersion);
  return {
    ...(installed ? { installed } : {}),
    ...(controlPlane ? { controlPlane } : {}),
    ...(nodeVersion ? { node: nodeVersion } : {}),
  };
}

function refuse(message: string): never {
  const issue: SpecIssue = { path: 'kubernetesVersion', message };
  throw new KctlError('invalid_spec', `kubernetesVersion: ${message}`, { details: { issues: [issue] } });
}

/**
 * kubeadm's skew rules, judged at plan time against what the hosts run: never down, one minor at a
 * time, and a version the configured packages can bring.
 */
export function checkUpgradeSkew(c: PlanningContext): void {
  const to = c.cluster.spec.kubernetesVersion;
  const target = parseKubeVersion(to);
  if (!target) return; // the schema already refused it
  const members = [...c.cluster.hosts.values()].filter((h) => isMember(c.observed.hosts.get(h.name)?.state));
  for (const h of members) {
    const v = versionsOf(c, h);
    for (const [what, raw] of [
      ['kubelet package', v.installed],
      ['control plane', v.controlPlane],
      ['node', v.node],
    ] as const) {
      const running = raw ? parseKubeVersion(raw) : undefined;
      if (running && cmp(target, running) < 0)
        refuse(`${to} is older than the ${what} of ${h.name} (${raw}); kubeadm does not downgrade`);
    }
  }
  const controlPlanes = members
    .map((h) => versionsOf(c, h).controlPlane)
    .flatMap((v) => (v ? [parseKubeVersion(v)!] : []));
  const oldest = controlPlanes.sort(cmp)[0];
  if (oldest && (target.major !== oldest.major || target.minor > oldest.minor + 1)) {
    refuse(
      `${to} skips a minor: the control plane runs v${oldest.major}.${oldest.minor}.${oldest.patch}; upgrade to v${oldest.major}.${oldest.minor + 1}.x first (kubeadm's skew policy)`,
    );
  }
  if (c.cluster.spec.packages.source === 'preinstalled') {
    for (const h of members) {
      const installed = versionsOf(c, h).installed;
      if (installed && installed !== to)
        refuse(
          `${to} needs kubeadm and the kubelet at ${to} on ${h.name}, which has ${installed}; with packages.source preinstalled the host image must bring them`,
        );
    }
  }
}

function needsUpgrade(c: PlanningContext, h: PlannedHost): boolean {
  if (!isMember(c.observed.hosts.get(h.name)?.state)) return false;
  const to = c.cluster.spec.kubernetesVersion;
  const v = versionsOf(c, h);
  return (
    (v.installed !== undefined && v.installed !== to) ||
    (h.role === 'control-plane' && v.controlPlane !== undefined && v.controlPlane !== to) ||
    (v.node !== undefined && v.node !== to)
  );
}

function upgradeTask(c: PlanningContext, h: PlannedHost): DerivedTask<UpgradeInput> {
  const to = c.cluster.spec.kubernetesVersion;
  const v = versionsOf(c, h);
  const from = v.controlPlane ?? v.node ?? v.installed ?? 'unknown';
  const first = h.first;
  const input: UpgradeInput = { from, to, first, controlPlane: h.role === 'control-plane' };
  const steps: string[] = [];
  if (c.cluster.spec.packages.source !== 'preinstalled') {
    const target = c.cluster.hostSpecFor(h, to, { member: true });
    const current = c.cluster.hostSpecFor(h, v.installed ?? to, { member: true });
    const keep = new Map(current.packages.map((p) => [p.name, p]));
    input.kubeadmStage = {
      ...target,
      packages: target.packages.map((p) =>
        p.name === 'kubelet' || p.name === 'kubectl' ? (keep.get(p.name) ?? p) : p,
      ),
    };
    input.finalStage = target;
  }
  const kubeadmPkg = input.kubeadmStage?.packages.find((p) => p.name === 'kubeadm');
  const kubeletPkg = input.finalStage?.packages.find((p) => p.name === 'kubelet');
  if (first) {
    if (kubeadmPkg) steps.push(`kubeadm ${kubeadmPkg.version ?? ''}`.trim());
    steps.push(`kubeadm upgrade plan ${to}`, `kubeadm upgrade apply ${to}`, 'drain');
  } else {
    steps.push('drain');
    if (kubeadmPkg) steps.push(`kubeadm ${kubeadmPkg.version ?? ''}`.trim());
    steps.push('kubeadm upgrade node');
  }
  if (kubeletPkg) steps.push(`kubelet and kubectl ${kubeletPkg.version ?? ''}`.trim());
  steps.push('restart kubelet', 'uncordon');
  const repoMove = repoChange(input);
  return {
    host: h.name,
    title: `upgrade ${from} -> ${to}`,
    input,
    detail: `${from} -> ${to}: ${steps.join(', ')}${repoMove ? `; ${repoMove}` : ''}`,
  };
}

/** "package source moves to the v1.32 repository" when the new minor has its own (pkgs.k8s.io). */
function repoChange(input: UpgradeInput): string | undefined {
  const from = parseKubeVersion(input.from);
  const to = parseKubeVersion(input.to);
  if (!from || !to || !input.finalStage || (from.major === to.major && from.minor === to.minor))
    return undefined;
  return `package source moves to the v${to.major}.${to.minor} repository`;
}

async function applyStage(t: TaskRun, host: string, spec: HostSpec, what: string): Promise<void> {
  t.progress(`${what}`);
  const r = await t.call(host, 'host.apply', { spec });
  const failed = r.reports.filter((s) => s.status === 'failed');
  if (failed.length > 0) {
    throw new KctlError(
      'step_failed',
      `${what}: ${failed.map((s) => `${s.title}: ${s.error?.message ?? 'failed'}`).join('; ')}`,
      { retryable: failed.every((s) => s.error?.retryable === true) },
    );
  }
}

const NODE_WAIT_MS = 180_000;
const NODE_POLL_MS = 2_000;

/** After the kubelet restart: the node reports the new version and is Ready, or the task fails (retryable). */
async function waitForNode(t: TaskRun, admin: string, node: string, to: string): Promise<void> {
  const deadline = Date.now() + NODE_WAIT_MS;
  for (;;) {
    const { nodes } = await t.call(admin, 'kubectl.nodes', {});
    const n = nodes.find((x) => x.name === node);
    if (!n || (plainVersion(n.kubeletVersion) === to && n.ready)) return;
    if (Date.now() >= deadline) {
      throw new KctlError(
        'step_failed',
        `node ${node} reports ${n.kubeletVersion}${n.ready ? '' : ' and is not Ready'} ${NODE_WAIT_MS / 1000} s after its kubelet restarted; expected ${to}`,
        { retryable: true },
      );
    }
    await new Promise((r) => setTimeout(r, NODE_POLL_MS));
  }
}

async function upgradeHost(input: UpgradeInput, host: string, t: TaskRun): Promise<unknown> {
  const first = t.cluster.first;
  if (!first) throw new KctlError('invalid_spec', 'The cluster has no first control plane');
  const admin = first.name;
  const state = await t.call(host, 'kubeadm.state', {});
  const registered = (await t.call(admin, 'kubectl.nodes', {})).nodes.some((n) => n.name === host);
  const done: string[] = [];
  if (!input.first && registered) {
    t.progress('drain');
    await t.call(admin, 'kubectl.drain', { node: host });
    done.push('drain');
  }
  if (input.kubeadmStage) {
    await applyStage(t, host, input.kubeadmStage, 'kubeadm package');
    done.push('kubeadm package');
  }
  const controlPlaneAt = plainVersion(state.controlPlaneVersion);
  if (input.first) {
    if (controlPlaneAt !== input.to) {
      t.progress(`kubeadm upgrade plan ${input.to}`);
      await t.call(host, 'kubeadm.upgradePlan', { version: input.to });
      t.progress(`kubeadm upgrade apply ${input.to}`);
      await t.call(host, 'kubeadm.upgradeApply', { version: input.to });
      done.push(`kubeadm upgrade apply ${input.to}`);
    }
    if (registered) {
      t.progress('drain');
      await t.call(admin, 'kubectl.drain', { node: host });
      done.push('drain');
    }
  } else if (!(input.controlPlane && controlPlaneAt === input.to)) {
    t.progress('kubeadm upgrade node');
    await t.call(host, 'kubeadm.upgradeNode', {});
    done.push('kubeadm upgrade node');
  }
  if (input.finalStage) {
    await applyStage(t, host, input.finalStage, 'kubelet and kubectl packages');
    done.push('kubelet and kubectl packages');
  }
  t.progress('restart kubelet');
  await t.call(host, 'service.restart', { unit: 'kubelet.service' });
  done.push('restart kubelet');
  if (registered) {
    await waitForNode(t, admin, host, input.to);
    t.progress('uncordon');
    await t.call(admin, 'kubectl.uncordon', { node: host });
    done.push('uncordon');
  }
  return { from: input.from, to: input.to, done };
}

export const upgradeFirstPhase = phase<UpgradeInput>({
  id: 'upgrade-first',
  operation: 'apply',
  title: 'Upgrade the first control plane',
  summary:
    'kubeadm package, kubeadm upgrade plan and apply, kubelet and kubectl, when cluster.yaml names a newer version',
  mode: 'serial',
  concurrency: () => 1,
  tasks: (c) => {
    checkUpgradeSkew(c);
    const first = c.cluster.first;
    return first && needsUpgrade(c, first) ? [upgradeTask(c, first)] : [];
  },
  run: upgradeHost,
});

export const upgradeControlPlanesPhase = phase<UpgradeInput>({
  id: 'upgrade-control-planes',
  operation: 'apply',
  title: 'Upgrade the other control planes (one at a time)',
  summary: 'drain, kubeadm package, kubeadm upgrade node, kubelet and kubectl, restart, uncordon',
  mode: 'serial',
  concurrency: () => 1,
  tasks: (c) =>
    [...c.cluster.hosts.values()]
      .filter((h) => h.role === 'control-plane' && !h.first && needsUpgrade(c, h))
      .map((h) => upgradeTask(c, h)),
  run: upgradeHost,
});

export const upgradeWorkersPhase = phase<UpgradeInput>({
  id: 'upgrade-workers',
  operation: 'apply',
  title: 'Upgrade the workers',
  summary: 'the same on the workers, rollout.maxUnavailable at a time',
  mode: 'parallel',
  concurrency: (spec) => spec.rollout.maxUnavailable,
  tasks: (c) =>
    [...c.cluster.hosts.values()]
      .filter((h) => h.role === 'worker' && needsUpgrade(c, h))
      .map((h) => upgradeTask(c, h)),
  run: upgradeHost,
});
