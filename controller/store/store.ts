import type { HostFacts } from '../../proto/facts.js';
import type { HostPreflight } from '../../proto/admin-api.js';
import type { CheckResult, PreflightSpec } from '../../proto/checks.js';
import type { WireError } from '../../proto/errors.js';

export type HostState = 'active' | 'revoked';

export interface HostRecord {
  id: string;
  name: string;
  labels: Record<string, string>;
  state: HostState;
  certSerial: string;
  certNotAfter: number;
  enrolledAt: number;
  revokedAt: number | null;
  lastSeenAt: number | null;
  lastIp: string | null;
  agentVersion: string | null;
  facts: HostFacts | null;
}

export interface TokenRecord {
  id: string;
  secretHash: string;
  createdAt: number;
  expiresAt: number;
  usesTotal: number;
  usesLeft: number;
  labels: Record<string, string>;
  description: string;
}

export type TokenUse =
  { ok: true; token: TokenRecord } | { ok: false; reason: 'unknown' | 'expired' | 'exhausted' | 'mismatch' };

/** What an enrollment issued, kept so that a retry with the same key gets the same certificate. */
export interface EnrollmentRecord {
  hostId: string;
  tokenId: string;
  /** SHA-256 hex of the CSR's SubjectPublicKeyInfo */
  keySha256: string;
  certSerial: string;
  certPem: string;
  at: number;
}

export interface ClusterSpecRecord {
  name: string;
  /** cluster.yaml as parsed (the resolver reads it again) */
  spec: unknown;
  cniManifest: string | undefined;
  appliedAt: number;
}

export interface AuditEntry {
  id: number;
  at: number;
  actor: string;
  action: string;
  target: string | null;
  details: Record<string, unknown> | null;
}

export type ApplyStatus = 'running' | 'succeeded' | 'failed';
export type StepStatus = 'running' | 'done' | 'failed';

export interface ApplyRecord {
  id: string;
  cluster: string;
  /** what was asked for (spec, hosts, operation): a later request for the same thing resumes this apply */
  planHash: string;
  plan: unknown;
  status: ApplyStatus;
  startedAt: number;
  finishedAt: number | null;
  error: WireError | null;
}

export interface StepRecord {
  applyId: string;
  taskId: string;
  phase: string;
  host: string;
  status: StepStatus;
  attempt: number;
  startedAt: number;
  finishedAt: number | null;
  output: unknown;
  error: WireError | null;
}

/**
 * The apply journal (tables applies, apply_steps). Every task transition is committed before the
 * orchestrator moves on, so a controller killed at any point resumes from exactly what finished.
 */
export interface ApplyJournal {
  createApply(a: { id: string; cluster: string; planHash: string; plan: unknown; now: number }): void;
  /** The newest apply of a cluster that did not succeed: what `kctl apply` resumes. */
  latestUnfinished(cluster: string): ApplyRecord | undefined;
  getApply(id: string): ApplyRecord | undefined;
  /** newest first; 20 by default */
  listApplies(limit?: number): ApplyRecord[];
  finishApply(id: string, status: Exclude<ApplyStatus, 'running'>, now: number, error?: WireError): void;
  reopenApply(id: string): void;
  steps(applyId: string): StepRecord[];
  /**
   * Written before the task is sent to its host; returns its attempt number. A task found 'running'
   * was cut short by a crash: it keeps its attempt number, so the commands it sends again carry the
   * same ids and are answered from the agents' journals instead of running twice. A failed task's
   * next try is a new attempt.
   */
  stepStarted(s: { applyId: string; taskId: string; phase: string; host: string; now: number }): number;
  /** Written after the host answered. `output` must hold no secrets. */
  stepFinished(s: {
    applyId: string;
    taskId: string;
    status: 'done' | 'failed';
    now: number;
    output?: unknown;
    error?: WireError;
  }): void;
}

/** The latest preflight of one host, as the fleet page shows it. */
export interface StoredPreflight {
  hostId: string;
  at: number;
  spec: PreflightSpec;
  results: CheckResult[] | null;
  error: WireError | null;
  durationMs: number | null;
}

/** Each host's latest preflight (table host_preflight): one row per host, replaced by each run, deleted with the host. */
export interface PreflightTable {
  record(hostId: string, result: HostPreflight, at: number): void;
  latest(hostId: string): StoredPreflight | undefined;
  /** when each host's latest preflight ran, by host id */
  stamps(): Map<string, number>;
}

/** What the fleet page keeps of one host's last health run: counts and the ids of what is not ok. */
export interface HealthSummaryRecord {
  worst: 'ok' | 'warning' | 'critical';
  warnings: number;
  criticals: number;
  findings: string[];
  at: number;
  error: string | null;
  /** drift lines and certificate expiry, soonest first (column details, JSON) */
  drift: string[];
  certs: Array<{ path: string; notAfter: number }>;
}

