import { describe, expect, it } from 'vitest';
import { checkBackoff, perSecond } from '../../bench/storm-stats.js';

/** The reconnect storm benchmark's backoff check (bench/reconnect-storm.ts, issue 12 finding 12). */
describe('checkBackoff', () => {
  it('passes retries that waited at least the delay their backoff chose', () => {
    const r = checkBackoff([
      {
        dials: [1000, 1600, 2700],
        waits: [
          { at: 1100, delayMs: 500, dialsBefore: 1 },
          { at: 1700, delayMs: 1000, dialsBefore: 2 },
        ],
      },
    ]);
    expect(r).toMatchObject({ retries: 2, early: 0, minMarginMs: 0 });
  });

  it('names a retry that came sooner than its backoff', () => {
    const r = checkBackoff([
      { dials: [0], waits: [] },
      { dials: [1000, 1200], waits: [{ at: 1100, delayMs: 400, dialsBefore: 1 }] },
    ]);
    expect(r.early).toBe(1);
    expect(r.minMarginMs).toBe(-300);
    expect(r.samples).toEqual(['agent 1: waited 100 ms, backoff chose 400 ms']);
  });

  it('does not count a wait with no dial after it', () => {
    expect(checkBackoff([{ dials: [10], waits: [{ at: 20, delayMs: 5, dialsBefore: 1 }] }]).retries).toBe(0);
  });

  it('matches a dial refused in the same millisecond with its own disconnect, not the next', () => {
    const r = checkBackoff([
      {
        dials: [500, 900],
        waits: [
          { at: 500, delayMs: 300, dialsBefore: 1 },
          { at: 900, delayMs: 700, dialsBefore: 2 },
        ],
      },
    ]);
    expect(r).toMatchObject({ retries: 1, early: 0, minMarginMs: 100 });
  });
});

describe('perSecond', () => {
  it('counts events per whole second from the start, ignoring those outside', () => {
    expect(perSecond([999, 1000, 1001, 2500, -5, 9000], 0, 3)).toEqual([1, 2, 1]);
  });
});
