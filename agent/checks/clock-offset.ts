import type { Check, CheckOutcome } from './check.js';
import { fail, pass, skip } from './check.js';

/** k0sctl's threshold: a host clock this far from the controller's gets a warning. */
export const CLOCK_OFFSET_LIMIT_MS = 30_000;

export interface ClockOffsetSample {
  /** this host's wall clock minus the controller's (positive: the host is ahead) */
  offsetMs: number;
  /** half the round trip the sample came from */
  uncertaintyMs: number;
}

function describe(sample: ClockOffsetSample): string {
  const seconds = (Math.abs(sample.offsetMs) / 1000).toFixed(1);
  const side = sample.offsetMs >= 0 ? 'ahead of' : 'behind';
  return `clock ${seconds} s ${side} the controller (measured over the agent channel, ±${sample.uncertaintyMs} ms)`;
}

/** Pure judge: |offset| >= 30 s is a finding; no measurement yet is a skip, not a pass. */
export function judgeClockOffset(sample: ClockOffsetSample | undefined): CheckOutcome {
  const expected = `within ${CLOCK_OFFSET_LIMIT_MS / 1000} s of the controller's clock`;
  if (sample === undefined) return skip('no clock measurement from the controller yet', expected);
  if (Math.abs(sample.offsetMs) < CLOCK_OFFSET_LIMIT_MS) return pass(describe(sample), expected);
  return fail(
    describe(sample),
    expected,
    'synchronise this host and the controller with NTP (chrony or systemd-timesyncd): certificates, ' +
      'tokens and etcd leases are judged on wall clocks',
  );
}

export const clockOffsetChecks = (): Check[] => [
  {
    id: 'ClockOffset',
    title: "clock close to the controller's",
    severity: 'warning',
    appliesTo: {},
    run: ({ clockOffset }) => Promise.resolve(judgeClockOffset(clockOffset?.())),
  },
];
