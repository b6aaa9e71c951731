import { describe, expect, it } from 'vitest';
import { reconnectDelay } from './live-client.js';

describe('live channel reconnect delay', () => {
  it.each([
    [0, 0.5, 125],
    [3, 0.5, 1000],
    [10, 0.999, 9990],
    [40, 0.999, 9990],
    [0, 0, 100],
  ])('attempt %i with random %f waits %i ms', (attempt, random, ms) => {
    expect(reconnectDelay(attempt, () => random)).toBe(ms);
  });

  it('spreads reconnects across the whole window (full jitter)', () => {
    const delays = Array.from({ length: 500 }, () => reconnectDelay(5));
    expect(Math.min(...delays)).toBeLessThan(1500);
    expect(Math.max(...delays)).toBeGreaterThan(6000);
    expect(Math.max(...delays)).toBeLessThanOrEqual(8000);
  });
});
