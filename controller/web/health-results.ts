import type Database from 'better-sqlite3';
import type { HostHealth } from '../../proto/health.js';
import type { Store } from '../store/store.js';
import { SqliteStore } from '../store/sqlite-store.js';
import type { HostHealthSummary } from './fleet-api.js';

const MAX_FINDINGS = 8;

/** What the fleet page keeps of one host's health run: counts and the ids of what is not ok. */
export function summarizeHealth(h: HostHealth, at: number): HostHealthSummary {
  const bad = h.results.filter((r) => r.severity !== 'ok');
  const criticals = bad.filter((r) => r.severity === 'critical');
  const warnings = bad.filter((r) => r.severity === 'warning');
  return {
    worst: h.worst,
    warnings: warnings.length,
    criticals: criticals.length,
    findings: [...criticals, ...warnings].slice(0, MAX_FINDINGS).map((r) => r.id.slice(0, 200)),
    at,
    error: h.error ? h.error.message.slice(0, 512) : null,
  };
}

type Row = Record<string, unknown>;

/** The newest health summary per host (table host_health); the page reads them all at once. */
export class HealthResults {
  constructor(private readonly db: Database.Database) {}

  record(hostId: string, s: HostHealthSummary): void {
    this.db
      .prepare(
        `INSERT INTO host_health (host_id, at, worst, warnings, criticals, findings, error)
         VALUES (?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (host_id) DO UPDATE SET at = excluded.at, worst = excluded.worst,
           warnings = excluded.warnings, criticals = excluded.criticals,
           findings = excluded.findings, error = excluded.error`,
      )
      .run(hostId, s.at, s.worst, s.warnings, s.criticals, JSON.stringify(s.findings), s.error);
  }

  all(): Map<string, HostHealthSummary> {
    const rows = this.db.prepare('SELECT * FROM host_health').all() as Row[];
    return new Map(
      rows.map((r) => [
        String(r.host_id),
        {
          worst: r.worst as HostHealthSummary['worst'],
          warnings: Number(r.warnings),
          criticals: Number(r.criticals),
          findings: JSON.parse(String(r.findings)) as string[],
          at: Number(r.at),
          error: typeof r.error === 'string' ? r.error : null,
        },
      ]),
    );
  }
}

/**
 * Keeps each host's newest health summary for the fleet page, in one transaction; `kctl health`
 * (the health route) calls it after every run. A store that is not the SQLite one keeps nothing.
 */
export function recordHealth(store: Store, hosts: readonly HostHealth[], at = Date.now()): void {
  if (!(store instanceof SqliteStore)) return;
  const results = new HealthResults(store.database);
  store.transaction(() => {
    for (const h of hosts) {
      const host = store.getHostByName(h.host);
      if (host) results.record(host.id, summarizeHealth(h, at));
    }
  });
}
