import { performance } from 'node:perf_hooks';

/** The agent's own clocks: wall (may be wrong, may jump) and monotonic (never jumps). Tests inject both. */
export interface LocalClocks {
  wallNow(): number;
  monoNow(): number;
}

export const systemClocks: LocalClocks = {
  wallNow: () => Date.now(),
  monoNow: () => performance.now(),
};

/** k0sctl warns when a host's clock is this far from the controller's. */
export const CLOCK_OFFSET_WARN_MS = 30_000;

/**
 * The agent's estimate of the controller's clock, carried on the agent's monotonic clock: a sample
 * (the controller's time in a welcome or heartbeat) anchors it, and from then on it advances with
 * the monotonic clock, so neither a skewed nor a stepped wall clock on this host changes it.
 * Error: at most half the round trip the sample was taken over.
 */
export class ControllerClock {
  private anchor: { controllerMs: number; monoMs: number } | undefined;
  private halfRttMs = 0;

  constructor(private readonly local: LocalClocks = systemClocks) {}

  /**
   * A round-trip sample: the controller stamped `controllerMs` on its answer to a frame this agent
   * sent `rttMs` before receipt. The midpoint guess puts the stamp half a round trip before receipt.
   */
  observeRoundTrip(controllerMs: number, rttMs: number, receivedMono = this.local.monoNow()): void {
    this.halfRttMs = Math.max(0, rttMs) / 2;
    this.anchor = { controllerMs: controllerMs + this.halfRttMs, monoMs: receivedMono };
  }

  /**
   * A one-way sample (a controller heartbeat): re-anchors with the last round trip's half as the
   * transit guess, so a clock the controller stepped, or slow drift, is followed between connections.
   */
  observeOneWay(controllerMs: number, receivedMono = this.local.monoNow()): void {
    if (this.anchor === undefined) return; // without a round trip the transit time is unknown
    this.anchor = { controllerMs: controllerMs + this.halfRttMs, monoMs: receivedMono };
  }

  /** The controller's clock now, or undefined before the first sample. */
  now(): number | undefined {
    if (this.anchor === undefined) return undefined;
    return this.anchor.controllerMs + (this.local.monoNow() - this.anchor.monoMs);
  }

  /** This host's wall clock minus the controller's (positive: this host is ahead), whole ms. */
  offsetMs(): number | undefined {
    const controller = this.now();
    return controller === undefined ? undefined : Math.round(this.local.wallNow() - controller);
  }

  /** How far off the estimate can be (half the round trip it came from). */
  uncertaintyMs(): number {
    return Math.ceil(this.halfRttMs);
  }
}
