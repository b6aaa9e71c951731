import type { FleetHostRow, HostStatus } from '../fleet-api.js';
import { certsText, driftText, healthRank, healthText, hostApplyText, lastSeenText } from './format.js';

export type ColumnKey =
  | 'name'
  | 'roles'
  | 'status'
  | 'lastSeen'
  | 'ip'
  | 'os'
  | 'kernel'
  | 'agent'
  | 'kube'
  | 'health'
  | 'drift'
  | 'certs'
  | 'apply'
  | 'detail';

export interface Column {
  key: ColumnKey;
  title: string;
  /** CSS grid track */
  width: string;
  text(row: FleetHostRow, now: number): string;
  /** sort value: numbers compare numerically, strings naturally (node-2 before node-10) */
  sortValue(row: FleetHostRow): string | number;
}

const STATUS_ORDER: Record<HostStatus, number> = { offline: 0, online: 1, revoked: 2 };

export const COLUMNS: readonly Column[] = [
  { key: 'name', title: 'Name', width: 'minmax(9rem, 1fr)', text: (r) => r.name, sortValue: (r) => r.name },
  {
    key: 'roles',
    title: 'Roles',
    width: 'minmax(6rem, 1fr)',
    text: (r) => r.roles.join(', ') || '-',
    sortValue: (r) => r.roles.join(','),
  },
  {
    key: 'status',
    title: 'Status',
    width: '5.5rem',
    text: (r) => r.status,
    sortValue: (r) => STATUS_ORDER[r.status],
  },
  {
    key: 'lastSeen',
    title: 'Last seen',
    width: '6rem',
    text: (r, now) => lastSeenText(r, now),
    // most recently seen first when ascending reads as "freshest"; never seen sorts last
    sortValue: (r) => (r.lastSeenAt === null ? Number.MAX_SAFE_INTEGER : -r.lastSeenAt),
  },
  {
    key: 'ip',
    title: 'IP',
    width: 'minmax(7rem, 0.9fr)',
    text: (r) => r.ip ?? '-',
    sortValue: (r) => r.ip ?? '',
  },
  {
    key: 'os',
    title: 'OS',
    width: 'minmax(8rem, 1.3fr)',
    text: (r) => r.os ?? '-',
    sortValue: (r) => r.os ?? '',
  },
  {
    key: 'kernel',
    title: 'Kernel',
    width: 'minmax(9.5rem, 1fr)',
    text: (r) => r.kernel ?? '-',
    sortValue: (r) => r.kernel ?? '',
  },
  {
    key: 'agent',
    title: 'Agent',
    width: '5.5rem',
    text: (r) => r.agentVersion ?? '-',
    sortValue: (r) => r.agentVersion ?? '',
  },
  {
    key: 'kube',
    title: 'Kube',
    width: '5.5rem',
    text: (r) => r.kubeVersion ?? '-',
    sortValue: (r) => r.kubeVersion ?? '',
  },
  {
    key: 'health',
    title: 'Health',
    width: 'minmax(10rem, 1.3fr)',
    text: (r) => healthText(r),
    // worst first when descending
    sortValue: (r) => healthRank(r),
  },
  {
    key: 'drift',
    title: 'Drift',
    width: 'minmax(7rem, 1fr)',
    text: (r) => driftText(r),
    // most drift first when descending; never checked below none
    sortValue: (r) => (r.health === null ? -1 : r.health.drift.length),
  },
  {
    key: 'certs',
    title: 'Certs expire',
    width: 'minmax(7rem, 0.9fr)',
    text: (r, now) => certsText(r, now),
    // soonest first when ascending; hosts with no certificate read last
    sortValue: (r) => r.health?.certs[0]?.notAfter ?? Number.MAX_SAFE_INTEGER,
  },
  {
    key: 'apply',
    title: 'Apply',
    width: 'minmax(9rem, 1.4fr)',
    text: (r) => hostApplyText(r.apply),
    sortValue: (r) => hostApplyText(r.apply),
  },
  {
    // install preflight and the rest of a host's facts: a dialog, not a fleet-wide column
    key: 'detail',
    title: 'Details',
    width: '5rem',
    text: () => 'details',
    sortValue: (r) => r.name,
  },
];

export function columnByKey(key: ColumnKey): Column {
  const c = COLUMNS.find((col) => col.key === key);
  if (!c) throw new Error(`no column ${key}`);
  return c;
}

export interface SortState {
  key: ColumnKey;
  dir: 'asc' | 'desc';
}

const collator = new Intl.Collator('en', { numeric: true, sensitivity: 'base' });

export function compareValues(a: string | number, b: string | number): number {
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  return collator.compare(String(a), String(b));
}

/** A stable sort by one column; ties fall back to the host name so the order never flickers. */
export function sortRows(rows: readonly FleetHostRow[], sort: SortState): FleetHostRow[] {
  const col = columnByKey(sort.key);
  const sign = sort.dir === 'asc' ? 1 : -1;
  const keyed = rows.map((row) => ({ row, v: col.sortValue(row) }));
  keyed.sort((x, y) => sign * compareValues(x.v, y.v) || collator.compare(x.row.name, y.row.name));
  return keyed.map((k) => k.row);
}

export type StatusFilter = HostStatus | 'all';

/** Every whitespace-separated word of the query must appear in some column's text. */
export function filterRows(
  rows: readonly FleetHostRow[],
  query: string,
  status: StatusFilter,
  now: number,
): FleetHostRow[] {
  const words = query.toLowerCase().split(/\s+/).filter(Boolean);
  return rows.filter((row) => {
    if (status !== 'all' && row.status !== status) return false;
    if (words.length === 0) return true;
    const haystack = COLUMNS.filter((c) => c.key !== 'detail')
      .map((c) => c.text(row, now))
      .join(' ')
      .toLowerCase();
    return words.every((w) => haystack.includes(w));
  });
}

/** Which rows a virtualized list draws: the visible ones plus `overscan` on each side. */
export function visibleWindow(
  scrollTop: number,
  viewportHeight: number,
  rowHeight: number,
  count: number,
  overscan = 8,
): { first: number; last: number } {
  const first = Math.max(0, Math.floor(scrollTop / rowHeight) - overscan);
  const last = Math.min(count, Math.ceil((scrollTop + viewportHeight) / rowHeight) + overscan);
  return { first, last: Math.max(first, last) };
}
