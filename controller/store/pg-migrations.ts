/**
 * The PostgreSQL schema, migration for migration the same as migrations.ts (same numbers, same
 * tables and columns): millisecond times are BIGINT, JSON is kept as text exactly as written.
 * Table kctl_schema holds how many have run. Never edit a migration that has shipped: append one,
 * here and in migrations.ts together (pg-store.test.ts checks the counts match).
 */
export const PG_MIGRATIONS: readonly string[] = [
  // 1: hosts, tokens, audit
  `CREATE TABLE hosts (
     id TEXT PRIMARY KEY,
     name TEXT NOT NULL UNIQUE,
     labels TEXT NOT NULL DEFAULT '{}',
     state TEXT NOT NULL CHECK (state IN ('active', 'revoked')),
     cert_serial TEXT NOT NULL,
     cert_not_after BIGINT NOT NULL,
     enrolled_at BIGINT NOT NULL,
     revoked_at BIGINT,
     last_seen_at BIGINT,
     last_ip TEXT,
     agent_version TEXT,
     facts TEXT
   );
   CREATE TABLE tokens (
     id TEXT PRIMARY KEY,
     secret_hash TEXT NOT NULL,
     created_at BIGINT NOT NULL,
     expires_at BIGINT NOT NULL,
     uses_total INTEGER NOT NULL,
     uses_left INTEGER NOT NULL,
     labels TEXT NOT NULL DEFAULT '{}',
     description TEXT NOT NULL DEFAULT ''
   );
   CREATE TABLE audit (
     id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
     at BIGINT NOT NULL,
     actor TEXT NOT NULL,
     action TEXT NOT NULL,
     target TEXT,
     details TEXT
   );
   -- the audit trail is append-only (S21)
   CREATE FUNCTION kctl_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
     BEGIN RAISE EXCEPTION 'audit is append-only'; END $$;
   CREATE TRIGGER audit_no_change BEFORE UPDATE OR DELETE ON audit
     FOR EACH ROW EXECUTE FUNCTION kctl_audit_append_only();
   CREATE TRIGGER audit_no_truncate BEFORE TRUNCATE ON audit
     FOR EACH STATEMENT EXECUTE FUNCTION kctl_audit_append_only();`,
  // 2: applies and their step journal; seq orders applies started in the same millisecond (SQLite's rowid)
  `CREATE TABLE applies (
     id TEXT PRIMARY KEY,
     seq BIGINT GENERATED ALWAYS AS IDENTITY,
     cluster TEXT NOT NULL,
     plan_hash TEXT NOT NULL,
     plan TEXT NOT NULL,
     status TEXT NOT NULL CHECK (status IN ('running', 'succeeded', 'failed')),
     started_at BIGINT NOT NULL,
     finished_at BIGINT,
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
     started_at BIGINT NOT NULL,
     finished_at BIGINT,
     output TEXT,
     error TEXT,
     PRIMARY KEY (apply_id, task_id)
   );`,
  // 3: fleet page: web login tokens (hash only) and the latest preflight result per host
  `CREATE TABLE web_tokens (
     id TEXT PRIMARY KEY,
     secret_hash TEXT NOT NULL,
     read_only SMALLINT NOT NULL CHECK (read_only IN (0, 1)),
     description TEXT NOT NULL DEFAULT '',
     created_at BIGINT NOT NULL,
     expires_at BIGINT,
     last_used_at BIGINT
   );
   CREATE TABLE host_preflight (
     host_id TEXT PRIMARY KEY REFERENCES hosts (id) ON DELETE CASCADE,
     at BIGINT NOT NULL,
     spec TEXT NOT NULL,
     results TEXT,
     error TEXT,
     duration_ms DOUBLE PRECISION
   );`,
  // 4: what each enrollment issued
  `CREATE TABLE enrollments (
     host_id TEXT PRIMARY KEY REFERENCES hosts (id) ON DELETE CASCADE,
     token_id TEXT NOT NULL,
     key_sha256 TEXT NOT NULL,
     cert_serial TEXT NOT NULL,
     cert_pem TEXT NOT NULL,
     at BIGINT NOT NULL
   );`,
  // 5: fleet page: the last health run's summary per host
  `CREATE TABLE host_health (
     host_id TEXT PRIMARY KEY REFERENCES hosts (id) ON DELETE CASCADE,
     at BIGINT NOT NULL,
     worst TEXT NOT NULL CHECK (worst IN ('ok', 'warning', 'critical')),
     warnings INTEGER NOT NULL,
     criticals INTEGER NOT NULL,
     findings TEXT NOT NULL,
     error TEXT
   );`,
  // 6: each cluster's spec as last applied
  `CREATE TABLE cluster_specs (
     name TEXT PRIMARY KEY,
     spec TEXT NOT NULL,
     cni_manifest TEXT,
     applied_at BIGINT NOT NULL
   );`,
  // 7: the fleet page's drift and certificate expiry columns
  `ALTER TABLE host_health ADD COLUMN details TEXT;`,
  // 8: bodies of commands and results relayed between replicas (pg-relay.ts); transient, so unlogged
  `CREATE UNLOGGED TABLE relay_messages (
     id TEXT PRIMARY KEY,
     body TEXT NOT NULL,
     at BIGINT NOT NULL
   );`,
];
