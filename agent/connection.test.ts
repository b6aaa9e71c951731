import { describe, expect, it } from 'vitest';
import { backoffDelay } from './connection.js';

describe('reconnect backoff', () => {
  it.each([
    [0, 500],
    [1, 1000],
    [3, 4000],
    [6, 30_000],
    [40, 30_000],
  ])('after %i failures waits at most %i ms (capped exponential)', (attempt, ceiling) => {
    expect(backoffDelay(attempt, 500, 30_000, () => 0.999999)).toBe(ceiling - 1);
    expect(backoffDelay(attempt, 500, 30_000, () => 0)).toBe(0);
  });

  it('spreads reconnects over the whole window (full jitter), so a controller restart is no thundering herd', () => {
    let seed = 42;
    const random = (): number => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    const delays = Array.from({ length: 1000 }, () => backoffDelay(5, 500, 30_000, random));
    const buckets = new Array<number>(4).fill(0);
    for (const d of delays) buckets[Math.min(3, Math.floor(d / 4000))]! += 1;
    for (const b of buckets) expect(b).toBeGreaterThan(180);
  });
});
