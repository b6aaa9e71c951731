import Database from 'better-sqlite3';
import { chmodSync, closeSync, openSync } from 'node:fs';
import type { HostFacts } from '../../proto/facts.js';
import { KctlError } from '../../proto/errors.js';
import type {
  ApplyJournal,
  AuditEntry,
  ClusterSpecRecord,
  EnrollmentRecord,
  HealthTable,
  HostRecord,
  PreflightTable,
  Store,
  TokenRecord,
  TokenUse,
  WebTokenTable,
} from './store.js';
import { MIGRATIONS } from './migrations.js';
import { judgeToken } from './token-judgement.js';
import { SqliteApplyJournal } from './sqlite-applies.js';
import {
  SQLITE_FLEET_FINGERPRINT,
  SqliteHealthTable,
  SqlitePreflightTable,
  SqliteWebTokenTable,
} from './sqlite-fleet-tables.js';
import { guardDatabase } from './storage-errors.js';
import type { Logger } from 'pino';

type Row = Record<string, unknown>;

/**
 * Store on one SQLite file (WAL, synchronous=FULL so a kill -9 loses no committed transition).
 * Constructed only by the composition root (controller/main.ts), tests and benchmarks; the backup
 * (controller/backup/) opens the file itself to copy it.
 */
export class SqliteStore implements Store {
  private readonly db: Database.Database;
  private readonly statements = new Map<string, Database.Statement>();
  readonly applies: ApplyJournal;
  readonly preflight: PreflightTable;
  readonly health: HealthTable;
  readonly webTokens: WebTokenTable;

  constructor(
    readonly file: string,
    /** storage failures (disk full, I/O errors) are logged here as well as thrown naming the file */
    options: { log?: Logger } = {},
  ) {
    if (file !== ':memory:') {
      // create it 0600 before SQLite does, so the state never exists world-readable (S19)
      closeSync(openSync(file, 'a', 0o600));
      chmodSync(file, 0o600);
    }
    this.db = guardDatabase(new Database(file), file, options.log);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = FULL');
    this.db.pragma('foreign_keys = ON');
    this.db.pragma('busy_timeout = 5000');
    this.migrate();
    const prepare = (sql: string): Database.Statement => this.statement(sql);
    this.applies = new SqliteApplyJournal(prepare);
    this.preflight = new SqlitePreflightTable(prepare);
    this.health = new SqliteHealthTable(prepare);
    this.webTokens = new SqliteWebTokenTable(prepare);
  }

  /** Versioned migrations: user_version is the number of migrations applied. */
  private migrate(): void {
    const current = this.db.pragma('user_version', { simple: true }) as number;
    if (current > MIGRATIONS.length) {
      throw new KctlError(
        'invalid_config',
        `State database "${this.file}" has schema version ${current}, newer than this controller knows (${MIGRATIONS.length})`,
      );
    }
    for (let v = current; v < MIGRATIONS.length; v++) {
      const migration = MIGRATIONS[v];
      if (migration === undefined) break;
      this.db.transaction(() => {
        this.db.exec(migration);
        this.db.pragma(`user_version = ${v + 1}`);
      })();
    }
  }

  /** Prepared once per SQL text: preparing costs more than running these small statements. */
  private statement(sql: string): Database.Statement {
    let prepared = this.statements.get(sql);
    if (!prepared) this.statements.set(sql, (prepared = this.db.prepare(sql)));
    return prepared;
  }

  schemaVersion(): number {
    return this.db.pragma('user_version', { simple: true }) as number;
  }

  createHost(host: Omit<HostRecord, 'lastSeenAt' | 'lastIp' | 'agentVersion' | 'facts' | 'revokedAt'>): void {
    this.statement(
      `INSERT INTO hosts (id, name, labels, state, cert_serial, cert_not_after, enrolled_at)
         VALUES (?, ?, ?, ?, ?, ?, ?)`,
    ).run(
      host.id,
      host.name,
      JSON.stringify(host.labels),
      host.state,
      host.certSerial,
      host.certNotAfter,
      host.enrolledAt,
    );
  }

