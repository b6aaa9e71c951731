import type { Check, CheckOutcome } from './check.js';
import { fail, pass } from './check.js';

/** NTP clients whose unit being active means the clock is kept in sync. */
export const TIME_SYNC_UNITS = ['chronyd', 'chrony', 'systemd-timesyncd', 'ntpd', 'ntp', 'ntpsec'] as const;

/** systemd-timesyncd touches this file once it has synchronised. */
export const TIMESYNC_FLAG = '/run/systemd/timesync/synchronized';

/** `systemctl is-active a b c` prints one state per unit, in order. */
export function activeUnits(units: readonly string[], output: string): string[] {
  const states = output.split('\n').map((l) => l.trim());
  return units.filter((_, i) => states[i] === 'active');
}

export function judgeTimeSync(synchronisedFlag: boolean, active: readonly string[]): CheckOutcome {
  const expected = `one of ${TIME_SYNC_UNITS.join(', ')} active, or ${TIMESYNC_FLAG} present`;
  if (synchronisedFlag) return pass(`${TIMESYNC_FLAG} present`, expected);
  if (active.length > 0) return pass(`${active.join(', ')} active`, expected);
  return fail(
    'no time synchronisation service active',
    expected,
    'install and enable chrony or systemd-timesyncd: certificates and etcd need clocks in sync',
  );
}

export const timeSyncChecks = (): Check[] => [
  {
    id: 'TimeSync',
    title: 'clock synchronisation active',
    severity: 'warning',
    appliesTo: {},
    run: async ({ host }) => {
      if (await host.exists(TIMESYNC_FLAG)) return judgeTimeSync(true, []);
      if ((await host.which('systemctl')) === undefined) return judgeTimeSync(false, []);
      const result = await host
        .run('systemctl', ['is-active', ...TIME_SYNC_UNITS], { allowFailure: true, timeoutMs: 2000 })
        .catch(() => ({ stdout: '' }));
      return judgeTimeSync(false, activeUnits(TIME_SYNC_UNITS, result.stdout));
    },
  },
];
