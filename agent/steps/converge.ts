import { performance } from 'node:perf_hooks';
import { KctlError, toWireError } from '../../proto/errors.js';
import type { Change, StepPlan, StepReport } from '../../proto/results.js';
import type { Host } from '../host/host.js';
import type { Step } from './step.js';
import { RESTARTS_STEP_ID, pendingRestarts, runRestarts } from './restarts.js';

/** Steps in dependency order (stable: spec order among independent steps). */
export function orderSteps(steps: readonly Step[]): Step[] {
  const byId = new Map(steps.map((s) => [s.id, s]));
  const out: Step[] = [];
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (s: Step): void => {
    if (state.get(s.id) === 'done') return;
    if (state.get(s.id) === 'visiting')
      throw new KctlError('invalid_spec', `step dependency cycle at "${s.id}"`);
    state.set(s.id, 'visiting');
    for (const d of s.dependsOn) {
      const dep = byId.get(d);
      if (dep) visit(dep);
    }
    state.set(s.id, 'done');
    out.push(s);
  };
  for (const s of steps) visit(s);
  return out;
}

/** plan = the diff of every step; nothing on the host is touched. */
export async function planSteps(host: Host, steps: readonly Step[]): Promise<StepPlan[]> {
  const plans: StepPlan[] = [];
  for (const s of orderSteps(steps))
    plans.push({ stepId: s.id, title: s.title, changes: await s.diff(host) });
  return plans;
}

export interface ApplyOptions {
  /** called when a step starts changing the host */
  onProgress?: (message: string, stepId: string) => void;
  /**
   * Apply only these steps. The others are diffed but not applied (reported `skipped` with their
   * pending changes), and a selected step that depends on one of them with pending changes is
   * skipped too: it would run on a host that is not ready for it.
   */
  only?: readonly string[];
}

/**
 * apply = for each step in order: diff, apply exactly those changes, diff again. A step whose
 * second diff is not empty failed; steps that depend on a failed step are skipped.
 */
export async function applySteps(
  host: Host,
  steps: readonly Step[],
  options: ApplyOptions = {},
): Promise<StepReport[]> {
  const onProgress = options.onProgress ?? (() => undefined);
  const selected = options.only ? new Set(options.only) : undefined;
  const reports: StepReport[] = [];
  /** steps whose host state is not converged after this run: their dependents must not run */
  const blocked = new Set<string>();
  for (const s of orderSteps(steps)) {
    const t0 = performance.now();
    const ms = (): number => Math.round((performance.now() - t0) * 10) / 10;
    const report = (status: StepReport['status'], changes: Change[], err?: unknown): void => {
      reports.push({
        stepId: s.id,
        title: s.title,
        status,
        changes,
        durationMs: ms(),
        ...(err !== undefined ? { error: toWireError(err) } : {}),
      });
    };
    const blocker = s.dependsOn.find((d) => blocked.has(d));
    if (blocker !== undefined) {
      blocked.add(s.id);
      report(
        'skipped',
        [],
        new KctlError('step_failed', `${s.title}: not run because "${blocker}" did not converge`),
      );
      continue;
    }
    try {
      const changes = await s.diff(host);
      if (changes.length === 0) {
        report('unchanged', changes);
        continue;
      }
      if (selected && !selected.has(s.id)) {
        blocked.add(s.id);
        report('skipped', changes);
        continue;
      }
      onProgress(`applying ${s.title} (${changes.length} change${changes.length === 1 ? '' : 's'})`, s.id);
      await s.apply(host, changes);
      const left = await s.diff(host);
      if (left.length > 0) {
        throw new KctlError(
          'step_failed',
          `${s.title}: ${left.length} change(s) still pending after apply: ${left.map(describeChange).join('; ')}`,
        );
      }
      report('applied', changes);
    } catch (err) {
      blocked.add(s.id);
      report('failed', [], err);
    }
  }
  // restarts wait for every file and package: a unit restarted once, on its final configuration
  const pending = pendingRestarts(reports.filter((r) => r.status === 'applied').flatMap((r) => r.changes));
  if (pending) {
    onProgress(
      pending.restarts.length > 0
        ? `restarting ${pending.restarts.map((c) => c.unit).join(', ')}`
        : 'reloading systemd units',
      RESTARTS_STEP_ID,
    );
    reports.push(await runRestarts(host, pending));
  }
  return reports;
}

export function describeChange(c: StepPlan['changes'][number]): string {
  switch (c.kind) {
    case 'file':
      return `${c.previousSha256 === null ? 'create' : 'update'} ${c.path}`;
    case 'sysctl':
      return `${c.key}: ${c.from ?? '(unset)'} -> ${c.to}`;
    case 'module':
      return c.action === 'load'
        ? `load module ${c.name}`
        : `module ${c.name} missing (needed by ${c.requiredFor})`;
    case 'swapoff':
      return `swapoff ${c.device}`;
    case 'fstab-comment':
      return `comment out fstab swap line "${c.line}"`;
    case 'unit-mask':
      return `mask ${c.unit}`;
    case 'service':
      return `${c.action} ${c.unit}`;
    case 'package':
      return `${c.name}: ${c.from ?? '(not installed)'} -> ${c.to}`;
    case 'package-hold':
      return `hold ${c.name}`;
    case 'service-restart':
      return `restart ${c.unit} (${c.reason})`;
    case 'package-index':
      return `refresh package index (${c.reason})`;
    case 'bundle-file':
      return `${c.action} ${c.path} (${c.reason})`;
    case 'trust-store':
      return `run ${c.program} (${c.reason})`;
    case 'image':
      return `import image ${c.ref} (${c.reason})`;
  }
}
