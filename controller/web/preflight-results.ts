import type Database from 'better-sqlite3';
import type { HostPreflight } from '../../proto/admin-api.js';
import type { CheckResult, PreflightSpec } from '../../proto/checks.js';
import type { WireError } from '../../proto/errors.js';
import type { Store } from '../store/store.js';
import { SqliteStore } from '../store/sqlite-store.js';

/** The latest preflight of one host, as the fleet page shows it. */
export interface StoredPreflight {
  hostId: string;
  at: number;
  spec: PreflightSpec;
  results: CheckResult[] | null;
  error: WireError | null;
  durationMs: number | null;
}

type Row = Record<string, unknown>;

function fromRow(r: Row): StoredPreflight {
  return {
    hostId: r.host_id as string,
    at: r.at as number,
    spec: JSON.parse(r.spec as string) as PreflightSpec,
    results: r.results ? (JSON.parse(r.results as string) as CheckResult[]) : null,
    error: r.error ? (JSON.parse(r.error as string) as WireError) : null,
    durationMs: (r.duration_ms as number | null) ?? null,
  };
}

/** One row per host, replaced by each run; deleted with the host. */
export class PreflightResults {
  constructor(private readonly db: Database.Database) {}

  record(hostId: string, result: HostPreflight, at: number): void {
    this.db
      .prepare(
        `INSERT INTO host_preflight (host_id, at, spec, results, error, duration_ms) VALUES (?, ?, ?, ?, ?, ?)
         ON CONFLICT (host_id) DO UPDATE SET at = excluded.at, spec = excluded.spec,
           results = excluded.results, error = excluded.error, duration_ms = excluded.duration_ms`,
      )
      .run(
        hostId,
        at,
        JSON.stringify(result.spec),
        result.results ? JSON.stringify(result.results) : null,
        result.error ? JSON.stringify(result.error) : null,
        result.durationMs ?? null,
      );
  }

  latest(hostId: string): StoredPreflight | undefined {
    const row = this.db.prepare('SELECT * FROM host_preflight WHERE host_id = ?').get(hostId) as
      Row | undefined;
    return row ? fromRow(row) : undefined;
  }

  /** when each host's latest preflight ran, by host id */
  stamps(): Map<string, number> {
    const rows = this.db.prepare('SELECT host_id, at FROM host_preflight').all() as Array<{
      host_id: string;
      at: number;
    }>;
    return new Map(rows.map((r) => [r.host_id, r.at]));
  }
}

/**
 * Keeps the newest preflight result of a host for the fleet page; the preflight service calls it
 * once per host and run. A store that is not the SQLite one has no table for it yet: nothing kept.
 */
export function recordPreflight(store: Store, result: HostPreflight, at = Date.now()): void {
  if (!(store instanceof SqliteStore)) return;
  const host = store.getHostByName(result.host);
  if (!host) return;
  new PreflightResults(store.database).record(host.id, result, at);
}
