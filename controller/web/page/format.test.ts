import { describe, expect, it } from 'vitest';
import {
  applyHeadline,
  certsText,
  driftText,
  expiryText,
  formatAgo,
  formatElapsed,
  hostApplyText,
  preflightLevel,
  preflightText,
} from './format.js';

describe('page formatting', () => {
  it.each([
    [0, 'now'],
    [1999, 'now'],
    [12_000, '12s ago'],
    [5 * 60_000, '5m ago'],
    [3 * 3600_000, '3h ago'],
    [4 * 86_400_000, '4d ago'],
  ])('%i ms ago reads %s', (ms, text) => expect(formatAgo(ms)).toBe(text));

  it.each([
    [42_000, '42s'],
    [185_000, '3m 05s'],
    [3_720_000, '1h 02m'],
    [-5, '0s'],
  ])('%i ms elapsed reads %s', (ms, text) => expect(formatElapsed(ms)).toBe(text));

  it.each([
    [null, '-', 'none'],
    [{ pass: 30, warn: 2, fail: 0, skip: 1, at: 0, error: null }, '0 fail · 2 warn · 30 pass', 'warn'],
    [{ pass: 3, warn: 0, fail: 1, skip: 0, at: 0, error: null }, '1 fail · 0 warn · 3 pass', 'fail'],
    [{ pass: 3, warn: 0, fail: 0, skip: 0, at: 0, error: null }, '0 fail · 0 warn · 3 pass', 'pass'],
    [{ pass: 0, warn: 0, fail: 0, skip: 0, at: 0, error: 'host offline' }, 'error', 'fail'],
  ])('preflight %j reads %s at level %s', (p, text, level) => {
    expect(preflightText(p)).toBe(text);
    expect(preflightLevel(p)).toBe(level);
  });

  it('writes drift and the soonest certificate expiry of the last health run', () => {
    const DAY = 86_400_000;
    const health = (drift: string[], certs: Array<{ path: string; notAfter: number }>) => ({
      health: {
        worst: 'ok' as const,
        warnings: 0,
        criticals: 0,
        findings: [],
        at: 0,
        error: null,
        drift,
        certs,
      },
    });
    expect(driftText({ health: null })).toBe('-');
    expect(driftText(health([], []))).toBe('none');
    expect(driftText(health(['sysctl: a', 'file: b'], []))).toBe('2 · sysctl: a');
    expect(driftText({ health: { ...health([], []).health, error: 'host offline' } })).toBe('-');
    expect(certsText(health([], []), 0)).toBe('-');
    expect(
      certsText(health([], [{ path: '/etc/kubernetes/pki/apiserver.crt', notAfter: 364.5 * DAY }]), 0),
    ).toBe('in 364 d · apiserver.crt');
    expect(expiryText(5 * 3_600_000 + 1, 0)).toBe('in 5 h');
    expect(expiryText(0, 2 * DAY + 1)).toBe('expired 2 d ago');
  });

  it('writes a host apply step and the apply headline', () => {
    expect(hostApplyText(null)).toBe('-');
    expect(
      hostApplyText({ phase: 'converge', step: 'Converge w-1', state: 'running', applyId: 'a', at: 0 }),
    ).toBe('running · converge · Converge w-1');
    expect(
      applyHeadline(
        {
          id: 'a',
          cluster: 'lab',
          status: 'running',
          startedAt: 0,
          finishedAt: null,
          phase: { id: 'join', title: 'Join workers' },
          phasesDone: 3,
          phasesTotal: 7,
          tasksDone: 12,
          tasksTotal: 40,
          failures: [],
        },
        65_000,
      ),
    ).toBe('lab: running · phase Join workers (4/7) · 12/40 tasks · 1m 05s');
  });
});
