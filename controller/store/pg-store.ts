import pg from 'pg';
import type { Logger } from 'pino';
import type { HostFacts } from '../../proto/facts.js';
import type { HostPreflight } from '../../proto/admin-api.js';
import type { WireError } from '../../proto/errors.js';
import { KctlError } from '../../proto/errors.js';
import type {
  ApplyRecord,
  ApplyStatus,
  AsyncStore,
  AuditEntry,
  ClusterSpecRecord,
  EnrollmentRecord,
  HealthSummaryRecord,
  HostRecord,
  StepRecord,
  StoredPreflight,
  TokenRecord,
  TokenUse,
  WebTokenRecord,
} from './store.js';
import { PG_MIGRATIONS } from './pg-migrations.js';
import { PgClusterLocks } from './pg-cluster-locks.js';
import { PgRelay, type RelayHost } from './pg-relay.js';
import { applyFromRow, stepFromRow } from './sqlite-applies.js';
import {
  healthMap,
  healthParams,
  preflightFromRow,
  preflightParams,
  webTokenFromRow,
} from './sqlite-fleet-tables.js';
import { hostFromRow, tokenFromRow } from './sqlite-store.js';
import { judgeToken } from './token-judgement.js';
import { redactConnectionString, scrubSecret } from './pg-connection.js';

export { redactConnectionString } from './pg-connection.js';

type Row = Record<string, unknown>;
type Queryable = Pick<pg.PoolClient, 'query'>;

export interface PgStoreOptions {
  /** postgres://user:password@host:port/database (the password is never logged nor put in an error) */
  connectionString: string;
  /**
   * TLS to the database: the CA that signed the server's certificate (PEM), and a client
   * certificate when the server asks for one. The server's name is verified unless
   * `rejectUnauthorized` is false, which only a test should set.
   */
  tls?: {
    caPem?: string;
    certPem?: string;
    keyPem?: string;
    servername?: string;
    rejectUnauthorized?: boolean;
  };
  /** connections held at most (default 10) */
  maxConnections?: number;
  log?: Logger;
}

/** PostgreSQL's type oid of BIGINT (int8) */
const INT8_OID = 20;

/** the migration transaction takes this lock first, so replicas starting together migrate once */
const MIGRATION_LOCK = 7_116_216; // "kctl" in a number; any constant agreed by every replica

/**
 * Store on PostgreSQL, for several controller replicas on one replicated database (issue 16). The
 * same tables and behaviour as SqliteStore (controller/store/conformance.ts runs on both); every
 * method returns a Promise (AsyncStore). A transaction runs on one connection; what its callback
 * does through the store it is given commits or rolls back together.
 */
export class PgStore implements AsyncStore {
  readonly applies: AsyncStore['applies'];
  readonly preflight: AsyncStore['preflight'];
  readonly health: AsyncStore['health'];
  readonly webTokens: AsyncStore['webTokens'];

