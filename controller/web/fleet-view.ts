import type { HostRecord } from '../store/store.js';
import type { ApplyRecord, StepRecord } from '../orchestrator/apply-store.js';
import { runFleetChecks } from '../fleet-checks.js';
import { kubeVersionOf } from '../fleet-facts.js';
import { healthLevel } from './fleet-health-level.js';
import type {
  ApplySummary,
  FleetHostRow,
  FleetSnapshot,
  FleetSummary,
  HostApply,
  HostHealthSummary,
  HostStatus,
  PreflightSummary,
} from './fleet-api.js';
import type { StoredPreflight } from './preflight-results.js';

export interface FleetInput {
  hosts: readonly HostRecord[];
  isOnline(hostId: string): boolean;
  /** summaries by host id */
  preflight: ReadonlyMap<string, PreflightSummary>;
  /** the newest apply and its step journal, if any */
  apply: { record: ApplyRecord; steps: readonly StepRecord[] } | null;
  /** each host's part in the newest apply that touched it, by host name (lastApplyByHost) */
  lastApply?: ReadonlyMap<string, HostApply>;
  /** each host's last health run, by host id */
  health?: ReadonlyMap<string, HostHealthSummary>;
  /** target version for the skew check; null skips it */
  kubernetesVersion: string | null;
  now: number;
  heartbeatIntervalMs: number;
}

export function summarizePreflight(p: StoredPreflight): PreflightSummary {
  const counts = { pass: 0, warn: 0, fail: 0, skip: 0 };
  for (const r of p.results ?? []) counts[r.status]++;
  return { ...counts, at: p.at, error: p.error ? p.error.message : null };
}

export function rolesOf(labels: Record<string, string>): string[] {
  const role = labels.role;
  if (role === undefined) return [];
  return role
    .split(',')
    .map((r) => r.trim())
    .filter((r) => r !== '');
}

function statusOf(host: HostRecord, online: boolean): HostStatus {
  if (host.state === 'revoked') return 'revoked';
  return online ? 'online' : 'offline';
}

interface PlanShape {
  phases: Array<{ id: string; title: string; tasks: Array<{ id: string; title: string; host: string }> }>;
}

function planShape(plan: unknown): PlanShape {
  const phases: PlanShape['phases'] = [];
  const raw = (plan as { phases?: unknown } | null)?.phases;
  if (!Array.isArray(raw)) return { phases };
  for (const p of raw as Array<Record<string, unknown>>) {
    const tasks = Array.isArray(p.tasks) ? (p.tasks as Array<Record<string, unknown>>) : [];
    phases.push({
      id: String(p.id),
      title: String(p.title ?? p.id),
      tasks: tasks.map((t) => ({ id: String(t.id), title: String(t.title ?? t.id), host: String(t.host) })),
    });
  }
  return { phases };
}

/** The first `kubernetesVersion` string anywhere in a plan (task inputs carry the cluster's). */
export function kubernetesVersionOfPlan(plan: unknown): string | null {
  const seen = new Set<unknown>();
  const walk = (v: unknown): string | null => {
    if (v === null || typeof v !== 'object' || seen.has(v)) return null;
    seen.add(v);
    for (const [k, child] of Object.entries(v as Record<string, unknown>)) {
      if (k === 'kubernetesVersion' && typeof child === 'string') return child;
      const found = walk(child);
      if (found !== null) return found;
    }
    return null;
  };
  return walk(plan);
}

function titlesOf(plan: PlanShape): Map<string, string> {
  return new Map(plan.phases.flatMap((p) => p.tasks.map((t) => [t.id, t.title] as const)));
}

function summarizeApply(record: ApplyRecord, steps: readonly StepRecord[]): ApplySummary {
  const plan = planShape(record.plan);
  const stepById = new Map(steps.map((s) => [s.taskId, s]));
  const titleOf = titlesOf(plan);
  let phasesDone = 0;
  let current: { id: string; title: string } | null = null;
  for (const phase of plan.phases) {
    const done = phase.tasks.every((t) => stepById.get(t.id)?.status === 'done');
    if (done) phasesDone++;
    else if (current === null) current = { id: phase.id, title: phase.title };
  }
  const tasksTotal = plan.phases.reduce((n, p) => n + p.tasks.length, 0);
  return {
    id: record.id,
    cluster: record.cluster,
    status: record.status,
    startedAt: record.startedAt,
    finishedAt: record.finishedAt,
    phase: current,
    phasesDone,
    phasesTotal: plan.phases.length,
    tasksDone: steps.filter((s) => s.status === 'done').length,
    tasksTotal,
    failures: steps
      .filter((s) => s.status === 'failed')
      .map((s) => ({
        host: s.host,
        step: titleOf.get(s.taskId) ?? s.taskId,
        message: s.error?.message ?? 'failed',
      })),
  };
}

