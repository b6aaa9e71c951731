import { KctlError } from '../proto/errors.js';

/** Full jitter (AWS architecture blog): uniform in [0, min(cap, base * 2^attempt)]. */
export function backoffDelay(
  attempt: number,
  initialMs: number,
  maxMs: number,
  random: () => number,
): number {
  const ceiling = Math.min(maxMs, initialMs * 2 ** Math.min(attempt, 30));
  return Math.floor(random() * ceiling);
}

/**
 * The order in which an agent dials the replicas of its controller: it starts at a given or random
 * one (so a fleet spreads over the replicas), stays on a replica while it serves, and moves to the
 * next after a failed dial or a lost session. `round` counts full rounds of failures since the last
 * welcome: the backoff grows per round, so N replicas that all fail grow it as one failure does
 * with a single controller.
 */
export class ControllerRotation {
  private index: number;
  private failures = 0;
  private good: number | undefined;

  constructor(
    readonly urls: readonly string[],
    random: () => number,
    startAt?: string,
  ) {
    if (urls.length === 0) throw new KctlError('invalid_config', 'controllers: no controller URL to dial');
    const known = startAt === undefined ? -1 : urls.indexOf(startAt);
    this.index = known >= 0 ? known : Math.min(urls.length - 1, Math.floor(random() * urls.length));
  }

  /** the URL the next dial goes to */
  current(): string {
    return this.urls[this.index]!;
  }

  /** the replica of the last welcomed session (undefined before the first); HTTP calls go there */
  lastGood(): string | undefined {
    return this.good === undefined ? undefined : this.urls[this.good];
  }

  connected(): void {
    this.good = this.index;
    this.failures = 0;
  }

  /** A dial failed or a session was lost: move to the next replica; returns the backoff exponent. */
  failed(): number {
    const round = Math.floor(this.failures / this.urls.length);
    this.failures++;
    this.index = (this.index + 1) % this.urls.length;
    return round;
  }
}
