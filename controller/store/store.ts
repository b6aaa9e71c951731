import type { HostFacts } from '../../proto/facts.js';

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

  /** runs fn in one transaction */
  transaction<T>(fn: () => T): T;
  close(): void;
}
