import type { ApplySummary, FleetHostRow, HostApply, PreflightSummary } from '../fleet-api.js';

/** "now", "12s ago", "5m ago", "3h ago", "4d ago" */
export function formatAgo(ms: number): string {
  if (ms < 2000) return 'now';
  const s = Math.floor(ms / 1000);
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.floor(s / 60)}m ago`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ago`;
  return `${Math.floor(s / 86400)}d ago`;
}

/** "42s", "3m 05s", "1h 02m" */
export function formatElapsed(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 60) return `${s}s`;
  const pad = (n: number): string => String(n).padStart(2, '0');
  if (s < 3600) return `${Math.floor(s / 60)}m ${pad(s % 60)}s`;
  return `${Math.floor(s / 3600)}h ${pad(Math.floor((s % 3600) / 60))}m`;
}

export function lastSeenText(row: FleetHostRow, now: number): string {
  return row.lastSeenAt === null ? 'never' : formatAgo(now - row.lastSeenAt);
}

export function preflightText(p: PreflightSummary | null): string {
  if (p === null) return '-';
  if (p.error !== null) return 'error';
  return `${p.fail} fail · ${p.warn} warn · ${p.pass} pass`;
}

/** worst first: error, fail, warn, pass; not run sorts last */
export function preflightRank(p: PreflightSummary | null): number {
  if (p === null) return -1;
  if (p.error !== null) return 1e9;
  return p.fail * 1e6 + p.warn * 1e3 + (p.pass > 0 ? 1 : 0);
}

export function preflightLevel(p: PreflightSummary | null): 'none' | 'pass' | 'warn' | 'fail' {
  if (p === null) return 'none';
  if (p.error !== null || p.fail > 0) return 'fail';
  return p.warn > 0 ? 'warn' : 'pass';
}

export function hostApplyText(a: HostApply | null): string {
  return a === null ? '-' : `${a.phase} · ${a.step} (${a.state})`;
}

export function applyHeadline(a: ApplySummary, now: number): string {
  const elapsed = formatElapsed((a.finishedAt ?? now) - a.startedAt);
  const phase = a.phase ? ` · phase ${a.phase.title} (${a.phasesDone + 1}/${a.phasesTotal})` : '';
  return `${a.cluster}: ${a.status}${phase} · ${a.tasksDone}/${a.tasksTotal} tasks · ${elapsed}`;
}
