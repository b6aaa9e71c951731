import { performance } from 'node:perf_hooks';

/**
 * How many connection handshakes may be in flight, adapted to the event loop (issue 12, finding 12).
 *
 * A fixed bound (256) refused agents in a reconnect storm while the controller's loop sat idle, and
 * every refusal grows that agent's backoff. Here the bound follows AIMD on the loop's lag: each
 * interval in which arrivals reached the bound and the loop kept up (lag under the target), the
 * bound grows by `increase`; an interval whose lag exceeds the target halves it, so a saturated
 * controller sheds before it starts handshakes it cannot finish. An interval that never reached the
 * bound drifts it back toward `initial`, so the next storm starts from the same place.
 *
 * Pure bookkeeping: the clock and the lag come in, so tests drive it with fakes.
 */
export interface AdaptiveBoundSettings {
  /** the bound before any adjustment, and where it drifts back to when unused */
  initial: number;
  floor: number;
  ceiling: number;
  /** event-loop lag (ms) above which the bound is halved */
  targetLagMs: number;
  /** how often the bound may change */
  intervalMs: number;
  /** added per interval that reached the bound while the loop kept up */
  increase: number;
}

/** Event-loop lag observed since the previous read, in ms; each read starts a new window. */
export interface LoopLag {
  readMs(): number;
}

/** One adjustment: the bound after it, the lag that decided it, whether the bound had refused. */
export interface BoundAdjustment {
  bound: number;
  lagMs: number;
  limited: boolean;
}

export class AdaptiveHandshakeBound {
  private bound: number;
  private windowStart: number;
  /** an arrival found the bound full during this window: the bound was what limited admission */
  private limited = false;

  constructor(
    private readonly settings: AdaptiveBoundSettings,
    private readonly lag: LoopLag,
    private readonly now: () => number,
    private readonly onAdjust?: (a: BoundAdjustment) => void,
  ) {
    const { floor, ceiling, initial } = settings;
    if (!(floor >= 1 && floor <= ceiling))
      throw new RangeError(`floor ${floor} must be 1..ceiling ${ceiling}`);
    this.bound = clamp(initial, floor, ceiling);
    this.windowStart = now();
  }

  /** The bound as it stands (after any adjustment due). */
  current(): number {
    this.adjust();
    return this.bound;
  }

  /**
   * Whether one more handshake may start with `inFlight` already running. A refusal marks the window
   * as limited by the bound, which is what lets the bound grow.
   */
  admit(inFlight: number): boolean {
    this.adjust();
    if (inFlight < this.bound) return true;
    this.limited = true;
    return false;
  }

  private adjust(): void {
    const t = this.now();
    if (t - this.windowStart < this.settings.intervalMs) return;
    const { floor, ceiling, initial, targetLagMs, increase } = this.settings;
    const lagMs = this.lag.readMs();
    if (lagMs > targetLagMs) this.bound = Math.max(floor, Math.floor(this.bound / 2));
    else if (this.limited) this.bound = Math.min(ceiling, this.bound + increase);
    else if (this.bound > initial) this.bound = Math.max(initial, this.bound - increase);
    else if (this.bound < initial) this.bound = Math.min(initial, this.bound + increase);
    this.onAdjust?.({ bound: this.bound, lagMs, limited: this.limited });
    this.limited = false;
    this.windowStart = t;
  }
}

const clamp = (n: number, lo: number, hi: number): number => Math.min(hi, Math.max(lo, n));

/**
 * The process's event-loop lag, from a 10 ms timer: the most it fired late since the previous read,
 * or how overdue it is at the read (a read from inside a long run of I/O callbacks sees that stall
 * now, not a window later). perf_hooks' monitorEventLoopDelay was tried first: on Node 20 it
 * reported 10 ms across a 120 ms block of the loop. `stop` clears the timer.
 */
export function eventLoopLag(now: () => number = () => performance.now()): LoopLag & { stop(): void } {
  const tickMs = 10;
  let expected = now() + tickMs;
  let worst = 0;
  const timer = setInterval(() => {
    const t = now();
    worst = Math.max(worst, t - expected);
    expected = t + tickMs;
  }, tickMs);
  timer.unref();
  return {
    readMs() {
      const ms = Math.max(worst, now() - expected, 0);
      worst = 0;
      return ms;
    },
    stop: () => clearInterval(timer),
  };
}
