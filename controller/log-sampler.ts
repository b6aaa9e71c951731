import { performance } from 'node:perf_hooks';

/**
 * Bounds what a peer can make us log: per key, the first `burst` events of every `windowMs` are
 * logged, the rest are counted and the count rides on the next line that is logged.
 */
export class LogSampler {
  private readonly windows = new Map<string, { start: number; logged: number; held: number }>();

  constructor(
    private readonly options: { burst: number; windowMs: number; maxKeys?: number },
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** `undefined`: do not log this one; otherwise log it, with how many were held back before it. */
  take(key: string): { suppressed: number } | undefined {
    const t = this.now();
    let w = this.windows.get(key);
    if (!w || t - w.start >= this.options.windowMs) {
      if (!w && this.windows.size >= (this.options.maxKeys ?? 10_000)) this.windows.clear();
      const held = w?.held ?? 0;
      this.windows.set(key, (w = { start: t, logged: 0, held }));
    }
    if (w.logged >= this.options.burst) {
      w.held++;
      return undefined;
    }
    w.logged++;
    const suppressed = w.held;
    w.held = 0;
    return { suppressed };
  }
}

/** A peer's text cut to `max` characters, saying how much was cut. */
export function capText(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max)}… (${text.length - max} more chars)`;
}
