/**
 * What the fleet page's JSON routes and live channel send. Types only: the browser module imports
 * them too (erased at bundle time), so the page and the controller cannot drift.
 */
import type { FleetFinding, CheckResult, PreflightSpec } from '../../proto/checks.js';
import type { WireError } from '../../proto/errors.js';

export type HostStatus = 'online' | 'offline' | 'revoked';

export interface PreflightSummary {
  pass: number;
  warn: number;
  fail: number;
  skip: number;
  at: number;
  /** why the checks could not run (host offline, timeout); counts are then 0 */
  error: string | null;
}

/**
 * The host's part in the newest apply that had a task on it: its failed task, else its running
 * one, else its last task, done. Null when no apply ever had a task on the host.
 */
export interface HostApply {
  phase: string;
  step: string;
  state: 'running' | 'done' | 'failed';
  applyId: string;
  /** when the host's task finished (or started, while running) */
  at: number;
}

/** The host's last health check run (`kctl health`), counted; null when none ran. */
export interface HostHealthSummary {
  worst: 'ok' | 'warning' | 'critical';
  warnings: number;
  criticals: number;
  /** the ids of the warnings and criticals, worst first, up to eight */
  findings: string[];
  at: number;
  /** why the host could not be asked (offline, timed out) */
  error: string | null;
  /** what differs from what kctl put in place, one line per change (Drift-* findings), up to 16 */
  drift: string[];
  /** every certificate the run read, soonest expiry first (notAfter: ms since the epoch) */
  certs: Array<{ path: string; notAfter: number }>;
}

export interface FleetHostRow {
  id: string;
  name: string;
  roles: string[];
  status: HostStatus;
  lastSeenAt: number | null;
  ip: string | null;
  os: string | null;
  kernel: string | null;
  agentVersion: string | null;
  kubeVersion: string | null;
  /** installed kube packages by name, from the refreshed facts */
  kubePackages: Record<string, string> | null;
  /** unit states from the refreshed facts (`systemctl is-active`); null where systemd is not init */
  services: Record<string, string> | null;
  health: HostHealthSummary | null;
  /** install preflight: shown in the host's detail, not as a column */
  preflight: PreflightSummary | null;
  apply: HostApply | null;
}

export interface ApplySummary {
  id: string;
  cluster: string;
  status: 'running' | 'succeeded' | 'failed';
  startedAt: number;
  finishedAt: number | null;
  /** the phase running now, or where it stopped */
  phase: { id: string; title: string } | null;
  phasesDone: number;
  phasesTotal: number;
  tasksDone: number;
  tasksTotal: number;
  failures: Array<{ host: string; step: string; message: string }>;
}

export interface FleetSummary {
  total: number;
  byStatus: Record<HostStatus, number>;
  preflight: { failing: number; warning: number; notRun: number };
  /**
   * active hosts by their state now: critical when a unit the facts report is not active or the
   * last health run found something critical; warning when it found a warning; notRun when no
   * health run and no unit states say anything
   */
  health: { ok: number; warning: number; critical: number; notRun: number };
  apply: ApplySummary | null;
  /** duplicate identities and kubelet version skew (controller/fleet-checks.ts) */
  warnings: FleetFinding[];
  /** the version skew is judged against; null when nothing names one */
  kubernetesVersion: string | null;
}

export interface FleetSnapshot {
  /** controller clock, so the page computes "last seen" without trusting its own */
  now: number;
  heartbeatIntervalMs: number;
  summary: FleetSummary;
  hosts: FleetHostRow[];
}

export type LiveMessage =
  | { type: 'snapshot'; seq: number; snapshot: FleetSnapshot }
  | {
      type: 'update';
      seq: number;
      now: number;
      summary: FleetSummary;
      upserts: FleetHostRow[];
      removed: string[];
    }
  | { type: 'tick'; now: number };

export interface SessionInfo {
  user: string;
  readOnly: boolean;
  /**
   * per-session token (S13, ASVS 4.4.2): offered as a WebSocket subprotocol on the live channel
   * and sent with the logout form
   */
  csrfToken: string;
  livePath: string;
}

export interface PreflightDetails {
  host: string;
  at: number;
  spec: PreflightSpec;
  results: CheckResult[] | null;
  error: WireError | null;
  durationMs: number | null;
}

/** The live channel's subprotocol; the token travels as a second one: `kctl-token.<hex>`. */
export const LIVE_PROTOCOL = 'kctl-live.v1';
export const LIVE_TOKEN_PREFIX = 'kctl-token.';
export const LIVE_PATH = '/live';
