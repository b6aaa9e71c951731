import type { HostPreflight } from '../../proto/admin-api.js';
import type { CheckResult, PreflightSpec } from '../../proto/checks.js';
import type { WireError } from '../../proto/errors.js';
import type { Prepare } from './sqlite-applies.js';
import type {
  HealthSummaryRecord,
  HealthTable,
  PreflightTable,
  StoredPreflight,
  WebTokenRecord,
  WebTokenTable,
} from './store.js';

type Row = Record<string, unknown>;

/** What the fleet page reads beside hosts: preflight and health results, and its login tokens. */
export class SqlitePreflightTable implements PreflightTable {
  constructor(private readonly statement: Prepare) {}

  record(hostId: string, result: HostPreflight, at: number): void {
    this.statement(
      `INSERT INTO host_preflight (host_id, at, spec, results, error, duration_ms) VALUES (?, ?, ?, ?, ?, ?)
       ON CONFLICT (host_id) DO UPDATE SET at = excluded.at, spec = excluded.spec,
         results = excluded.results, error = excluded.error, duration_ms = excluded.duration_ms`,
    ).run(...preflightParams(hostId, result, at));
  }

  latest(hostId: string): StoredPreflight | undefined {
    const row = this.statement('SELECT * FROM host_preflight WHERE host_id = ?').get(hostId) as
      Row | undefined;
    return row ? preflightFromRow(row) : undefined;
  }

  stamps(): Map<string, number> {
    const rows = this.statement('SELECT host_id, at FROM host_preflight').all() as Row[];
    return new Map(rows.map((r) => [r.host_id as string, Number(r.at)]));
  }
}

export class SqliteHealthTable implements HealthTable {
  constructor(private readonly statement: Prepare) {}

  record(hostId: string, s: HealthSummaryRecord): void {
    this.statement(
      `INSERT INTO host_health (host_id, at, worst, warnings, criticals, findings, error, details)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (host_id) DO UPDATE SET at = excluded.at, worst = excluded.worst,
         warnings = excluded.warnings, criticals = excluded.criticals,
         findings = excluded.findings, error = excluded.error, details = excluded.details`,
    ).run(...healthParams(hostId, s));
  }

  all(): Map<string, HealthSummaryRecord> {
    return healthMap(this.statement('SELECT * FROM host_health').all() as Row[]);
  }
}

export class SqliteWebTokenTable implements WebTokenTable {
  constructor(private readonly statement: Prepare) {}

  insert(t: WebTokenRecord & { secretHash: string }): void {
    this.statement(
      `INSERT INTO web_tokens (id, secret_hash, read_only, description, created_at, expires_at, last_used_at)
       VALUES (?, ?, ?, ?, ?, ?, ?)`,
    ).run(t.id, t.secretHash, t.readOnly ? 1 : 0, t.description, t.createdAt, t.expiresAt, t.lastUsedAt);
  }

  get(id: string): (WebTokenRecord & { secretHash: string }) | undefined {
    const row = this.statement('SELECT * FROM web_tokens WHERE id = ?').get(id) as Row | undefined;
    return row ? { ...webTokenFromRow(row), secretHash: row.secret_hash as string } : undefined;
  }

  touch(id: string, at: number): void {
    this.statement('UPDATE web_tokens SET last_used_at = ? WHERE id = ?').run(at, id);
  }

  list(): WebTokenRecord[] {
    return (this.statement('SELECT * FROM web_tokens ORDER BY created_at, id').all() as Row[]).map(
      webTokenFromRow,
    );
  }

  delete(id: string): boolean {
    return this.statement('DELETE FROM web_tokens WHERE id = ?').run(id).changes > 0;
  }
}

/** One query over every table the fleet page shows; see Store.fleetFingerprint. */
export const SQLITE_FLEET_FINGERPRINT = `SELECT
   (SELECT COUNT(*) || ':' || IFNULL(MAX(last_seen_at), 0) || ':' || IFNULL(SUM(state = 'revoked'), 0)
      || ':' || IFNULL(MAX(enrolled_at), 0) FROM hosts) || '|' ||
   (SELECT COUNT(*) || ':' || IFNULL(MAX(at), 0) FROM host_preflight) || '|' ||
   (SELECT COUNT(*) || ':' || IFNULL(MAX(at), 0) FROM host_health) || '|' ||
   (SELECT COUNT(*) || ':' || IFNULL(MAX(started_at), 0) || ':' || IFNULL(MAX(finished_at), 0)
      || ':' || IFNULL(SUM(status = 'running'), 0) FROM applies) || '|' ||
   (SELECT COUNT(*) || ':' || IFNULL(MAX(started_at), 0) || ':' || IFNULL(MAX(finished_at), 0)
      || ':' || IFNULL(SUM(status = 'failed'), 0) FROM apply_steps) AS f`;

// row mappers and parameters shared with the PostgreSQL store (same columns, JSON kept as text)

export function preflightParams(
  hostId: string,
  result: HostPreflight,
  at: number,
): [string, number, string, string | null, string | null, number | null] {
  return [
    hostId,
    at,
    JSON.stringify(result.spec),
    result.results ? JSON.stringify(result.results) : null,
    result.error ? JSON.stringify(result.error) : null,
    result.durationMs ?? null,
  ];
}

export function preflightFromRow(r: Row): StoredPreflight {
  return {
    hostId: r.host_id as string,
    at: Number(r.at),
    spec: JSON.parse(r.spec as string) as PreflightSpec,
    results: r.results ? (JSON.parse(r.results as string) as CheckResult[]) : null,
    error: r.error ? (JSON.parse(r.error as string) as WireError) : null,
    durationMs: r.duration_ms === null || r.duration_ms === undefined ? null : Number(r.duration_ms),
  };
}

/** host_health's columns in INSERT order, for both stores */
export function healthParams(hostId: string, s: HealthSummaryRecord): unknown[] {
  const details = JSON.stringify({ drift: s.drift, certs: s.certs });
  return [hostId, s.at, s.worst, s.warnings, s.criticals, JSON.stringify(s.findings), s.error, details];
}

export function healthMap(rows: Row[]): Map<string, HealthSummaryRecord> {
  return new Map(
    rows.map((r) => {
      // rows written before migration 7 have no details
      const details = (typeof r.details === 'string' ? JSON.parse(r.details) : {}) as Partial<
        Pick<HealthSummaryRecord, 'drift' | 'certs'>
      >;
      return [
        String(r.host_id),
        {
          worst: r.worst as HealthSummaryRecord['worst'],
          warnings: Number(r.warnings),
          criticals: Number(r.criticals),
          findings: JSON.parse(String(r.findings)) as string[],
          at: Number(r.at),
          error: typeof r.error === 'string' ? r.error : null,
          drift: details.drift ?? [],
          certs: details.certs ?? [],
        },
      ];
    }),
  );
}

export function webTokenFromRow(r: Row): WebTokenRecord {
  return {
    id: r.id as string,
    readOnly: r.read_only === 1 || r.read_only === true,
    description: r.description as string,
    createdAt: Number(r.created_at),
    expiresAt: r.expires_at === null || r.expires_at === undefined ? null : Number(r.expires_at),
    lastUsedAt: r.last_used_at === null || r.last_used_at === undefined ? null : Number(r.last_used_at),
  };
}
