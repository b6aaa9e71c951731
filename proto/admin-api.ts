import { z } from 'zod';
import { HostFacts } from './facts.js';
import { Outcome, OpName } from './wire.js';
import { WireError } from './errors.js';
import { CheckResult, FleetFinding, PreflightSpec } from './checks.js';
import { K8sLabels } from './validators.js';

const Labels = z.record(z.string().regex(/^[a-z0-9][a-z0-9._/-]{0,62}$/), z.string().max(63));
const Pem = z.string().max(16 * 1024);

// ---------- enrollment (no client certificate yet; authenticated by the bootstrap token) ----------

export const EnrollRequest = z.strictObject({
  token: z.string().max(64),
  csrPem: Pem,
  facts: HostFacts,
  /** Kubernetes label syntax on the way in (issue 12); views keep reading what the store holds */
  labels: K8sLabels.default({}),
  protocolVersion: z.number().int(),
});
export type EnrollRequest = z.infer<typeof EnrollRequest>;

export const EnrollResponse = z.strictObject({
  hostId: z.string(),
  hostName: z.string(),
  certPem: Pem,
  caPem: Pem,
});
export type EnrollResponse = z.infer<typeof EnrollResponse>;

// ---------- admin API (mutual TLS with the admin certificate) ----------

export const ApiErrorBody = z.strictObject({ error: WireError });

export const HostView = z.strictObject({
  id: z.string(),
  name: z.string(),
  state: z.enum(['active', 'revoked']),
  online: z.boolean(),
  lastSeenAt: z.number().nullable(),
  ip: z.string().nullable(),
  os: z.string().nullable(),
  kernel: z.string().nullable(),
  agentVersion: z.string().nullable(),
  labels: Labels,
  enrolledAt: z.number(),
  facts: HostFacts.nullable(),
  /** the host's last health run (`kctl health` or the schedule), counted (absent from a controller that keeps none) */
  health: z
    .strictObject({
      worst: z.enum(['ok', 'warning', 'critical']),
      warnings: z.number(),
      criticals: z.number(),
      /** ids of what is not ok, criticals first (at most 8) */
      findings: z.array(z.string().max(256)).max(16).optional(),
      at: z.number(),
      error: z.string().nullable(),
    })
    .nullable()
    .optional(),
  /** the host's part in the newest apply that had a task on it */
  lastApply: z
    .strictObject({
      state: z.enum(['running', 'done', 'failed']),
      phase: z.string(),
      step: z.string(),
      at: z.number(),
    })
    .nullable()
    .optional(),
});
export type HostView = z.infer<typeof HostView>;
export const HostList = z.strictObject({ hosts: z.array(HostView) });

export const TokenCreateRequest = z.strictObject({
  ttlMs: z.number().int().positive(),
  uses: z.number().int().min(1).max(10_000).default(1),
  labels: K8sLabels.default({}),
  description: z.string().max(256).default(''),
});
export type TokenCreateRequest = z.infer<typeof TokenCreateRequest>;

export const TokenCreateResponse = z.strictObject({
  id: z.string(),
  token: z.string(),
  expiresAt: z.number(),
  uses: z.number(),
});

export const TokenView = z.strictObject({
  id: z.string(),
  createdAt: z.number(),
  expiresAt: z.number(),
  usesTotal: z.number(),
  usesLeft: z.number(),
  labels: Labels,
  description: z.string(),
});
export type TokenView = z.infer<typeof TokenView>;
export const TokenList = z.strictObject({ tokens: z.array(TokenView) });

/** Runs one typed op on one host (the op set is closed; the agent validates args again). */
export const RunOpRequest = z.strictObject({
  host: z.string().max(253),
  op: OpName,
  args: z.record(z.string(), z.unknown()).default({}),
  timeoutMs: z.number().int().min(100).max(3_600_000).default(60_000),
});
export type RunOpRequest = z.infer<typeof RunOpRequest>;

export const RunOpResponse = z.strictObject({
  host: z.string(),
  commandId: z.string(),
  replayed: z.boolean(),
  durationMs: z.number(),
  outcome: Outcome,
});
export type RunOpResponse = z.infer<typeof RunOpResponse>;

export const OkResponse = z.strictObject({ ok: z.literal(true) });

export const AuditEntryView = z.strictObject({
  id: z.number(),
  at: z.number(),
  actor: z.string(),
  action: z.string(),
  target: z.string().nullable(),
  details: z.record(z.string(), z.unknown()).nullable(),
});
export const AuditList = z.strictObject({ entries: z.array(AuditEntryView) });

// ---------- preflight ----------

export const PreflightRequest = z.strictObject({
  /** host names; all enrolled, active hosts when absent */
  hosts: z.array(z.string().max(253)).max(10_000).optional(),
  /** per-host check specs computed by kctl from cluster.yaml; defaults from labels when absent */
  specs: z.record(z.string(), PreflightSpec).optional(),
  /** or a cluster.yaml (parsed by kctl): roles and versions come from it */
  cluster: z.record(z.string(), z.unknown()).optional(),
  timeoutMs: z.number().int().min(1000).max(600_000).default(60_000),
});
export type PreflightRequest = z.infer<typeof PreflightRequest>;

export const HostPreflight = z.strictObject({
  host: z.string(),
  spec: PreflightSpec,
  results: z.array(CheckResult).optional(),
  durationMs: z.number().optional(),
  /** why the checks could not run on this host (offline, timed out...) */
  error: WireError.optional(),
});
export type HostPreflight = z.infer<typeof HostPreflight>;

export const PreflightResponse = z.strictObject({
  hosts: z.array(HostPreflight),
  fleet: z.array(FleetFinding),
});
export type PreflightResponse = z.infer<typeof PreflightResponse>;

/** Certificate rotation over the host's current mutual-TLS identity (S6). */
export const RenewRequest = z.strictObject({ csrPem: Pem });
export const RenewResponse = z.strictObject({ certPem: Pem });
