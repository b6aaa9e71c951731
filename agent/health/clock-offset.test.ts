import { describe, expect, it } from 'vitest';
import { judgeClockOffset } from './clock-offset.js';

describe('health judgeClockOffset', () => {
  it.each([
    ['40 ms ahead', 40, 'ok'],
    ['29.999 s behind', -29_999, 'ok'],
    ['exactly 30 s ahead', 30_000, 'warning'],
    ['31 s behind', -31_000, 'warning'],
    ['an hour ahead', 3_600_000, 'warning'],
  ] as const)('%s', (_name, offsetMs, severity) => {
    const r = judgeClockOffset({ offsetMs, uncertaintyMs: 2 });
    expect(r.severity).toBe(severity);
    expect(r.observed).toContain(offsetMs >= 0 ? 'ahead of' : 'behind');
    if (severity === 'warning') expect(r.remedy).toMatch(/NTP/);
  });

  it('says there is no measurement yet rather than inventing one', () => {
    expect(judgeClockOffset(undefined)).toMatchObject({
      severity: 'ok',
      observed: expect.stringMatching(/no clock/),
    });
  });
});
