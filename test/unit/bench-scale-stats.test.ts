import { describe, expect, it } from 'vitest';
import {
  againstTarget,
  cpuPercent,
  kibPerConnection,
  loopbackSource,
  markdownTable,
  percentile,
  summarize,
} from '../../bench/scale-stats.js';

describe('scale benchmark arithmetic', () => {
  it.each([
    [[], 50, NaN],
    [[7], 99, 7],
    [[1, 2, 3, 4], 50, 2],
    [[1, 2, 3, 4], 100, 4],
    [[1, 2, 3, 4], 0, 1],
  ])('nearest-rank percentile of %j at p%d is %d', (values, p, want) => {
    expect(percentile(values, p)).toBe(want);
  });

  it('p99 of 1..1000 is the 990th value, and the summary sorts its input', () => {
    const values = Array.from({ length: 1000 }, (_, i) => 1000 - i);
    expect(summarize(values)).toEqual({ count: 1000, p50: 500, p95: 950, p99: 990, max: 1000 });
  });

  it('per-connection memory is the growth over the baseline divided by the connections, in KiB', () => {
    expect(kibPerConnection(50 * 1024 * 1024 + 1000 * 40 * 1024, 50 * 1024 * 1024, 1000)).toBe(40);
    expect(kibPerConnection(1, 0, 0)).toBeNaN();
  });

  it('CPU share is CPU time over wall time', () => {
    expect(cpuPercent(2_000_000, 20_000)).toBe(10);
    expect(cpuPercent(1, 0)).toBeNaN();
  });

  it('source addresses go round robin from 127.0.0.2 and refuse counts outside 1..250', () => {
    expect([0, 1, 15, 16].map((i) => loopbackSource(i, 16))).toEqual([
      '127.0.0.2',
      '127.0.0.3',
      '127.0.0.17',
      '127.0.0.2',
    ]);
    expect(() => loopbackSource(0, 0)).toThrow(RangeError);
    expect(() => loopbackSource(0, 251)).toThrow(RangeError);
  });

  it('a missed target says by how much', () => {
    expect(againstTarget(30, 40, 'KB')).toBe('met (target ≤ 40 KB)');
    expect(againstTarget(50, 40, 'KB')).toBe('missed by 10.0 KB (25%, target ≤ 40 KB)');
    expect(againstTarget(NaN, 40, 'KB')).toBe('not measured');
  });

  it('tables pad their cells', () => {
    expect(markdownTable(['N', 'KB'], [['1000', '3.5']])).toBe(
      '| N    | KB  |\n|------|-----|\n| 1000 | 3.5 |',
    );
  });
});
