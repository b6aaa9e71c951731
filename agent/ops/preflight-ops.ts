import { performance } from 'node:perf_hooks';
import { runPreflight } from '../checks/index.js';
import type { PreflightOptions } from '../checks/index.js';
import type { OpImplementations } from './registry.js';
import { thisProcess } from '../host/this-process.js';

/** preflight.run: the checks use the agent's own environment for *_proxy unless told otherwise. */
export function makePreflightOps(options: PreflightOptions = {}): Pick<OpImplementations, 'preflight.run'> {
  return {
    'preflight.run': {
      name: 'preflight.run',
      async run({ spec }, { host, log }) {
        const started = performance.now();
        const results = await runPreflight(host, spec, { env: thisProcess.env(), ...options });
        const durationMs = Math.round((performance.now() - started) * 10) / 10;
        const failed = results.filter((r) => r.status === 'fail').map((r) => r.id);
        log.info({ durationMs, checks: results.length, failed }, 'preflight ran');
        return { results, durationMs };
      },
    },
  };
}

export const preflightOps = makePreflightOps();
