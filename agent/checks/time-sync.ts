import type { Host } from '../host/host.js';
import type { Check, CheckOutcome } from './check.js';
import { fail, pass } from './check.js';

/** NTP clients whose unit being active means the clock is kept in sync. */
export const TIME_SYNC_UNITS = ['chronyd', 'chrony', 'systemd-timesyncd', 'ntpd', 'ntp', 'ntpsec'] as const;

/** systemd-timesyncd touches this file once it has synchronised. */
export const TIMESYNC_FLAG = '/run/systemd/timesync/synchronized';

/** Pid files of NTP daemons and the process name each must have; read before paying for a process. */
export const NTP_PID_FILES: readonly { path: string; comm: string }[] = [
  { path: '/run/chrony/chronyd.pid', comm: 'chronyd' },
  { path: '/run/chronyd.pid', comm: 'chronyd' },
  { path: '/run/ntpd.pid', comm: 'ntpd' },
  { path: '/var/run/ntpd.pid', comm: 'ntpd' },
];

/** `systemctl is-active a b c` prints one state per unit, in order. */
export function activeUnits(units: readonly string[], output: string): string[] {
  const states = output.split('\n').map((l) => l.trim());
  return units.filter((_, i) => states[i] === 'active');
}

export function judgeTimeSync(evidence: readonly string[]): CheckOutcome {
  const expected = `one of ${TIME_SYNC_UNITS.join(', ')} running, or ${TIMESYNC_FLAG} present`;
  if (evidence.length > 0) return pass(evidence.join(', '), expected);
  return fail(
    'no time synchronisation service running',
    expected,
    'install and enable chrony or systemd-timesyncd: certificates and etcd need clocks in sync',
  );
}

/** A daemon whose pid file names a live process with the expected name. */
async function runningFromPidFile(host: Host): Promise<string | undefined> {
  for (const { path, comm } of NTP_PID_FILES) {
    const pid = (await host.readFile(path).catch(() => undefined))?.trim();
    if (!pid || !/^\d+$/.test(pid)) continue;
    const name = (await host.readFile(`/proc/${pid}/comm`).catch(() => undefined))?.trim();
    if (name === comm) return `${comm} running (pid ${pid})`;
  }
  return undefined;
}

export const timeSyncChecks = (): Check[] => [
  {
    id: 'TimeSync',
    title: 'clock synchronisation active',
    severity: 'warning',
    appliesTo: {},
    run: async ({ host }) => {
      if (await host.exists(TIMESYNC_FLAG)) return judgeTimeSync([`${TIMESYNC_FLAG} present`]);
      const fromPid = await runningFromPidFile(host);
      if (fromPid !== undefined) return judgeTimeSync([fromPid]);
      // /run/systemd/system exists only when systemd is PID 1 (sd_booted); without it systemctl knows nothing
      if (!(await host.exists('/run/systemd/system')) || (await host.which('systemctl')) === undefined) {
        return judgeTimeSync([]);
      }
      const result = await host
        .run('systemctl', ['is-active', ...TIME_SYNC_UNITS], { allowFailure: true, timeoutMs: 2000 })
        .catch(() => ({ stdout: '' }));
      return judgeTimeSync(activeUnits(TIME_SYNC_UNITS, result.stdout).map((unit) => `${unit} active`));
    },
  },
];
