import { performance } from 'node:perf_hooks';
import type { OpImplementations } from '../ops/registry.js';
import { runHealth } from './index.js';
import type { HealthInput } from './health-check.js';

/** health.run: the node's health checks; the clock offset comes from the agent's controller clock. */
export function makeHealthOps(
  options: Pick<HealthInput, 'clockOffset'> & { now?: () => number } = {},
): Pick<OpImplementations, 'health.run'> {
  return {
    'health.run': {
      name: 'health.run',
      async run({ spec }, { host, log, bundle }) {
        const started = performance.now();
        const results = await runHealth({
          host,
          spec,
          bundle,
          clockOffset: options.clockOffset,
          now: options.now ?? (() => Date.now()),
        });
        const durationMs = Math.round((performance.now() - started) * 10) / 10;
        const findings = results.filter((r) => r.severity !== 'ok').map((r) => r.id);
        log.info({ durationMs, checks: results.length, findings }, 'health ran');
        return { results, durationMs };
      },
    },
  };
}
