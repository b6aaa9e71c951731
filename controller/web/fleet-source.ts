import type { ApplyRecord, AsyncStore, StepRecord } from '../store/store.js';
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
  store: AsyncStore;
  /** a host's session on this replica, or (replicas) its recent heartbeats recorded by another */
  isOnline(host: { id: string; lastSeenAt: number | null }): boolean;
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

  private get applies(): AsyncStore['applies'] {
    return this.deps.store.applies;
  }

  private get preflight(): AsyncStore['preflight'] {
    return this.deps.store.preflight;
  }

  private now(): number {
    return this.deps.now?.() ?? Date.now();
  }

  async snapshot(): Promise<FleetSnapshot> {
    const hosts = await this.deps.store.listHosts();
    const byId = new Map(hosts.map((h) => [h.id, h]));
    await this.refreshPreflight();
    const records = await this.applies.listApplies(APPLIES_LOOKED_AT);
    const applies = await Promise.all(
      records.map(async (r) => ({ record: r, steps: await this.stepsOf(r) })),
    );
    const health = await this.deps.store.health.all();
    const record = applies[0]?.record;
    const apply = applies[0] ?? null;
    return buildFleetSnapshot({
      hosts,
      isOnline: (id) => this.deps.isOnline({ id, lastSeenAt: byId.get(id)?.lastSeenAt ?? null }),
      preflight: this.preflightCache,
      apply,
      lastApply: lastApplyByHost(applies),
      health,
      kubernetesVersion: (record ? kubernetesVersionOfPlan(record.plan) : null) ?? this.preflightVersion,
      now: this.now(),
      heartbeatIntervalMs: this.deps.heartbeatIntervalMs,
    });
  }

  private async stepsOf(record: ApplyRecord): Promise<StepRecord[]> {
    if (record.status === 'running') return this.applies.steps(record.id);
    const key = `${record.status}:${record.finishedAt}`;
    const cached = this.finishedSteps.get(record.id);
    if (cached?.key === key) return cached.steps;
    const steps = await this.applies.steps(record.id);
    this.finishedSteps.set(record.id, { key, steps });
    if (this.finishedSteps.size > APPLIES_LOOKED_AT * 2) {
      const oldest = this.finishedSteps.keys().next().value;
      if (oldest !== undefined) this.finishedSteps.delete(oldest);
    }
    return steps;
  }

  /** Changes whenever something the page shows may have changed in the store (Store.fleetFingerprint). */
  fingerprint(): Promise<string> {
    return this.deps.store.fleetFingerprint();
  }

  async preflightDetails(hostId: string): Promise<PreflightDetails | undefined> {
    const host = await this.deps.store.getHost(hostId);
    const p = host ? await this.preflight.latest(host.id) : undefined;
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

  private async refreshPreflight(): Promise<void> {
    const stamps = await this.preflight.stamps();
    let newest: { at: number; version: string } | null = null;
    for (const [hostId, at] of stamps) {
      if (this.preflightStamps.get(hostId) === at) continue;
      const p = await this.preflight.latest(hostId);
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
