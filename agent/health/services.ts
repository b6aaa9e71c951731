import type { HealthResult } from '../../proto/health.js';
import type { HealthCheck } from './health-check.js';
import { finding } from './health-check.js';

/** The units a kctl node runs; each must be active. */
export const NODE_UNITS = ['containerd.service', 'kubelet.service', 'kctl-agent.service'] as const;

export interface UnitState {
  /** `systemctl is-active` exit code and first line */
  exitCode: number;
  activeState: string;
  /** `systemctl show -p LoadState`: "not-found" when the unit is not installed */
  loadState: string;
}

/** Pure judge: active is ok; anything else is critical, with "not installed" named as such. */
export function judgeUnit(unit: string, state: UnitState): HealthResult {
  const id = `Service-${unit}`;
  const title = `${unit} active`;
  if (state.exitCode === 0 && (state.activeState === '' || state.activeState === 'active'))
    return finding(id, title, 'ok', 'active');
  if (state.loadState === 'not-found')
    return finding(
      id,
      title,
      'critical',
      `${unit} is not installed`,
      'run kctl apply -f cluster.yaml to install it',
    );
  const now = state.activeState || `unknown (systemctl exit ${state.exitCode})`;
  return finding(
    id,
    title,
    'critical',
    `${unit} is ${now}`,
    `see journalctl -u ${unit}; then systemctl restart ${unit}`,
  );
}

export const serviceChecks: HealthCheck = {
  id: 'Service',
  run: ({ host }) =>
    Promise.all(
      NODE_UNITS.map(async (unit) => {
        const active = await host.run('systemctl', ['is-active', '--', unit], {
          allowFailure: true,
          timeoutMs: 30_000,
        });
        const activeState = active.stdout.trim().split('\n')[0] ?? '';
        let loadState = '';
        if (active.exitCode !== 0) {
          const load = await host.run('systemctl', ['show', '--property=LoadState', '--value', '--', unit], {
            allowFailure: true,
            timeoutMs: 30_000,
          });
          loadState = load.stdout.trim();
        }
        return judgeUnit(unit, { exitCode: active.exitCode, activeState, loadState });
      }),
    ),
};
