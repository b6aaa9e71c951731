import { describe, expect, it } from 'vitest';
import { KeyedRateLimiter, TokenBucket } from './rate-limit.js';
import { LogSampler, capText } from './log-sampler.js';

const clock = (): { now: () => number; advance(ms: number): void } => {
  let t = 0;
  return { now: () => t, advance: (ms) => (t += ms) };
};

describe('TokenBucket', () => {
  it('lets a burst of `capacity` through, then refuses until time refills it', () => {
    const c = clock();
    const b = new TokenBucket({ capacity: 3, perSecond: 2 }, c.now);
    expect([b.take(), b.take(), b.take(), b.take()]).toEqual([true, true, true, false]);
    c.advance(499);
    expect(b.take()).toBe(false);
    c.advance(1);
    expect(b.take()).toBe(true);
    c.advance(60_000);
    expect(b.isFull()).toBe(true);
  });

  it('takes weighted amounts (bytes) and takes nothing when refusing', () => {
    const c = clock();
    const b = new TokenBucket({ capacity: 100, perSecond: 10 }, c.now);
    expect(b.take(60)).toBe(true);
    expect(b.take(60)).toBe(false);
    expect(b.take(40)).toBe(true);
  });
});

describe('KeyedRateLimiter', () => {
  it('keeps one budget per key', () => {
    const c = clock();
    const l = new KeyedRateLimiter({ capacity: 1, perSecond: 1 }, c.now);
    expect([l.take('a'), l.take('a'), l.take('b')]).toEqual([true, false, true]);
  });

  it('forgets keys whose bucket refilled, so the map does not grow with every host ever seen', () => {
    const c = clock();
    const l = new KeyedRateLimiter({ capacity: 5, perSecond: 100 }, c.now);
    for (let i = 0; i < 1023; i++) l.take(`h${i}`);
    c.advance(1000);
    l.take('last');
    expect(l.size()).toBe(1);
  });
});

describe('LogSampler', () => {
  it('logs the first `burst` of a window, holds the rest back and reports them on the next line', () => {
    const c = clock();
    const s = new LogSampler({ burst: 2, windowMs: 1000 }, c.now);
    expect([s.take('k'), s.take('k'), s.take('k'), s.take('k')]).toEqual([
      { suppressed: 0 },
      { suppressed: 0 },
      undefined,
      undefined,
    ]);
    expect(s.take('other')).toEqual({ suppressed: 0 });
    c.advance(1000);
    expect(s.take('k')).toEqual({ suppressed: 2 });
    expect(s.take('k')).toEqual({ suppressed: 0 });
  });
});

describe('capText', () => {
  it.each([
    ['short', 10, 'short'],
    ['abcdefghij', 4, 'abcd… (6 more chars)'],
  ])('caps %j at %i characters', (text, max, expected) => {
    expect(capText(text, max)).toBe(expected);
  });
});