  getHost(id: string): HostRecord | undefined {
    const row = this.statement('SELECT * FROM hosts WHERE id = ?').get(id) as Row | undefined;
    return row ? hostFromRow(row) : undefined;
  }

  getHostState(id: string): Pick<HostRecord, 'name' | 'state' | 'certSerial'> | undefined {
    const row = this.statement('SELECT name, state, cert_serial FROM hosts WHERE id = ?').get(id) as
      Row | undefined;
    return row
      ? {
          name: row.name as string,
          state: row.state as HostRecord['state'],
          certSerial: row.cert_serial as string,
        }
      : undefined;
  }

  getHostByName(name: string): HostRecord | undefined {
    const row = this.statement('SELECT * FROM hosts WHERE name = ?').get(name) as Row | undefined;
    return row ? hostFromRow(row) : undefined;
  }

  listHosts(): HostRecord[] {
    return (this.statement('SELECT * FROM hosts ORDER BY name').all() as Row[]).map(hostFromRow);
  }

  recordHostSeen(
    id: string,
    seen: { at: number; ip: string | null; agentVersion?: string; facts?: HostFacts },
  ): void {
    this.statement(
      `UPDATE hosts SET last_seen_at = ?, last_ip = COALESCE(?, last_ip),
           agent_version = COALESCE(?, agent_version), facts = COALESCE(?, facts) WHERE id = ?`,
    ).run(seen.at, seen.ip, seen.agentVersion ?? null, seen.facts ? JSON.stringify(seen.facts) : null, id);
  }

  setHostCertificate(id: string, serial: string, notAfter: number): void {
    this.statement('UPDATE hosts SET cert_serial = ?, cert_not_after = ? WHERE id = ?').run(
      serial,
      notAfter,
      id,
    );
  }

  revokeHost(id: string, at: number): boolean {
    const r = this.statement(
      `UPDATE hosts SET state = 'revoked', revoked_at = ? WHERE id = ? AND state != 'revoked'`,
    ).run(at, id);
    return r.changes > 0;
  }

  deleteHost(id: string): boolean {
    return this.statement('DELETE FROM hosts WHERE id = ?').run(id).changes > 0;
  }

