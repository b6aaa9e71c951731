import type { HostHealth } from '../../proto/health.js';
import type { AsyncStore } from '../store/store.js';
import type { HostHealthSummary } from './fleet-api.js';

const MAX_FINDINGS = 8;
const MAX_DRIFT = 16;
const MAX_CERTS = 64;

/** What the fleet page keeps of one host's health run: counts and the ids of what is not ok. */
export function summarizeHealth(h: HostHealth, at: number): HostHealthSummary {
  const bad = h.results.filter((r) => r.severity !== 'ok');
  const criticals = bad.filter((r) => r.severity === 'critical');
  const warnings = bad.filter((r) => r.severity === 'warning');
  return {
    worst: h.worst,
    warnings: warnings.length,
    criticals: criticals.length,
    findings: [...criticals, ...warnings].slice(0, MAX_FINDINGS).map((r) => r.id.slice(0, 200)),
    at,
    error: h.error ? h.error.message.slice(0, 512) : null,
    // one line per change: a drift finding's observed text lists its step's changes, "; "-joined
    drift: h.results
      .filter((r) => r.id.startsWith('Drift-') && r.severity !== 'ok')
      .flatMap((r) =>
        r.observed
          .split('; ')
          .filter((line) => line !== '')
          .map((line) => `${r.title.replace(/: as kctl converged it$/, '')}: ${line}`),
      )
      .slice(0, MAX_DRIFT)
      .map((line) => line.slice(0, 300)),
    certs: h.results
      .flatMap((r) =>
        r.id.startsWith('CertExpiry-') && r.notAfter !== undefined
          ? [{ path: r.id.slice('CertExpiry-'.length).slice(0, 300), notAfter: Date.parse(r.notAfter) }]
          : [],
      )
      .sort((a, b) => a.notAfter - b.notAfter)
      .slice(0, MAX_CERTS),
  };
}

/**
 * Keeps each host's newest health summary for the fleet page (store.health), in one transaction;
 * `kctl health` (the health route) and the health schedule call it after every run.
 */
export async function recordHealth(
  store: AsyncStore,
  hosts: readonly HostHealth[],
  at = Date.now(),
): Promise<void> {
  await store.transaction(async (tx) => {
    for (const h of hosts) {
      const host = await tx.getHostByName(h.host);
      if (host) await tx.health.record(host.id, summarizeHealth(h, at));
    }
  });
}
