import type { Logger } from 'pino';
import type { HostFacts } from '../proto/facts.js';
import type { FactsFrame } from '../proto/wire.js';

/** How often an agent re-reads its facts by default; each wait is jittered by ±20 %. */
export const DEFAULT_FACTS_REFRESH_MS = 60_000;
export const FACTS_REFRESH_JITTER = 0.2;

type FactKey = keyof HostFacts;

/**
 * The keys whose value differs between what the controller has and what the host shows now:
 * `changed` carries their new values, `removed` the keys the host no longer reports (a kubelet
 * uninstalled). Values are compared as JSON, so arrays and maps compare by content. Null when
 * nothing differs.
 */
export function diffFacts(
  before: HostFacts,
  after: HostFacts,
): { changed: Partial<HostFacts>; removed: FactKey[] } | null {
  const changed: Record<string, unknown> = {};
  const removed: FactKey[] = [];
  const keys = new Set([...Object.keys(before), ...Object.keys(after)] as FactKey[]);
  for (const key of keys) {
    const now = after[key];
    if (now === undefined) {
      if (before[key] !== undefined) removed.push(key);
      continue;
    }
    if (JSON.stringify(before[key]) !== JSON.stringify(now)) changed[key] = now;
  }
  if (Object.keys(changed).length === 0 && removed.length === 0) return null;
  return { changed, removed };
}

/**
 * The wait before the next re-read: uniform in [base·(1−j), base·(1+j)], so that agents started
 * together (a fleet rebooted, a controller restarted) spread their reports instead of sending at once.
 */
export function jitteredDelay(baseMs: number, random: () => number, jitter = FACTS_REFRESH_JITTER): number {
  return Math.round(baseMs * (1 - jitter + 2 * jitter * random()));
}

export interface FactsRefresherOptions {
  gather: () => Promise<HostFacts>;
  /** sends a frame on the current connection (dropped when there is none) */
  send: (frame: FactsFrame) => void;
  /** true once the controller welcomed the current connection: a facts frame before that is refused */
  online: () => boolean;
  intervalMs: number;
  log: Logger;
  random?: () => number;
}

/**
 * Re-reads the host's facts on a jittered period and sends what changed since the controller last
 * heard them. What the controller last heard is the hello of the current connection (set by
 * `sentInHello`) plus the diffs sent since; a reconnect sends all facts again in its hello, so a
 * diff lost with a connection (or with a controller's unflushed batch) is never needed again.
 */
export class FactsRefresher {
  private known: HostFacts | undefined;
  /** counts hellos: a re-read that a hello overtook may be older than the hello's facts */
  private hellos = 0;
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  private stopped = false;
  private readonly random: () => number;

  constructor(private readonly options: FactsRefresherOptions) {
    this.random = options.random ?? Math.random;
  }

  /** The facts the hello of a new connection carried: the controller holds exactly these now. */
  sentInHello(facts: HostFacts): void {
    this.known = facts;
    this.hellos++;
  }

  start(): void {
    this.stopped = false;
    this.schedule();
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** One re-read: sends a facts frame when something changed. Returns the frame sent, if any. */
  async refresh(): Promise<FactsFrame | undefined> {
    if (this.running || !this.options.online() || this.known === undefined) return undefined;
    this.running = true;
    const hellos = this.hellos;
    try {
      const now = await this.options.gather();
      // a reconnect during the gather sent facts read later than these: they are no news
      const known = this.known;
      if (hellos !== this.hellos || !this.options.online() || known === undefined) return undefined;
      const diff = diffFacts(known, now);
      if (diff === null) return undefined;
      const frame: FactsFrame = { type: 'facts', changed: diff.changed, removed: diff.removed };
      this.options.send(frame);
      this.known = now;
      this.options.log.debug({ changed: Object.keys(diff.changed), removed: diff.removed }, 'facts changed');
      return frame;
    } catch (err) {
      this.options.log.warn({ err: (err as Error).message }, 'facts refresh failed');
      return undefined;
    } finally {
      this.running = false;
    }
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = setTimeout(
      () => {
        void this.refresh().finally(() => this.schedule());
      },
      jitteredDelay(this.options.intervalMs, this.random),
    );
    this.timer.unref();
  }
}
