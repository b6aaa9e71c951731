/**
 * Schema migrations, applied in order; PRAGMA user_version counts how many have run.
 * Never edit a migration that has shipped: append a new one.
 */
export const MIGRATIONS: readonly string[] = [
  // 1: hosts, tokens, audit
  `CREATE TABLE hosts (
     id TEXT PRIMARY KEY,
     name TEXT NOT NULL UNIQUE,
     labels TEXT NOT NULL DEFAULT '{}',
     state TEXT NOT NULL CHECK (state IN ('active', 'revoked')),
     cert_serial TEXT NOT NULL,
     cert_not_after INTEGER NOT NULL,
     enrolled_at INTEGER NOT NULL,
     revoked_at INTEGER,
     last_seen_at INTEGER,
     last_ip TEXT,
     agent_version TEXT,
     facts TEXT
   );
   CREATE TABLE tokens (
     id TEXT PRIMARY KEY,
     secret_hash TEXT NOT NULL,
     created_at INTEGER NOT NULL,
     expires_at INTEGER NOT NULL,
     uses_total INTEGER NOT NULL,
     uses_left INTEGER NOT NULL,
     labels TEXT NOT NULL DEFAULT '{}',
     description TEXT NOT NULL DEFAULT ''
   );
   CREATE TABLE audit (
     id INTEGER PRIMARY KEY AUTOINCREMENT,
     at INTEGER NOT NULL,
     actor TEXT NOT NULL,
     action TEXT NOT NULL,
     target TEXT,
     details TEXT
   );
   -- the audit trail is append-only (S21)
   CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit BEGIN SELECT RAISE(ABORT, 'audit is append-only'); END;
   CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit BEGIN SELECT RAISE(ABORT, 'audit is append-only'); END;`,
  // 2: applies and their step journal: every (host, step) transition is written before and after it runs
  `CREATE TABLE applies (
     id TEXT PRIMARY KEY,
     cluster TEXT NOT NULL,
     plan_hash TEXT NOT NULL,
     plan TEXT NOT NULL,
     status TEXT NOT NULL CHECK (status IN ('running', 'succeeded', 'failed')),
     started_at INTEGER NOT NULL,
     finished_at INTEGER,
     error TEXT
   );
   CREATE INDEX applies_by_cluster ON applies (cluster, started_at);
   CREATE TABLE apply_steps (
     apply_id TEXT NOT NULL REFERENCES applies (id) ON DELETE CASCADE,
     task_id TEXT NOT NULL,
     phase TEXT NOT NULL,
     host TEXT NOT NULL,
     status TEXT NOT NULL CHECK (status IN ('running', 'done', 'failed')),
     attempt INTEGER NOT NULL DEFAULT 1,
     started_at INTEGER NOT NULL,
     finished_at INTEGER,
     output TEXT,
     error TEXT,
     PRIMARY KEY (apply_id, task_id)
   );`,
  // 3: fleet page: web login tokens (hash only) and the latest preflight result per host
  `CREATE TABLE web_tokens (
     id TEXT PRIMARY KEY,
     secret_hash TEXT NOT NULL,
     read_only INTEGER NOT NULL CHECK (read_only IN (0, 1)),
     description TEXT NOT NULL DEFAULT '',
     created_at INTEGER NOT NULL,
     expires_at INTEGER,
     last_used_at INTEGER
   );
   CREATE TABLE host_preflight (
     host_id TEXT PRIMARY KEY REFERENCES hosts (id) ON DELETE CASCADE,
     at INTEGER NOT NULL,
     spec TEXT NOT NULL,
     results TEXT,
     error TEXT,
     duration_ms INTEGER
   );`,
  // 4: what each enrollment issued (certificate and key hash), so a retry whose reply was lost is
  // answered with the same certificate instead of "already enrolled"
  `CREATE TABLE enrollments (
     host_id TEXT PRIMARY KEY REFERENCES hosts (id) ON DELETE CASCADE,
     token_id TEXT NOT NULL,
     key_sha256 TEXT NOT NULL,
     cert_serial TEXT NOT NULL,
     cert_pem TEXT NOT NULL,
     at INTEGER NOT NULL
   );`,
  // 5: fleet page: the last health run's summary per host (controller/web/health-results.ts)
  `CREATE TABLE host_health (
     host_id TEXT PRIMARY KEY REFERENCES hosts (id) ON DELETE CASCADE,
     at INTEGER NOT NULL,
     worst TEXT NOT NULL CHECK (worst IN ('ok', 'warning', 'critical')),
     warnings INTEGER NOT NULL,
     criticals INTEGER NOT NULL,
     findings TEXT NOT NULL,
     error TEXT
   );`,
  // 6: each cluster's spec as last applied, so scheduled health judges drift against it
  `CREATE TABLE cluster_specs (
     name TEXT PRIMARY KEY,
     spec TEXT NOT NULL,
     cni_manifest TEXT,
     applied_at INTEGER NOT NULL
   );`,
  // 7: the fleet page's drift and certificate expiry columns: {drift, certs} of the last health run
  `ALTER TABLE host_health ADD COLUMN details TEXT;`,
  // 8: the replicas' relay table (store/pg-relay.ts); one controller on SQLite never relays, the
  // table is here so both stores keep one numbering of migrations
  `CREATE TABLE relay_messages (
     id TEXT PRIMARY KEY,
     body TEXT NOT NULL,
     at INTEGER NOT NULL
   );`,
];
