import type { HealthResult } from '../../proto/health.js';
import { CLOCK_OFFSET_LIMIT_MS, type ClockOffsetSample } from '../checks/clock-offset.js';
import type { HealthCheck } from './health-check.js';
import { finding } from './health-check.js';

/** Pure judge: |offset| >= 30 s from the controller's clock is a warning; no measurement yet is ok, said so. */
export function judgeClockOffset(sample: ClockOffsetSample | undefined): HealthResult {
  const title = "clock close to the controller's";
  if (sample === undefined)
    return finding('ClockOffset', title, 'ok', 'no clock measurement from the controller yet');
  const seconds = (Math.abs(sample.offsetMs) / 1000).toFixed(1);
  const side = sample.offsetMs >= 0 ? 'ahead of' : 'behind';
  const observed = `clock ${seconds} s ${side} the controller (±${sample.uncertaintyMs} ms)`;
  if (Math.abs(sample.offsetMs) < CLOCK_OFFSET_LIMIT_MS) return finding('ClockOffset', title, 'ok', observed);
  return finding(
    'ClockOffset',
    title,
    'warning',
    observed,
    'synchronise this host and the controller with NTP (chrony or systemd-timesyncd)',
  );
}

export const clockOffsetCheck: HealthCheck = {
  id: 'ClockOffset',
  run: ({ clockOffset }) => Promise.resolve([judgeClockOffset(clockOffset?.())]),
};