/**
 * Each host's part in the newest apply that had a task on it (applies newest first): its failed
 * task, else its running one, else its last task, done. A host the newest apply left alone (an
 * apply that only added other hosts) keeps what an older apply did on it.
 */
export function lastApplyByHost(
  applies: ReadonlyArray<{ record: ApplyRecord; steps: readonly StepRecord[] }>,
): Map<string, HostApply> {
  const out = new Map<string, HostApply>();
  for (const { record, steps } of applies) {
    const byHost = new Map<string, StepRecord[]>();
    for (const s of steps) {
      if (out.has(s.host)) continue;
      const list = byHost.get(s.host) ?? [];
      list.push(s);
      byHost.set(s.host, list);
    }
    if (byHost.size === 0) continue;
    const titleOf = titlesOf(planShape(record.plan));
    for (const [host, list] of byHost) {
      const latest = list.reduce((a, b) => (b.startedAt >= a.startedAt ? b : a));
      const pick =
        list.find((s) => s.status === 'failed') ?? list.find((s) => s.status === 'running') ?? latest;
      out.set(host, {
        phase: pick.phase,
        step: titleOf.get(pick.taskId) ?? pick.taskId,
        state: pick.status,
        applyId: record.id,
        at: pick.finishedAt ?? pick.startedAt,
      });
    }
  }
  return out;
}

/** Everything the fleet page shows, from the store's records: a pure function of its input. */
export function buildFleetSnapshot(input: FleetInput): FleetSnapshot {
  const applied = input.apply ? summarizeApply(input.apply.record, input.apply.steps) : null;
  const lastApply: ReadonlyMap<string, HostApply> =
    input.lastApply ?? (input.apply ? lastApplyByHost([input.apply]) : new Map<string, HostApply>());
  const byStatus: Record<HostStatus, number> = { online: 0, offline: 0, revoked: 0 };
  const preflight = { failing: 0, warning: 0, notRun: 0 };
  const health = { ok: 0, warning: 0, critical: 0, notRun: 0 };
  const hosts = input.hosts.map((h): FleetHostRow => {
    const status = statusOf(h, input.isOnline(h.id));
    byStatus[status]++;
    const pf = input.preflight.get(h.id) ?? null;
    if (status !== 'revoked') {
      if (pf === null) preflight.notRun++;
      else if (pf.fail > 0 || pf.error !== null) preflight.failing++;
      else if (pf.warn > 0) preflight.warning++;
    }
    const row: FleetHostRow = {
      id: h.id,
      name: h.name,
      roles: rolesOf(h.labels),
      status,
      lastSeenAt: h.lastSeenAt,
      ip: h.lastIp ?? h.facts?.ips[0] ?? null,
      os: h.facts?.os.prettyName ?? null,
      kernel: h.facts?.kernel ?? null,
      agentVersion: h.agentVersion,
      kubeVersion: kubeVersionOf(h.facts),
      kubePackages: h.facts?.kubePackages ?? null,
      services: h.facts?.services ?? null,
      health: input.health?.get(h.id) ?? null,
      preflight: pf,
      apply: lastApply.get(h.name) ?? null,
    };
    if (status !== 'revoked') {
      const level = healthLevel(row);
      health[level === 'none' ? 'notRun' : level]++;
    }
    return row;
  });
  const active = input.hosts.filter((h) => h.state === 'active');
  const warnings = runFleetChecks(
    active.flatMap((h) => (h.facts ? [{ name: h.name, facts: h.facts }] : [])),
    input.kubernetesVersion === null ? {} : { kubernetesVersion: input.kubernetesVersion },
  );
  const summary: FleetSummary = {
    total: input.hosts.length,
    byStatus,
    preflight,
    health,
    apply: applied,
    warnings,
    kubernetesVersion: input.kubernetesVersion,
  };
  return { now: input.now, heartbeatIntervalMs: input.heartbeatIntervalMs, summary, hosts };
}

/**
 * Rows that changed since the last message, by a JSON fingerprint per host id, and ids that are
 * gone. `known` is updated in place to the new state.
 */
export function diffRows(
  known: Map<string, string>,
  rows: readonly FleetHostRow[],
): { upserts: FleetHostRow[]; removed: string[] } {
  const upserts: FleetHostRow[] = [];
  const present = new Set<string>();
  for (const row of rows) {
    present.add(row.id);
    const print = JSON.stringify(row);
    if (known.get(row.id) !== print) {
      known.set(row.id, print);
      upserts.push(row);
    }
  }
  const removed = [...known.keys()].filter((id) => !present.has(id));
  for (const id of removed) known.delete(id);
  return { upserts, removed };
}
