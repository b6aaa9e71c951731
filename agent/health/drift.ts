import type { HealthResult } from '../../proto/health.js';
import type { Change, StepPlan } from '../../proto/results.js';
import { planSteps } from '../steps/converge.js';
import { stepsForHostSpec } from '../steps/index.js';
import type { HealthCheck } from './health-check.js';
import { finding } from './health-check.js';

/** One change of a plan in a few words: what on the host differs from what kctl put there. */
export function describeChange(c: Change): string {
  switch (c.kind) {
    case 'file':
      return `file ${c.path} ${c.previousSha256 === null ? 'missing' : 'changed'}`;
    case 'sysctl':
      return `sysctl ${c.key} is ${c.from ?? 'unset'}, want ${c.to}`;
    case 'module':
      return `module ${c.name} not loaded`;
    case 'swapoff':
      return `swap on ${c.device}`;
    case 'fstab-comment':
      return `fstab swap line active: ${c.line}`;
    case 'unit-mask':
      return `unit ${c.unit} not masked`;
    case 'service':
      return `service ${c.unit} needs ${c.action}`;
    case 'service-restart':
      return `service ${c.unit} needs restart (${c.reason})`;
    case 'package':
      return `package ${c.name} is ${c.from ?? 'not installed'}, want ${c.to}`;
    case 'package-hold':
      return `package ${c.name} not held`;
    case 'package-index':
      return `package index stale (${c.reason})`;
    case 'bundle-file':
      return `bundle file ${c.path} ${c.reason}`;
    case 'trust-store':
      return `CA bundle stale (${c.reason})`;
    case 'image':
      return `image ${c.ref} ${c.reason} in containerd`;
  }
}

const MAX_LISTED = 8;

/**
 * Pure judge: every step of the host's plan that still has changes is drift from what kctl put in
 * place; no pending change is one ok result.
 */
export function judgeDrift(plan: readonly StepPlan[]): HealthResult[] {
  const drifted = plan.filter((s) => s.changes.length > 0);
  if (drifted.length === 0)
    return [finding('Drift', 'host as kctl converged it', 'ok', 'no difference from the cluster spec')];
  return drifted.map((s) => {
    const listed = s.changes.slice(0, MAX_LISTED).map(describeChange);
    const more = s.changes.length > MAX_LISTED ? ` and ${s.changes.length - MAX_LISTED} more` : '';
    return finding(
      `Drift-${s.stepId}`,
      `${s.title}: as kctl converged it`,
      'warning',
      listed.join('; ') + more,
      'kctl plan -f cluster.yaml shows the difference; kctl apply -f cluster.yaml puts it back',
    );
  });
}

export const driftCheck: HealthCheck = {
  id: 'Drift',
  run: async ({ host, spec, bundle }) => {
    if (!spec) return [];
    return judgeDrift(await planSteps(host, stepsForHostSpec(spec, { bundle })));
  },
};