  private constructor(
    private readonly db: Queryable,
    private readonly pool: pg.Pool | undefined,
    /** the connection string with its password replaced, for messages */
    readonly target: string,
    private readonly password: string | undefined,
  ) {
    const q = (text: string, params: unknown[] = []): Promise<Row[]> => this.query(text, params);
    this.applies = pgApplies(q, (text, params) => this.run(text, params));
    this.preflight = {
      record: async (hostId, result: HostPreflight, at) => {
        await q(
          `INSERT INTO host_preflight (host_id, at, spec, results, error, duration_ms) VALUES ($1, $2, $3, $4, $5, $6)
           ON CONFLICT (host_id) DO UPDATE SET at = excluded.at, spec = excluded.spec,
             results = excluded.results, error = excluded.error, duration_ms = excluded.duration_ms`,
          preflightParams(hostId, result, at),
        );
      },
      latest: async (hostId): Promise<StoredPreflight | undefined> => {
        const [row] = await q('SELECT * FROM host_preflight WHERE host_id = $1', [hostId]);
        return row ? preflightFromRow(row) : undefined;
      },
      stamps: async () =>
        new Map(
          (await q('SELECT host_id, at FROM host_preflight')).map((r) => [r.host_id as string, Number(r.at)]),
        ),
    };
    this.health = {
      record: async (hostId, s: HealthSummaryRecord) => {
        await q(
          `INSERT INTO host_health (host_id, at, worst, warnings, criticals, findings, error, details)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
           ON CONFLICT (host_id) DO UPDATE SET at = excluded.at, worst = excluded.worst,
             warnings = excluded.warnings, criticals = excluded.criticals,
             findings = excluded.findings, error = excluded.error, details = excluded.details`,
          healthParams(hostId, s),
        );
      },
      all: async () => healthMap(await q('SELECT * FROM host_health')),
    };
    this.webTokens = {
      insert: async (t: WebTokenRecord & { secretHash: string }) => {
        await q(
          `INSERT INTO web_tokens (id, secret_hash, read_only, description, created_at, expires_at, last_used_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7)`,
          [t.id, t.secretHash, t.readOnly ? 1 : 0, t.description, t.createdAt, t.expiresAt, t.lastUsedAt],
        );
      },
      get: async (id) => {
        const [row] = await q('SELECT * FROM web_tokens WHERE id = $1', [id]);
        return row ? { ...webTokenFromRow(row), secretHash: row.secret_hash as string } : undefined;
      },
      touch: async (id, at) => {
        await q('UPDATE web_tokens SET last_used_at = $1 WHERE id = $2', [at, id]);
      },
      list: async () => (await q('SELECT * FROM web_tokens ORDER BY created_at, id')).map(webTokenFromRow),
      delete: async (id) => (await this.run('DELETE FROM web_tokens WHERE id = $1', [id])) > 0,
    };
  }

  /** Connects, checks the schema version and runs the migrations this database lacks. */
  /** Commands and host notices between replicas on this database (pg-relay.ts). */
  startRelay(replica: string, host: RelayHost, log: Logger): Promise<PgRelay> {
    if (!this.pool) throw new KctlError('internal', 'A store bound to one transaction has no relay');
    return PgRelay.start({ pool: this.pool, replica, host, log });
  }

  /** The cluster lock across every replica on this database (pg-cluster-locks.ts); `replica` names this one. */
  clusterLocks(replica: string): PgClusterLocks {
    if (!this.pool) throw new KctlError('internal', 'A store bound to one transaction has no cluster locks');
    return new PgClusterLocks(this.pool, replica);
  }

  static async open(options: PgStoreOptions): Promise<PgStore> {
    const target = redactConnectionString(options.connectionString);
    const password = passwordOf(options.connectionString);
    const pool = new pg.Pool({
      connectionString: options.connectionString,
      max: options.maxConnections ?? 10,
      connectionTimeoutMillis: 10_000,
      ...(options.tls
        ? {
            ssl: {
              rejectUnauthorized: options.tls.rejectUnauthorized ?? true,
              ...(options.tls.caPem !== undefined ? { ca: options.tls.caPem } : {}),
              ...(options.tls.certPem !== undefined ? { cert: options.tls.certPem } : {}),
              ...(options.tls.keyPem !== undefined ? { key: options.tls.keyPem } : {}),
              ...(options.tls.servername !== undefined ? { servername: options.tls.servername } : {}),
            },
          }
        : {}),
      // millisecond times are BIGINT: numbers, not strings (they stay far below 2^53)
      types: {
        getTypeParser: ((oid: number, format?: 'text' | 'binary'): unknown =>
          oid === INT8_OID
            ? (v: string) => Number(v)
            : pg.types.getTypeParser(oid, format)) as typeof pg.types.getTypeParser,
      },
    });
    // an idle connection the server drops must not crash the controller; the next query reconnects
    pool.on('error', (err) =>
      options.log?.warn({ err: scrubbedError(err, password), store: target }, 'store connection lost'),
    );
    const store = new PgStore(pool, pool, target, password);
    try {
      await store.migrate();
    } catch (err) {
      await pool.end().catch(() => undefined);
      throw err;
    }
    options.log?.info({ store: target, schemaVersion: PG_MIGRATIONS.length }, 'store opened');
    return store;
  }

