import type { HostView } from '../../proto/admin-api.js';
import type { AsyncStore, HostRecord } from '../store/store.js';
import { lastApplyByHost } from './fleet-view.js';

const APPLIES_LOOKED_AT = 20;

/**
 * What `kctl hosts` shows beside the host rows, as the fleet page does: each host's last health
 * run and last apply.
 */
export async function hostExtras(
  store: AsyncStore,
): Promise<(h: HostRecord) => Pick<HostView, 'health' | 'lastApply'>> {
  const applies = store.applies;
  const recent = await applies.listApplies(APPLIES_LOOKED_AT);
  const byName = lastApplyByHost(
    await Promise.all(recent.map(async (record) => ({ record, steps: await applies.steps(record.id) }))),
  );
  const health = await store.health.all();
  return (h) => {
    const run = health.get(h.id);
    const apply = byName.get(h.name);
    return {
      health: run
        ? {
            worst: run.worst,
            warnings: run.warnings,
            criticals: run.criticals,
            findings: run.findings,
            at: run.at,
            error: run.error,
          }
        : null,
      lastApply: apply ? { state: apply.state, phase: apply.phase, step: apply.step, at: apply.at } : null,
    };
  };
}