/** Each host's newest health summary (table host_health), deleted with the host. */
export interface HealthTable {
  record(hostId: string, summary: HealthSummaryRecord): void;
  /** by host id */
  all(): Map<string, HealthSummaryRecord>;
}

/** A fleet page login token; the secret itself is never stored. */
export interface WebTokenRecord {
  id: string;
  readOnly: boolean;
  description: string;
  createdAt: number;
  expiresAt: number | null;
  lastUsedAt: number | null;
}

/** Table web_tokens; controller/web/web-tokens.ts mints and verifies, this only keeps rows. */
export interface WebTokenTable {
  insert(token: WebTokenRecord & { secretHash: string }): void;
  get(id: string): (WebTokenRecord & { secretHash: string }) | undefined;
  touch(id: string, at: number): void;
  /** oldest first */
  list(): WebTokenRecord[];
  delete(id: string): boolean;
}

/**
 * The controller's state. SQLite by default (sqlite-store.ts); the interface is what the rest of the
 * controller sees, so a deployment can put it on another database.
 */
export interface Store {
  createHost(host: Omit<HostRecord, 'lastSeenAt' | 'lastIp' | 'agentVersion' | 'facts' | 'revokedAt'>): void;
  getHost(id: string): HostRecord | undefined;
  /** name, state and current certificate serial only: the check before every command, without parsing facts and labels */
  getHostState(id: string): Pick<HostRecord, 'name' | 'state' | 'certSerial'> | undefined;
  getHostByName(name: string): HostRecord | undefined;
  listHosts(): HostRecord[];
  recordHostSeen(
    id: string,
    seen: { at: number; ip: string | null; agentVersion?: string; facts?: HostFacts },
  ): void;
  setHostCertificate(id: string, serial: string, notAfter: number): void;
  revokeHost(id: string, at: number): boolean;
  deleteHost(id: string): boolean;

  createToken(token: TokenRecord): void;
  listTokens(): TokenRecord[];
  deleteToken(id: string): boolean;
  /** checks the secret, expiry and uses, and takes one use, atomically */
  useToken(id: string, verifySecret: (hash: string) => boolean, now: number): TokenUse;
  /** gives a use back when enrollment fails after the token was taken */
  refundToken(id: string): void;
  /** checks the secret, expiry and uses like useToken, and takes nothing */
  checkToken(id: string, verifySecret: (hash: string) => boolean, now: number): TokenUse;

  /** written in the same transaction as the host row and the token use */
  recordEnrollment(enrollment: EnrollmentRecord): void;
  getEnrollment(hostId: string): EnrollmentRecord | undefined;

  audit(entry: Omit<AuditEntry, 'id' | 'at'> & { at?: number }): void;
  listAudit(limit: number): AuditEntry[];

  /** a cluster's spec as last applied (scheduled health judges drift against it); reset forgets it */
  saveClusterSpec(record: ClusterSpecRecord): void;
  listClusterSpecs(): ClusterSpecRecord[];
  deleteClusterSpec(name: string): void;

  readonly applies: ApplyJournal;
  readonly preflight: PreflightTable;
  readonly health: HealthTable;
  readonly webTokens: WebTokenTable;
  /**
   * Changes whenever something the fleet page shows may have changed: a heartbeat (last seen),
   * enrolment, revocation, deletion, a preflight or health run, an apply step. One cheap query.
   */
  fleetFingerprint(): string;

  /** runs fn in one transaction */
  transaction<T>(fn: () => T): T;
  close(): void;
}

/** The sub-interfaces of Store that are tables of their own. */
export type StoreTableKey = 'applies' | 'preflight' | 'health' | 'webTokens';

type Promised<F> = F extends (...args: infer A) => infer R ? (...args: A) => Promise<Awaited<R>> : never;
type AsyncTable<T> = { [K in keyof T]: Promised<T[K]> };

/**
 * Store for a database reached over the network (pg-store.ts): every method of Store, its tables'
 * included, returning a Promise. Derived from Store so the two cannot drift. A transaction gets its
 * own AsyncStore bound to one connection; what fn does through it commits or rolls back together.
 */
export type AsyncStore = {
  [K in Exclude<keyof Store, 'transaction' | StoreTableKey>]: Promised<Store[K]>;
} & {
  readonly [K in StoreTableKey]: AsyncTable<Store[K]>;
} & {
  transaction<T>(fn: (tx: AsyncStore) => Promise<T>): Promise<T>;
};
