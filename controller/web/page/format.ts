import type { ApplySummary, FleetHostRow, HostApply, PreflightSummary } from '../fleet-api.js';
import { healthLevel } from '../fleet-health-level.js';

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
  // the state first: the column is narrow, and the state is what a glance needs
  return a === null ? '-' : `${a.state} · ${a.phase} · ${a.step}`;
}

/** The units the refreshed facts report not active: "containerd failed". */
export function inactiveUnits(row: Pick<FleetHostRow, 'services'>): string[] {
  return Object.entries(row.services ?? {})
    .filter(([, state]) => state !== 'active')
    .map(([unit, state]) => `${unit.replace(/\.service$/, '')} ${state}`);
}

/**
 * The health column: units not active now (from the refreshed facts) first, then the last health
 * run's worst severity and counts; "-" when neither says anything.
 */
export function healthText(row: Pick<FleetHostRow, 'services' | 'health'>): string {
  const parts = inactiveUnits(row);
  const h = row.health;
  if (h?.error) parts.push(`not checked: ${h.error}`);
  else if (h && h.worst !== 'ok') {
    const counts = [
      h.criticals > 0 ? `${h.criticals} critical` : '',
      h.warnings > 0 ? `${h.warnings} warning` : '',
    ].filter(Boolean);
    parts.push(counts.join(' · '));
  }
  if (parts.length > 0) return parts.join(' · ');
  if (h) return 'ok';
  return row.services ? 'services active' : '-';
}

/** The drift column: how many changes from what kctl put in place, and the first; '-' before any health run. */
export function driftText(row: Pick<FleetHostRow, 'health'>): string {
  const h = row.health;
  if (h === null || h.error !== null) return '-';
  if (h.drift.length === 0) return 'none';
  return `${h.drift.length} · ${h.drift[0]}`;
}

const DAY_MS = 86_400_000;

/** A certificate's expiry relative to now: "in 364 d", "in 5 h", "expired 2 d ago". */
export function expiryText(notAfter: number, now: number): string {
  const ms = notAfter - now;
  const span = (x: number) =>
    x >= DAY_MS ? `${Math.floor(x / DAY_MS)} d` : `${Math.max(0, Math.floor(x / 3_600_000))} h`;
  return ms < 0 ? `expired ${span(-ms)} ago` : `in ${span(ms)}`;
}

/** The certificates column: the soonest expiry of the host's certificates and which one. */
export function certsText(row: Pick<FleetHostRow, 'health'>, now: number): string {
  const soonest = row.health?.certs[0];
  if (soonest === undefined) return '-';
  return `${expiryText(soonest.notAfter, now)} · ${soonest.path.split('/').pop() ?? soonest.path}`;
}

/** worst first when descending: critical, warning, ok, nothing known */
export function healthRank(row: Pick<FleetHostRow, 'services' | 'health'>): number {
  const level = healthLevel(row);
  const base = { none: 0, ok: 1, warning: 2, critical: 3 }[level];
  return base * 1e6 + (row.health?.criticals ?? 0) * 1e3 + (row.health?.warnings ?? 0);
}

export function applyHeadline(a: ApplySummary, now: number): string {
  const elapsed = formatElapsed((a.finishedAt ?? now) - a.startedAt);
  const phase = a.phase ? ` · phase ${a.phase.title} (${a.phasesDone + 1}/${a.phasesTotal})` : '';
  return `${a.cluster}: ${a.status}${phase} · ${a.tasksDone}/${a.tasksTotal} tasks · ${elapsed}`;
}
