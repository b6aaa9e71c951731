import { KctlError } from '../../proto/errors.js';
import { planHash } from '../../proto/results.js';
import { applySteps, planSteps } from '../steps/converge.js';
import { stepsForHostSpec } from '../steps/index.js';
import type { OpImplementations } from './registry.js';

export const hostOps: Pick<OpImplementations, 'host.plan' | 'host.apply'> = {
  'host.plan': {
    name: 'host.plan',
    async run({ spec }, { host, bundle }) {
      const steps = await planSteps(host, stepsForHostSpec(spec, { bundle }));
      return { steps, planHash: planHash(steps) };
    },
  },
  'host.apply': {
    name: 'host.apply',
    async run({ spec, planHash: expected, only }, { host, log, progress, bundle }) {
      const steps = stepsForHostSpec(spec, { bundle });
      const current = await planSteps(host, steps);
      const hash = planHash(current);
      if (expected !== undefined && expected !== hash) {
        throw new KctlError('plan_stale', 'The host changed since the plan was made; run kctl plan again', {
          details: { planned: expected, now: hash },
        });
      }
      const reports = await applySteps(host, steps, {
        onProgress: (message, stepId) => progress({ message, stepId }),
        ...(only ? { only } : {}),
      });
      const failed = reports.filter((r) => r.status === 'failed');
      log.info(
        { applied: reports.filter((r) => r.status === 'applied').length, failed: failed.length },
        'host converged',
      );
      return { reports, changed: reports.some((r) => r.status === 'applied'), planHash: hash };
    },
  },
};
