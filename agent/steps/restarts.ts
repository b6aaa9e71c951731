import { performance } from 'node:perf_hooks';
import { toWireError } from '../../proto/errors.js';
import type { Change, StepReport } from '../../proto/results.js';
import type { Host } from '../host/host.js';

type RestartChange = Extract<Change, { kind: 'service-restart' }>;

/** The restarts a step plans beside a change it makes: one per unit, with what triggered it. */
export function restartChanges(units: readonly string[] | undefined, reason: string): RestartChange[] {
  return (units ?? []).map((unit) => ({ kind: 'service-restart', unit, reason }));
}

/** Where unit files and drop-ins live: a change there needs `systemctl daemon-reload`. */
const UNIT_DIRS = ['/etc/systemd/system/', '/lib/systemd/system/', '/usr/lib/systemd/system/'];

const isUnitFile = (c: Change): boolean => c.kind === 'file' && UNIT_DIRS.some((d) => c.path.startsWith(d));

export const RESTARTS_STEP_ID = 'service-restarts';

/** Exists when systemd is the init system (sd_booted(3)). */
export const SYSTEMD_RUNTIME_DIR = '/run/systemd/system';

export interface PendingRestarts {
  /** one per unit, the reasons of every change that asked for it joined */
  restarts: RestartChange[];
  /** systemd must read unit files again first: one changed, or a package that may ship one moved */
  daemonReload: boolean;
}

/**
 * What the applied changes of a run ask for: each unit once, however many of its files and
 * packages changed. A unit this run has just started already runs on its new configuration.
 */
export function pendingRestarts(applied: readonly Change[]): PendingRestarts | undefined {
  const started = new Set<string>();
  for (const c of applied) if (c.kind === 'service' && c.action === 'start') started.add(c.unit);
  const byUnit = new Map<string, RestartChange>();
  for (const c of applied) {
    if (c.kind !== 'service-restart' || started.has(c.unit)) continue;
    const seen = byUnit.get(c.unit);
    byUnit.set(c.unit, seen ? { ...seen, reason: `${seen.reason}; ${c.reason}` } : c);
  }
  const unitFiles = applied.some(isUnitFile);
  if (byUnit.size === 0 && !unitFiles) return undefined;
  return {
    restarts: [...byUnit.values()],
    daemonReload: unitFiles || (byUnit.size > 0 && applied.some((c) => c.kind === 'package')),
  };
}

/**
 * Runs them after every step, as one report. `try-restart` restarts only a unit that runs: a
 * stopped one reads the new configuration when it starts (a later step, kubeadm, or its own
 * Restart=), and a unit not installed yet is no failure.
 */
export async function runRestarts(host: Host, pending: PendingRestarts): Promise<StepReport> {
  const t0 = performance.now();
  const report = (status: StepReport['status'], err?: unknown): StepReport => ({
    stepId: RESTARTS_STEP_ID,
    title: 'restart services whose configuration changed',
    status,
    changes: pending.restarts,
    durationMs: Math.round((performance.now() - t0) * 10) / 10,
    ...(err !== undefined ? { error: toWireError(err) } : {}),
  });
  // sd_booted(): without systemd as init there is no unit to restart (systemctl itself would refuse);
  // the new configuration is read when the service starts under systemd
  if (!(await host.stat(SYSTEMD_RUNTIME_DIR))?.isDirectory) return report('skipped');
  try {
    if (pending.daemonReload) await host.run('systemctl', ['daemon-reload'], { timeoutMs: 120_000 });
    for (const c of pending.restarts)
      await host.run('systemctl', ['try-restart', '--', c.unit], { timeoutMs: 300_000 });
    return report('applied');
  } catch (err) {
    return report('failed', err);
  }
}
