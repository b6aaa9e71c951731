import { KctlError } from '../../../proto/errors.js';
import type { LoadBalancerCheckSpec, PreflightSpec } from '../../../proto/checks.js';
import type { HostSpec } from '../../../proto/host-spec.js';
import type { Change, StepPlan } from '../../../proto/results.js';
import type { ClusterSpec } from '../../../proto/cluster-spec.js';
import { createsKeepalivedConfig } from '../lb-observe.js';
import { isMember } from '../observe.js';
import { phase, type DerivedTask, type PlanningContext, type TaskRun } from '../phase.js';

/**
 * ha.mode haproxy-keepalived. First the VIP and VRRP checks on every host about to get kctl's
 * keepalived for the first time (lb hosts, else control planes); then, with lb hosts, each gets
 * HAProxy, keepalived, their files and ip_nonlocal_bind (controller/plan/lb-host-spec.ts). Both
 * before prepare (which gives the control planes theirs when there are no lb hosts), so nothing is
 * installed on a network whose VIP is taken, and the VIP answers before `kubeadm init` dials it.
 */

/** lb hosts are few, and keepalived's peers come up together. */
const LB_ALL_AT_ONCE = 64;

export interface LoadBalancerCheckInput {
  checks: LoadBalancerCheckSpec;
}

export interface LoadBalancerTaskInput {
  /** what the dedicated lb host converges to */
  hostSpec: HostSpec;
}

interface Balancer {
  name: string;
  address: string | undefined;
  steps: readonly StepPlan[] | undefined;
}

function balancersOf(c: PlanningContext): { dedicated: boolean; balancers: Balancer[] } {
  const lbs = c.cluster.loadBalancers;
  if (lbs.length > 0)
    return {
      dedicated: true,
      balancers: lbs.map((lb) => ({
        name: lb.name,
        address: lb.address,
        steps: c.observed.loadBalancers?.plans.get(lb.name),
      })),
    };
  const cps = [...c.cluster.hosts.values()].filter((h) => h.role === 'control-plane');
  return {
    dedicated: false,
    balancers: cps.map((h) => ({
      name: h.name,
      address: h.address,
      steps: c.observed.hosts.get(h.name)?.prepare,
    })),
  };
}

/** The checks one balancer runs: the VIP must be free only while no balancer has kctl's keepalived yet. */
export function loadBalancerCheckSpec(
  spec: ClusterSpec,
  self: { name: string; address: string | undefined },
  balancers: readonly { name: string; address: string | undefined }[],
  options: { vipMustBeFree: boolean; dedicated: boolean },
): LoadBalancerCheckSpec | undefined {
  if (spec.ha.mode !== 'haproxy-keepalived' || self.address === undefined) return undefined;
  return {
    vip: spec.ha.vip,
    interface: spec.ha.interface,
    address: self.address,
    peers: balancers.flatMap((b) => (b.name !== self.name && b.address !== undefined ? [b.address] : [])),
    port: spec.controlPlaneEndpoint.port,
    vipMustBeFree: options.vipMustBeFree,
    bindsVip: options.dedicated,
  };
}

function lbPreflightSpec(spec: ClusterSpec, checks: LoadBalancerCheckSpec): PreflightSpec {
  // role and version are required fields; with `only` the agent runs the load balancer checks alone
  return {
    role: 'worker',
    kubernetesVersion: spec.kubernetesVersion,
    isFirstControlPlane: false,
    kubeProxyMode: spec.kubeProxy.mode,
    only: 'load-balancer',
    loadBalancer: checks,
  };
}

/** The VIP and VRRP checks on every balancer that gets kctl's keepalived.conf for the first time. */
function deriveCheckTasks(c: PlanningContext): Array<DerivedTask<LoadBalancerCheckInput>> {
  if (c.cluster.spec.ha.mode !== 'haproxy-keepalived') return [];
  const { dedicated, balancers } = balancersOf(c);
  const vipMustBeFree = balancers.every((b) => createsKeepalivedConfig(b.steps));
  return balancers.flatMap((b) => {
    if (!createsKeepalivedConfig(b.steps)) return [];
    if (!dedicated && isMember(c.observed.hosts.get(b.name)?.state)) return [];
    const checks = loadBalancerCheckSpec(c.cluster.spec, b, balancers, { vipMustBeFree, dedicated });
    if (checks === undefined) return [];
    return [{ host: b.name, title: 'VIP and VRRP checks', input: { checks }, detail: checkDetail(checks) }];
  });
}

