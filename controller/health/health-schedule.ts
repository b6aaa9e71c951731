import type { Logger } from 'pino';
import { toWireError } from '../../proto/errors.js';
import type { HostHealth } from '../../proto/health.js';
import { recordHealth } from '../web/health-results.js';
import { runFleetHealth, type HealthDeps } from './health-service.js';

/** ±20 %, so a fleet's controllers (and restarts) do not line their runs up. */
const JITTER = 0.2;

/**
 * Health of running nodes on a schedule, not only when someone runs `kctl health`: every
 * `intervalMs` (jittered), each cluster's hosts are checked against the spec it last converged to
 * (so drift is found: a file, sysctl, module, hold or service kctl put there that changed), and
 * enrolled hosts in no applied cluster get the checks that need no spec. Results go where the health
 * route puts them, so the fleet page and `kctl hosts` show them. One run at a time.
 */
export class HealthSchedule {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = false;

  constructor(
    private readonly deps: HealthDeps & { log: Logger; intervalMs: number; random?: () => number },
  ) {}

  start(): void {
    if (this.deps.intervalMs <= 0) return;
    this.schedule();
  }

  /** No new pass starts; one under way is abandoned (its results are dropped, not written). */
  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
  }

  /** One pass over the fleet; a pass already under way is joined, not doubled. */
  runOnce(): Promise<void> {
    this.running ??= this.pass().finally(() => (this.running = undefined));
    return this.running;
  }

  private schedule(): void {
    if (this.stopped) return;
    const r = this.deps.random?.() ?? Math.random();
    const delay = Math.round(this.deps.intervalMs * (1 - JITTER + 2 * JITTER * r));
    this.timer = setTimeout(() => {
      void this.runOnce()
        .catch((err: unknown) =>
          this.deps.log.warn({ err: toWireError(err) }, 'scheduled health pass failed'),
        )
        .finally(() => this.schedule());
    }, delay);
    this.timer.unref();
  }

  private async pass(): Promise<void> {
    const { store, log } = this.deps;
    const started = Date.now();
    const checked = new Set<string>();
    const record = async (hosts: readonly HostHealth[]): Promise<void> => {
      if (this.stopped) return;
      await recordHealth(store, hosts);
      for (const h of hosts) checked.add(h.host);
    };
    for (const c of await store.listClusterSpecs()) {
      try {
        await record((await runFleetHealth(this.deps, { cluster: c.spec })).hosts);
      } catch (err) {
        // a host of the spec revoked since, a spec this version no longer reads: the rest still counts
        log.warn({ cluster: c.name, err: toWireError(err) }, 'scheduled health: cluster skipped');
      }
    }
    if (this.stopped) return;
    const rest = (await store.listHosts())
      .filter((h) => h.state === 'active' && !checked.has(h.name) && this.deps.registry.isOnline(h.id))
      .map((h) => h.name);
    if (rest.length > 0) {
      try {
        await record((await runFleetHealth(this.deps, { hosts: rest })).hosts);
      } catch (err) {
        log.warn({ err: toWireError(err) }, 'scheduled health: hosts outside clusters skipped');
      }
    }
    log.info({ hosts: checked.size, ms: Date.now() - started }, 'scheduled health pass');
  }
}