  private async migrate(): Promise<void> {
    await this.transaction(async (tx) => {
      const self = tx as PgStore;
      await self.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK]);
      await self.query('CREATE TABLE IF NOT EXISTS kctl_schema (version INTEGER NOT NULL)');
      const [row] = await self.query('SELECT version FROM kctl_schema');
      const current = row ? Number(row.version) : 0;
      if (!row) await self.query('INSERT INTO kctl_schema (version) VALUES (0)');
      if (current > PG_MIGRATIONS.length) {
        throw new KctlError(
          'invalid_config',
          `State database ${this.target} has schema version ${current}, newer than this controller knows (${PG_MIGRATIONS.length})`,
        );
      }
      for (let v = current; v < PG_MIGRATIONS.length; v++) {
        await self.query(PG_MIGRATIONS[v] ?? '');
        await self.query('UPDATE kctl_schema SET version = $1', [v + 1]);
      }
    });
  }

  /** whether this store's connections are encrypted (pg_stat_ssl) */
  async sessionUsesTls(): Promise<boolean> {
    const [row] = await this.query('SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()');
    return row?.ssl === true;
  }

  async schemaVersion(): Promise<number> {
    const [row] = await this.query('SELECT version FROM kctl_schema');
    return Number(row?.version ?? 0);
  }

  private async query(text: string, params: unknown[] = []): Promise<Row[]> {
    return (await this.raw(text, params)).rows;
  }

  /** rows changed */
  private async run(text: string, params: unknown[] = []): Promise<number> {
    return (await this.raw(text, params)).rowCount ?? 0;
  }

  private async raw(text: string, params: unknown[]): Promise<pg.QueryResult<Row>> {
    try {
      return await this.db.query<Row>(text, params);
    } catch (err) {
      throw storeError(err, this.target, this.password);
    }
  }

  async createHost(
    host: Omit<HostRecord, 'lastSeenAt' | 'lastIp' | 'agentVersion' | 'facts' | 'revokedAt'>,
  ): Promise<void> {
    await this.query(
      `INSERT INTO hosts (id, name, labels, state, cert_serial, cert_not_after, enrolled_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7)`,
      [
        host.id,
        host.name,
        JSON.stringify(host.labels),
        host.state,
        host.certSerial,
        host.certNotAfter,
        host.enrolledAt,
      ],
    );
  }

  async getHost(id: string): Promise<HostRecord | undefined> {
    const [row] = await this.query('SELECT * FROM hosts WHERE id = $1', [id]);
    return row ? hostFromRow(row) : undefined;
  }

  async getHostState(id: string): Promise<Pick<HostRecord, 'name' | 'state' | 'certSerial'> | undefined> {
    const [row] = await this.query('SELECT name, state, cert_serial FROM hosts WHERE id = $1', [id]);
    return row
      ? {
          name: row.name as string,
          state: row.state as HostRecord['state'],
          certSerial: row.cert_serial as string,
        }
      : undefined;
  }

  async getHostByName(name: string): Promise<HostRecord | undefined> {
    const [row] = await this.query('SELECT * FROM hosts WHERE name = $1', [name]);
    return row ? hostFromRow(row) : undefined;
  }

  async listHosts(): Promise<HostRecord[]> {
    return (await this.query('SELECT * FROM hosts ORDER BY name')).map(hostFromRow);
  }

  async recordHostSeen(
    id: string,
    seen: { at: number; ip: string | null; agentVersion?: string; facts?: HostFacts },
  ): Promise<void> {
    await this.query(
      `UPDATE hosts SET last_seen_at = $1, last_ip = COALESCE($2, last_ip),
         agent_version = COALESCE($3, agent_version), facts = COALESCE($4, facts) WHERE id = $5`,
      [seen.at, seen.ip, seen.agentVersion ?? null, seen.facts ? JSON.stringify(seen.facts) : null, id],
    );
  }

  async setHostCertificate(id: string, serial: string, notAfter: number): Promise<void> {
    await this.query('UPDATE hosts SET cert_serial = $1, cert_not_after = $2 WHERE id = $3', [
      serial,
      notAfter,
      id,
    ]);
  }

  async revokeHost(id: string, at: number): Promise<boolean> {
    return (
      (await this.run(
        `UPDATE hosts SET state = 'revoked', revoked_at = $1 WHERE id = $2 AND state <> 'revoked'`,
        [at, id],
      )) > 0
    );
  }

  async deleteHost(id: string): Promise<boolean> {
    return (await this.run('DELETE FROM hosts WHERE id = $1', [id])) > 0;
  }

  async createToken(t: TokenRecord): Promise<void> {
    await this.query(
      `INSERT INTO tokens (id, secret_hash, created_at, expires_at, uses_total, uses_left, labels, description)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
      [
        t.id,
        t.secretHash,
        t.createdAt,
        t.expiresAt,
        t.usesTotal,
        t.usesLeft,
        JSON.stringify(t.labels),
        t.description,
      ],
    );
  }

  async listTokens(): Promise<TokenRecord[]> {
    return (await this.query('SELECT * FROM tokens ORDER BY created_at')).map(tokenFromRow);
  }

  async deleteToken(id: string): Promise<boolean> {
    return (await this.run('DELETE FROM tokens WHERE id = $1', [id])) > 0;
  }

  async checkToken(id: string, verifySecret: (hash: string) => boolean, now: number): Promise<TokenUse> {
    const [row] = await this.query('SELECT * FROM tokens WHERE id = $1', [id]);
    return judgeToken(row ? tokenFromRow(row) : undefined, verifySecret, now);
  }

  /** the row is locked (FOR UPDATE) from the check to the update: replicas enrolling at once take one use each */
  async useToken(id: string, verifySecret: (hash: string) => boolean, now: number): Promise<TokenUse> {
    return this.transaction(async (tx) => {
      const [row] = await (tx as PgStore).query('SELECT * FROM tokens WHERE id = $1 FOR UPDATE', [id]);
      const checked = judgeToken(row ? tokenFromRow(row) : undefined, verifySecret, now);
      if (!checked.ok) return checked;
      await (tx as PgStore).query('UPDATE tokens SET uses_left = uses_left - 1 WHERE id = $1', [id]);
      return { ok: true, token: { ...checked.token, usesLeft: checked.token.usesLeft - 1 } };
    });
  }

  async refundToken(id: string): Promise<void> {
    await this.query('UPDATE tokens SET uses_left = LEAST(uses_total, uses_left + 1) WHERE id = $1', [id]);
  }

  async recordEnrollment(e: EnrollmentRecord): Promise<void> {
    await this.query(
      `INSERT INTO enrollments (host_id, token_id, key_sha256, cert_serial, cert_pem, at)
       VALUES ($1, $2, $3, $4, $5, $6)`,
      [e.hostId, e.tokenId, e.keySha256, e.certSerial, e.certPem, e.at],
    );
  }

  async getEnrollment(hostId: string): Promise<EnrollmentRecord | undefined> {
    const [r] = await this.query('SELECT * FROM enrollments WHERE host_id = $1', [hostId]);
    if (!r) return undefined;
    return {
      hostId: r.host_id as string,
      tokenId: r.token_id as string,
      keySha256: r.key_sha256 as string,
      certSerial: r.cert_serial as string,
      certPem: r.cert_pem as string,
      at: Number(r.at),
    };
  }

  async audit(entry: Omit<AuditEntry, 'id' | 'at'> & { at?: number }): Promise<void> {
    await this.query('INSERT INTO audit (at, actor, action, target, details) VALUES ($1, $2, $3, $4, $5)', [
      entry.at ?? Date.now(),
      entry.actor,
      entry.action,
      entry.target,
      entry.details ? JSON.stringify(entry.details) : null,
    ]);
  }

  async listAudit(limit: number): Promise<AuditEntry[]> {
    return (await this.query('SELECT * FROM audit ORDER BY id DESC LIMIT $1', [limit])).map((r) => ({
      id: Number(r.id),
      at: Number(r.at),
      actor: r.actor as string,
      action: r.action as string,
      target: (r.target as string | null) ?? null,
      details: r.details ? (JSON.parse(r.details as string) as Record<string, unknown>) : null,
    }));
  }

  async saveClusterSpec(r: ClusterSpecRecord): Promise<void> {
    await this.query(
      `INSERT INTO cluster_specs (name, spec, cni_manifest, applied_at) VALUES ($1, $2, $3, $4)
       ON CONFLICT (name) DO UPDATE SET spec = excluded.spec, cni_manifest = excluded.cni_manifest,
         applied_at = excluded.applied_at`,
      [r.name, JSON.stringify(r.spec), r.cniManifest ?? null, r.appliedAt],
    );
  }

  async listClusterSpecs(): Promise<ClusterSpecRecord[]> {
    return (await this.query('SELECT * FROM cluster_specs ORDER BY name')).map((r) => ({
      name: r.name as string,
      spec: JSON.parse(r.spec as string) as unknown,
      cniManifest: (r.cni_manifest as string | null) ?? undefined,
      appliedAt: Number(r.applied_at),
    }));
  }

  async deleteClusterSpec(name: string): Promise<void> {
    await this.query('DELETE FROM cluster_specs WHERE name = $1', [name]);
  }

  async fleetFingerprint(): Promise<string> {
    const [row] = await this.query(PG_FLEET_FINGERPRINT);
    return row?.f as string;
  }

  async transaction<T>(fn: (tx: AsyncStore) => Promise<T>): Promise<T> {
    // inside a transaction already: the same connection, one transaction
    if (!this.pool) return fn(this);
    let client: pg.PoolClient;
    try {
      client = await this.pool.connect();
    } catch (err) {
      throw storeError(err, this.target, this.password);
    }
    const tx = new PgStore(client, undefined, this.target, this.password);
    try {
      await tx.query('BEGIN');
      const result = await fn(tx);
      await tx.query('COMMIT');
      return result;
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw err;
    } finally {
      client.release();
    }
  }

  async close(): Promise<void> {
    await this.pool?.end();
  }
}

function pgApplies(
  q: (text: string, params?: unknown[]) => Promise<Row[]>,
  run: (text: string, params?: unknown[]) => Promise<number>,
): AsyncStore['applies'] {
  return {
    async createApply(a) {
      await q(
        `INSERT INTO applies (id, cluster, plan_hash, plan, status, started_at) VALUES ($1, $2, $3, $4, 'running', $5)`,
        [a.id, a.cluster, a.planHash, JSON.stringify(a.plan), a.now],
      );
    },
    async latestUnfinished(cluster): Promise<ApplyRecord | undefined> {
      const [row] = await q(
        `SELECT * FROM applies WHERE cluster = $1 ORDER BY started_at DESC, seq DESC LIMIT 1`,
        [cluster],
      );
      if (!row) return undefined;
      const apply = applyFromRow(row);
      return apply.status === 'succeeded' ? undefined : apply;
    },
    async getApply(id) {
      const [row] = await q('SELECT * FROM applies WHERE id = $1', [id]);
      return row ? applyFromRow(row) : undefined;
    },
    async listApplies(limit = 20) {
      return (await q('SELECT * FROM applies ORDER BY started_at DESC, seq DESC LIMIT $1', [limit])).map(
        applyFromRow,
      );
    },
    async finishApply(id, status: Exclude<ApplyStatus, 'running'>, now, error?: WireError) {
      await run('UPDATE applies SET status = $1, finished_at = $2, error = $3 WHERE id = $4', [
        status,
        now,
        error ? JSON.stringify(error) : null,
        id,
      ]);
    },
    async reopenApply(id) {
      await run(`UPDATE applies SET status = 'running', finished_at = NULL, error = NULL WHERE id = $1`, [
        id,
      ]);
    },
    async steps(applyId): Promise<StepRecord[]> {
      return (await q('SELECT * FROM apply_steps WHERE apply_id = $1', [applyId])).map(stepFromRow);
    },
    // one statement: the attempt rule (keep it when cut short, count one after a failure) holds even
    // when two replicas race
    async stepStarted(s) {
      const [row] = await q(
        `INSERT INTO apply_steps (apply_id, task_id, phase, host, status, attempt, started_at)
         VALUES ($1, $2, $3, $4, 'running', 1, $5)
         ON CONFLICT (apply_id, task_id) DO UPDATE SET status = 'running',
           attempt = CASE WHEN apply_steps.status = 'running' THEN apply_steps.attempt ELSE apply_steps.attempt + 1 END,
           started_at = excluded.started_at, finished_at = NULL, error = NULL, output = NULL
         RETURNING attempt`,
        [s.applyId, s.taskId, s.phase, s.host, s.now],
      );
      return Number(row?.attempt);
    },
    async stepFinished(s) {
      await run(
        'UPDATE apply_steps SET status = $1, finished_at = $2, output = $3, error = $4 WHERE apply_id = $5 AND task_id = $6',
        [
          s.status,
          s.now,
          s.output === undefined ? null : JSON.stringify(s.output),
          s.error ? JSON.stringify(s.error) : null,
          s.applyId,
          s.taskId,
        ],
      );
    },
  };
}

/** SQLITE_FLEET_FINGERPRINT in PostgreSQL's dialect */
const PG_FLEET_FINGERPRINT = `SELECT
   (SELECT COUNT(*) || ':' || COALESCE(MAX(last_seen_at), 0) || ':' || COUNT(*) FILTER (WHERE state = 'revoked')
      || ':' || COALESCE(MAX(enrolled_at), 0) FROM hosts) || '|' ||
   (SELECT COUNT(*) || ':' || COALESCE(MAX(at), 0) FROM host_preflight) || '|' ||
   (SELECT COUNT(*) || ':' || COALESCE(MAX(at), 0) FROM host_health) || '|' ||
   (SELECT COUNT(*) || ':' || COALESCE(MAX(started_at), 0) || ':' || COALESCE(MAX(finished_at), 0)
      || ':' || COUNT(*) FILTER (WHERE status = 'running') FROM applies) || '|' ||
   (SELECT COUNT(*) || ':' || COALESCE(MAX(started_at), 0) || ':' || COALESCE(MAX(finished_at), 0)
      || ':' || COUNT(*) FILTER (WHERE status = 'failed') FROM apply_steps) AS f`;

function passwordOf(connectionString: string): string | undefined {
  try {
    const p = decodeURIComponent(new URL(connectionString).password);
    return p === '' ? undefined : p;
  } catch {
    return /(?:^|\s)password=(\S+)/.exec(connectionString)?.[1];
  }
}

/** pg's own errors carry no password; this makes sure of it before anything reaches a log */
function scrubbedError(err: unknown, password: string | undefined): { message: string; code?: string } {
  const e = err as { message?: unknown; code?: unknown };
  return {
    message: scrubSecret(String(e.message ?? err), password),
    ...(typeof e.code === 'string' ? { code: e.code } : {}),
  };
}

/**
 * A database error as the controller reports it: naming the store (password replaced), without
 * the driver's error object as cause, and retryable when the connection, not the statement, failed.
 */
function storeError(err: unknown, target: string, password: string | undefined): Error {
  if (err instanceof KctlError) return err;
  const { message, code } = scrubbedError(err, password);
  if (code?.startsWith('28')) {
    // invalid authorization: retrying with the same credentials cannot help
    return new KctlError('invalid_config', `Cannot log in to the PostgreSQL store ${target}: ${message}`, {
      details: { remedy: 'check the user and password in the store connection string' },
    });
  }
  // the server answered with an error (a SQLSTATE) unless this is the connection's own failure:
  // refused, timed out, TLS verification, server shutting down
  const connection =
    !(err instanceof pg.DatabaseError) ||
    code === undefined ||
    code.startsWith('08') ||
    code.startsWith('57P');
  if (connection) {
    return new KctlError('io_error', `Cannot use the PostgreSQL store ${target}: ${message}`, {
      retryable: true,
      details: { remedy: 'check that the database is up and reachable, and the credentials in --store' },
    });
  }
  const e = new Error(`PostgreSQL store ${target}: ${message}`) as Error & { code?: string };
  if (code !== undefined) e.code = code;
  return e;
}