  createToken(token: TokenRecord): void {
    this.statement(
      `INSERT INTO tokens (id, secret_hash, created_at, expires_at, uses_total, uses_left, labels, description)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
    ).run(
      token.id,
      token.secretHash,
      token.createdAt,
      token.expiresAt,
      token.usesTotal,
      token.usesLeft,
      JSON.stringify(token.labels),
      token.description,
    );
  }

  listTokens(): TokenRecord[] {
    return (this.statement('SELECT * FROM tokens ORDER BY created_at').all() as Row[]).map(tokenFromRow);
  }

  deleteToken(id: string): boolean {
    return this.statement('DELETE FROM tokens WHERE id = ?').run(id).changes > 0;
  }

  checkToken(id: string, verifySecret: (hash: string) => boolean, now: number): TokenUse {
    const row = this.statement('SELECT * FROM tokens WHERE id = ?').get(id) as Row | undefined;
    return judgeToken(row ? tokenFromRow(row) : undefined, verifySecret, now);
  }

  recordEnrollment(e: EnrollmentRecord): void {
    this.statement(
      `INSERT INTO enrollments (host_id, token_id, key_sha256, cert_serial, cert_pem, at)
         VALUES (?, ?, ?, ?, ?, ?)`,
    ).run(e.hostId, e.tokenId, e.keySha256, e.certSerial, e.certPem, e.at);
  }

  getEnrollment(hostId: string): EnrollmentRecord | undefined {
    const r = this.statement('SELECT * FROM enrollments WHERE host_id = ?').get(hostId) as Row | undefined;
    if (!r) return undefined;
    return {
      hostId: r.host_id as string,
      tokenId: r.token_id as string,
      keySha256: r.key_sha256 as string,
      certSerial: r.cert_serial as string,
      certPem: r.cert_pem as string,
      at: r.at as number,
    };
  }

  useToken(id: string, verifySecret: (hash: string) => boolean, now: number): TokenUse {
    return this.db.transaction((): TokenUse => {
      const checked = this.checkToken(id, verifySecret, now);
      if (!checked.ok) return checked;
      const token = checked.token;
      this.statement('UPDATE tokens SET uses_left = uses_left - 1 WHERE id = ?').run(id);
      return { ok: true, token: { ...token, usesLeft: token.usesLeft - 1 } };
    })();
  }

  refundToken(id: string): void {
    this.statement('UPDATE tokens SET uses_left = MIN(uses_total, uses_left + 1) WHERE id = ?').run(id);
  }

  audit(entry: Omit<AuditEntry, 'id' | 'at'> & { at?: number }): void {
    this.statement('INSERT INTO audit (at, actor, action, target, details) VALUES (?, ?, ?, ?, ?)').run(
      entry.at ?? Date.now(),
      entry.actor,
      entry.action,
      entry.target,
      entry.details ? JSON.stringify(entry.details) : null,
    );
  }

  listAudit(limit: number): AuditEntry[] {
    return (this.statement('SELECT * FROM audit ORDER BY id DESC LIMIT ?').all(limit) as Row[]).map((r) => ({
      id: r.id as number,
      at: r.at as number,
      actor: r.actor as string,
      action: r.action as string,
      target: (r.target as string | null) ?? null,
      details: r.details ? (JSON.parse(r.details as string) as Record<string, unknown>) : null,
    }));
  }

  saveClusterSpec(r: ClusterSpecRecord): void {
    this.statement(
      `INSERT INTO cluster_specs (name, spec, cni_manifest, applied_at) VALUES (?, ?, ?, ?)
       ON CONFLICT (name) DO UPDATE SET spec = excluded.spec, cni_manifest = excluded.cni_manifest,
         applied_at = excluded.applied_at`,
    ).run(r.name, JSON.stringify(r.spec), r.cniManifest ?? null, r.appliedAt);
  }

  listClusterSpecs(): ClusterSpecRecord[] {
    return (this.statement('SELECT * FROM cluster_specs ORDER BY name').all() as Row[]).map((r) => ({
      name: r.name as string,
      spec: JSON.parse(r.spec as string) as unknown,
      cniManifest: (r.cni_manifest as string | null) ?? undefined,
      appliedAt: r.applied_at as number,
    }));
  }

  deleteClusterSpec(name: string): void {
    this.statement('DELETE FROM cluster_specs WHERE name = ?').run(name);
  }

  transaction<T>(fn: () => T): T {
    return this.db.transaction(fn)();
  }

  /** the raw connection, for the tests in controller/store/ only (store-boundary.test.ts keeps it there) */
  get database(): Database.Database {
    return this.db;
  }

  fleetFingerprint(): string {
    return (this.statement(SQLITE_FLEET_FINGERPRINT).get() as { f: string }).f;
  }

  close(): void {
    this.db.close();
  }
}

export function hostFromRow(r: Row): HostRecord {
  return {
    id: r.id as string,
    name: r.name as string,
    labels: JSON.parse(r.labels as string) as Record<string, string>,
    state: r.state as HostRecord['state'],
    certSerial: r.cert_serial as string,
    certNotAfter: r.cert_not_after as number,
    enrolledAt: r.enrolled_at as number,
    revokedAt: (r.revoked_at as number | null) ?? null,
    lastSeenAt: (r.last_seen_at as number | null) ?? null,
    lastIp: (r.last_ip as string | null) ?? null,
    agentVersion: (r.agent_version as string | null) ?? null,
    facts: r.facts ? (JSON.parse(r.facts as string) as HostFacts) : null,
  };
}

export function tokenFromRow(r: Row): TokenRecord {
  return {
    id: r.id as string,
    secretHash: r.secret_hash as string,
    createdAt: r.created_at as number,
    expiresAt: r.expires_at as number,
    usesTotal: r.uses_total as number,
    usesLeft: r.uses_left as number,
    labels: JSON.parse(r.labels as string) as Record<string, string>,
    description: r.description as string,
  };
}
