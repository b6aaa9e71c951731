import type { ApplyRecord, StepRecord, Store } from '../store/store.js';
import type { FleetSnapshot, PreflightDetails, PreflightSummary } from './fleet-api.js';
import {
  buildFleetSnapshot,
  kubernetesVersionOfPlan,
  lastApplyByHost,
  summarizePreflight,
} from './fleet-view.js';

/** how many applies back the page looks for a host's last apply */
const APPLIES_LOOKED_AT = 20;

export interface FleetSourceDeps {
  store: Store;
  isOnline(hostId: string): boolean;
  heartbeatIntervalMs: number;
  now?: () => number;
}

/**
 * Reads what the fleet page shows from the store and the registry. The judgement is in
 * fleet-view.ts; this class only gathers, and caches preflight summaries by their time stamp so a
 * rebuild for 1,000 hosts does not re-read every check result.
 */
export class FleetSource {
  /** steps of finished applies, by id, status and finish time: they change only when resumed */
  private readonly finishedSteps = new Map<string, { key: string; steps: StepRecord[] }>();
  private readonly preflightCache = new Map<string, PreflightSummary>();
  private readonly preflightStamps = new Map<string, number>();
  private preflightVersion: string | null = null;

  constructor(private readonly deps: FleetSourceDeps) {}

  private get applies(): Store['applies'] {
    return this.deps.store.applies;
  }

  private get preflight(): Store['preflight'] {
    return this.deps.store.preflight;
  }

  private now(): number {
    return this.deps.now?.() ?? Date.now();
  }

  snapshot(): FleetSnapshot {
    const hosts = this.deps.store.listHosts();
    this.refreshPreflight();
    const applies = this.applies
      .listApplies(APPLIES_LOOKED_AT)
      .map((r) => ({ record: r, steps: this.stepsOf(r) }));
    const record = applies[0]?.record;
    const apply = applies[0] ?? null;
    return buildFleetSnapshot({
      hosts,
      isOnline: (id) => this.deps.isOnline(id),
      preflight: this.preflightCache,
      apply,
      lastApply: lastApplyByHost(applies),
      health: this.deps.store.health.all(),
      kubernetesVersion: (record ? kubernetesVersionOfPlan(record.plan) : null) ?? this.preflightVersion,
      now: this.now(),
      heartbeatIntervalMs: this.deps.heartbeatIntervalMs,
    });
  }

  private stepsOf(record: ApplyRecord): StepRecord[] {
    if (record.status === 'running') return this.applies.steps(record.id);
    const key = `${record.status}:${record.finishedAt}`;
    const cached = this.finishedSteps.get(record.id);
    if (cached?.key === key) return cached.steps;
    const steps = this.applies.steps(record.id);
    this.finishedSteps.set(record.id, { key, steps });
    if (this.finishedSteps.size > APPLIES_LOOKED_AT * 2) {
      const oldest = this.finishedSteps.keys().next().value;
      if (oldest !== undefined) this.finishedSteps.delete(oldest);
    }
    return steps;
  }

  /** Changes whenever something the page shows may have changed in the store (Store.fleetFingerprint). */
  fingerprint(): string {
    return this.deps.store.fleetFingerprint();
  }

  preflightDetails(hostId: string): PreflightDetails | undefined {
    const host = this.deps.store.getHost(hostId);
    const p = host ? this.preflight.latest(host.id) : undefined;
    if (!host || !p) return undefined;
    return {
      host: host.name,
      at: p.at,
      spec: p.spec,
      results: p.results,
      error: p.error,
      durationMs: p.durationMs,
    };
  }

  private refreshPreflight(): void {
    const stamps = this.preflight.stamps();
    let newest: { at: number; version: string } | null = null;
    for (const [hostId, at] of stamps) {
      if (this.preflightStamps.get(hostId) === at) continue;
      const p = this.preflight.latest(hostId);
      if (!p) continue;
      this.preflightStamps.set(hostId, p.at);
      this.preflightCache.set(hostId, summarizePreflight(p));
      if (newest === null || p.at > newest.at) newest = { at: p.at, version: p.spec.kubernetesVersion };
    }
    if (newest !== null) this.preflightVersion = newest.version;
    // a deleted host takes its preflight row with it (ON DELETE CASCADE)
    for (const hostId of [...this.preflightStamps.keys()]) {
      if (!stamps.has(hostId)) {
        this.preflightStamps.delete(hostId);
        this.preflightCache.delete(hostId);
      }
    }
  }
}