/** Each dedicated lb host whose plan shows changes. */
function deriveConvergeTasks(c: PlanningContext): Array<DerivedTask<LoadBalancerTaskInput>> {
  if (c.cluster.spec.ha.mode !== 'haproxy-keepalived') return [];
  return c.cluster.loadBalancers.flatMap((lb) => {
    const changes: Change[] = (c.observed.loadBalancers?.plans.get(lb.name) ?? []).flatMap((s) => s.changes);
    if (changes.length === 0) return [];
    return [
      {
        host: lb.name,
        title: 'converge lb host',
        input: { hostSpec: c.cluster.lbHostSpecFor(lb) },
        detail: `${changes.length} change(s)`,
        changes,
      },
    ];
  });
}

function checkDetail(checks: LoadBalancerCheckSpec): string {
  return checks.vipMustBeFree
    ? `VIP ${checks.vip} free, VRRP peers on ${checks.interface}`
    : `VRRP peers on ${checks.interface}`;
}

async function runChecks(host: string, checks: LoadBalancerCheckSpec, t: TaskRun): Promise<string[]> {
  const r = await t.call(host, 'preflight.run', { spec: lbPreflightSpec(t.cluster.spec, checks) });
  const failed = r.results.filter((x) => x.status === 'fail');
  if (failed.length > 0)
    throw new KctlError(
      'check_failed',
      `load balancer host "${host}": ${failed.map((x) => `${x.id} (${x.observed})`).join('; ')}`,
      {
        details: {
          failed: failed.map((x) => x.id),
          remedy: failed.map((x) => `${x.id}: ${x.remedy}`).join('; '),
        },
      },
    );
  return r.results.filter((x) => x.status === 'warn').map((x) => x.id);
}

async function converge(host: string, hostSpec: HostSpec, t: TaskRun): Promise<string[]> {
  const r = await t.call(host, 'host.apply', { spec: hostSpec });
  const failed = r.reports.filter((s) => s.status === 'failed');
  if (failed.length > 0) {
    const first = failed[0]?.error;
    throw new KctlError(
      'step_failed',
      `load balancer host "${host}": ${failed.map((s) => `${s.title}: ${s.error?.message ?? 'failed'}`).join('; ')}`,
      {
        retryable: failed.every((s) => s.error?.retryable === true),
        ...(first?.details ? { details: first.details } : {}),
      },
    );
  }
  return r.reports.filter((s) => s.status === 'applied').map((s) => s.stepId);
}

/**
 * Before any keepalived of the cluster starts (the next phase, or prepare), so that no balancer of
 * this cluster answers for the VIP while another one probes it.
 */
export const loadBalancerChecksPhase = phase<LoadBalancerCheckInput>({
  id: 'load-balancer-checks',
  operation: 'apply',
  title: 'VIP and VRRP checks',
  summary:
    "ha.mode haproxy-keepalived, before keepalived is first set up: the VIP answers nowhere, VRRP peers and the VIP on the interface's link, ip_nonlocal_bind on lb hosts",
  mode: 'parallel',
  concurrency: () => LB_ALL_AT_ONCE,
  tasks: deriveCheckTasks,
  async run(input, host, t) {
    return { warnings: await runChecks(host, input.checks, t) };
  },
});

export const loadBalancersPhase = phase<LoadBalancerTaskInput>({
  id: 'load-balancers',
  operation: 'apply',
  title: 'Dedicated load balancer hosts',
  summary:
    'ha.mode haproxy-keepalived with lb hosts: HAProxy (binding the VIP, every API server behind it), keepalived, ip_nonlocal_bind',
  mode: 'parallel',
  concurrency: () => LB_ALL_AT_ONCE,
  tasks: deriveConvergeTasks,
  async run(input, host, t) {
    return { applied: await converge(host, input.hostSpec, t) };
  },
});
