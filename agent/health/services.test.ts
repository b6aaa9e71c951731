import { describe, expect, it } from 'vitest';
import { judgeUnit } from './services.js';

describe('judgeUnit', () => {
  it.each([
    ['active', { exitCode: 0, activeState: 'active', loadState: '' }, 'ok', 'active'],
    ['active with quiet output', { exitCode: 0, activeState: '', loadState: '' }, 'ok', 'active'],
    ['inactive', { exitCode: 3, activeState: 'inactive', loadState: 'loaded' }, 'critical', 'is inactive'],
    ['failed', { exitCode: 3, activeState: 'failed', loadState: 'loaded' }, 'critical', 'is failed'],
    [
      'activating',
      { exitCode: 3, activeState: 'activating', loadState: 'loaded' },
      'critical',
      'is activating',
    ],
    [
      'not installed',
      { exitCode: 4, activeState: 'inactive', loadState: 'not-found' },
      'critical',
      'not installed',
    ],
    [
      'systemctl said nothing',
      { exitCode: 1, activeState: '', loadState: '' },
      'critical',
      'systemctl exit 1',
    ],
  ] as const)('%s', (_name, state, severity, observed) => {
    const r = judgeUnit('kubelet.service', state);
    expect(r).toMatchObject({ id: 'Service-kubelet.service', severity });
    expect(r.observed).toContain(observed);
    if (severity === 'ok') expect(r.remedy).toBe('');
    else expect(r.remedy).toMatch(/journalctl -u kubelet.service|kctl apply/);
  });
});
