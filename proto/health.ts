import { z } from 'zod';
import { HostSpec } from './host-spec.js';
import { WireError } from './errors.js';

/** How bad a health finding is; `kctl health` exits 0, 1 or 2 by the worst one. */
export const HealthSeverity = z.enum(['ok', 'warning', 'critical']);
export type HealthSeverity = z.infer<typeof HealthSeverity>;

const text = z.string().max(4096);

/** One health check's finding on a running node (docs/health.md lists every id). */
export const HealthResult = z.strictObject({
  /** stable id: "Service-kubelet.service", "CertExpiry-/etc/kubernetes/pki/apiserver.crt", "Drift-sysctl" */
  id: z.string().min(1).max(4200),
  title: text,
  severity: HealthSeverity,
  observed: text,
  /** what to do; '' when ok */
  remedy: text,
  /** CertExpiry findings: the certificate's notAfter (ISO 8601), so expiry can be sorted, not parsed */
  notAfter: z.iso.datetime().optional(),
});
export type HealthResult = z.infer<typeof HealthResult>;

export const HealthRunArgs = z.strictObject({
  /** the host spec kctl converged this host to: every change its plan still shows is drift */
  spec: HostSpec.optional(),
});

export const HealthRunResult = z.strictObject({
  results: z.array(HealthResult).max(2000),
  durationMs: z.number().nonnegative(),
});

const RANK: Record<HealthSeverity, number> = { ok: 0, warning: 1, critical: 2 };

export function severityRank(s: HealthSeverity): number {
  return RANK[s];
}

/** The worst severity among the results; ok for none. */
export function worstSeverity(results: readonly { severity: HealthSeverity }[]): HealthSeverity {
  let worst: HealthSeverity = 'ok';
  for (const r of results) if (RANK[r.severity] > RANK[worst]) worst = r.severity;
  return worst;
}

/** POST /v1/admin/health */
export const HealthRequest = z.strictObject({
  hosts: z.array(z.string().min(1).max(253)).max(10_000).optional(),
  /** cluster.yaml (parsed YAML): hosts' specs for drift and the control planes to ask about nodes */
  cluster: z.unknown().optional(),
});
export type HealthRequest = z.infer<typeof HealthRequest>;

export const HostHealth = z.strictObject({
  host: z.string(),
  /** worst severity of the host's results; critical when the host could not be asked */
  worst: HealthSeverity,
  results: z.array(HealthResult).max(2001),
  error: WireError.optional(),
});
export type HostHealth = z.infer<typeof HostHealth>;

export const HealthResponse = z.strictObject({
  worst: HealthSeverity,
  /** worst first */
  hosts: z.array(HostHealth),
  checkedAt: z.string(),
});
export type HealthResponse = z.infer<typeof HealthResponse>;
