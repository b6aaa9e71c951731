import { describe, expect, it } from 'vitest';
import { judgeClockOffset } from './clock-offset.js';

describe('ClockOffset check', () => {
  it.each([
    ['passes a host 40 ms ahead', 40, 'pass'],
    ['passes a host 29.999 s behind', -29_999, 'pass'],
    ['flags a host exactly 30 s ahead (the threshold is a finding)', 30_000, 'fail'],
    ['flags a host 10 min ahead', 600_000, 'fail'],
    ['flags a host 31 s behind', -31_000, 'fail'],
  ] as const)('%s', (_name, offsetMs, status) => {
    const outcome = judgeClockOffset({ offsetMs, uncertaintyMs: 3 });
    expect(outcome.status).toBe(status);
    expect(outcome.observed).toContain(offsetMs >= 0 ? 'ahead of' : 'behind');
    if (status === 'fail') expect(outcome.remedy).toMatch(/NTP/);
  });

  it('skips, rather than passes, when the agent has no measurement yet', () => {
    expect(judgeClockOffset(undefined)).toMatchObject({ status: 'skip' });
  });
});
