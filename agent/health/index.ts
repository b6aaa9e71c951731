import type { HealthResult } from '../../proto/health.js';
import { toWireError } from '../../proto/errors.js';
import type { HealthCheck, HealthInput } from './health-check.js';
import { serviceChecks } from './services.js';
import { certificateCheck } from './certificates.js';
import { diskPressureCheck } from './disk-pressure.js';
import { swapCheck } from './swap.js';
import { clockOffsetCheck } from './clock-offset.js';
import { driftCheck } from './drift.js';

/** Every health check of a running node, in report order (docs/health.md). */
export const HEALTH_CHECKS: readonly HealthCheck[] = [
  serviceChecks,
  certificateCheck,
  diskPressureCheck,
  swapCheck,
  clockOffsetCheck,
  driftCheck,
];

/** Runs every check concurrently; a check that cannot read what it judges is a warning naming why. */
export async function runHealth(
  input: HealthInput,
  checks: readonly HealthCheck[] = HEALTH_CHECKS,
): Promise<HealthResult[]> {
  const perCheck = await Promise.all(
    checks.map(async (check): Promise<HealthResult[]> => {
      try {
        return await check.run(input);
      } catch (err) {
        return [
          {
            id: check.id,
            title: `${check.id} check ran`,
            severity: 'warning',
            observed: `the check failed: ${toWireError(err).message}`.slice(0, 4096),
            remedy: 'see the agent log on this host',
          },
        ];
      }
    }),
  );
  return perCheck.flat();
}
