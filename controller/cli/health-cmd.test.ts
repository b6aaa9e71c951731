import { describe, expect, it } from 'vitest';
import type { HealthResponse, HealthResult } from '../../proto/health.js';
import { worstSeverity } from '../../proto/health.js';
import { HEALTH_EXIT_CODES, renderHealthReport } from './health-cmd.js';

const r = (id: string, severity: HealthResult['severity']): HealthResult => ({
  id,
  title: id,
  severity,
  observed: `${id} observed`,
  remedy: severity === 'ok' ? '' : `${id} remedy`,
});

describe('kctl health exit codes and report', () => {
  it.each([
    ['all ok', ['ok', 'ok'], 0],
    ['one warning', ['ok', 'warning'], 1],
    ['a critical among warnings', ['warning', 'critical', 'ok'], 2],
    ['nothing checked', [], 0],
  ] as const)('%s', (_name, severities, code) => {
    const worst = worstSeverity(severities.map((severity) => ({ severity })));
    expect(HEALTH_EXIT_CODES[worst]).toBe(code);
  });

  it('prints one table per host with only its findings, and the host error', () => {
    const report: HealthResponse = {
      worst: 'critical',
      checkedAt: '2026-12-07T12:00:00.000Z',
      hosts: [
        {
          host: 'w-2',
          worst: 'critical',
          results: [],
          error: { code: 'host_offline', message: 'w-2 is offline', retryable: true },
        },
        { host: 'cp-1', worst: 'warning', results: [r('Drift-sysctl', 'warning'), r('Swap', 'ok')] },
        { host: 'w-1', worst: 'ok', results: [r('Swap', 'ok')] },
      ],
    };
    const text = renderHealthReport(report);
    expect(text).toContain('3 host(s) checked, worst: critical');
    expect(text).toContain('== w-2: critical (0 of 0 checks ok)');
    expect(text).toContain('w-2 is offline (start the agent on the host)');
    expect(text).toContain('== cp-1: warning (1 of 2 checks ok)');
    expect(text).toMatch(/warning\s+Drift-sysctl\s+Drift-sysctl observed\s+Drift-sysctl remedy/);
    expect(text).not.toContain('Swap observed');
    expect(text.indexOf('w-2')).toBeLessThan(text.indexOf('cp-1'));
  });
});
