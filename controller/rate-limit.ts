import { performance } from 'node:perf_hooks';

export interface RateLimit {
  /** how many may come at once */
  capacity: number;
  /** how many more each second after that */
  perSecond: number;
}

/** A token bucket on the monotonic clock: wall-clock steps neither fill nor drain it. */
export class TokenBucket {
  private tokens: number;
  private last: number;

  constructor(
    private readonly limit: RateLimit,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.tokens = limit.capacity;
    this.last = now();
  }

  /** Takes `n` tokens if there are; false (and nothing taken) when the limit is reached. */
  take(n = 1): boolean {
    this.refill();
    if (this.tokens < n) return false;
    this.tokens -= n;
    return true;
  }

  /** true when the bucket has refilled completely, i.e. its owner has been quiet */
  isFull(): boolean {
    this.refill();
    return this.tokens >= this.limit.capacity;
  }

  private refill(): void {
    const t = this.now();
    this.tokens = Math.min(
      this.limit.capacity,
      this.tokens + ((t - this.last) / 1000) * this.limit.perSecond,
    );
    this.last = t;
  }
}

/** One token bucket per key (a host id); buckets that refilled are dropped now and then, so the map stays small. */
export class KeyedRateLimiter {
  private readonly buckets = new Map<string, TokenBucket>();
  private takesSinceSweep = 0;

  constructor(
    private readonly limit: RateLimit,
    private readonly now: () => number = () => performance.now(),
  ) {}

  take(key: string): boolean {
    if (++this.takesSinceSweep >= 1024) this.sweep();
    let bucket = this.buckets.get(key);
    if (!bucket) this.buckets.set(key, (bucket = new TokenBucket(this.limit, this.now)));
    return bucket.take();
  }

  size(): number {
    return this.buckets.size;
  }

  private sweep(): void {
    this.takesSinceSweep = 0;
    for (const [key, bucket] of this.buckets) if (bucket.isFull()) this.buckets.delete(key);
  }
}

/**
 * The agent channel's limits (issue 12): per connection (frames, bytes) and per host (hellos,
 * reconnects). A well-behaved agent sends a heartbeat per interval (10 s by default), a progress
 * frame per step and one result per command, and reconnects after backoff: it stays orders of
 * magnitude below these. A flood (100,000 heartbeats in 10 s, hundreds of reconnects in 5 s) does not.
 */
export interface AgentLimits {
  frames: RateLimit;
  bytes: RateLimit;
  hellos: RateLimit;
  reconnects: RateLimit;
}

export const DEFAULT_AGENT_LIMITS: AgentLimits = {
  frames: { capacity: 1000, perSecond: 200 },
  bytes: { capacity: 32 * 1024 * 1024, perSecond: 8 * 1024 * 1024 },
  hellos: { capacity: 30, perSecond: 2 },
  reconnects: { capacity: 30, perSecond: 2 },
};
