import { describe, expect, it } from 'vitest';
import { ControllerMetrics, renderPrometheus } from '../metrics.js';

/** Issue 6 asks /metrics for these series; the fleet page's numbers and Prometheus' must agree. */
describe('the series /metrics exposes', () => {
  const m = new ControllerMetrics();
  m.heartbeatsReceived = 42;
  m.rejectFrame('invalid_frame');
  m.observeCommandLatency(30);
  m.observeCommandLatency(700);
  const text = renderPrometheus(m, { hostsByState: { active: 3, revoked: 1 }, agentsOnline: 2 });

  it.each([
    ['hosts by state', 'kctl_hosts{state="active"} 3'],
    ['revoked hosts', 'kctl_hosts{state="revoked"} 1'],
    ['agents online', 'kctl_agents_online 2'],
    ['heartbeats', 'kctl_heartbeats_received_total 42'],
    ['rejected frames by reason', 'kctl_frames_rejected_total{reason="invalid_frame"} 1'],
    ['a command latency bucket', 'kctl_command_duration_seconds_bucket{le="0.05"} 1'],
    ['the histogram count', 'kctl_command_duration_seconds_count 2'],
    ['the +Inf bucket', 'kctl_command_duration_seconds_bucket{le="+Inf"} 2'],
    ['succeeded applies, zero before any', 'kctl_applies_total{result="succeeded"} 0'],
    ['failed applies, zero before any', 'kctl_applies_total{result="failed"} 0'],
  ])('has %s', (_what, line) => {
    expect(text.split('\n')).toContain(line);
  });

  it('counts a finished apply by its result', () => {
    const counted = new ControllerMetrics();
    counted.countApply('failed');
    counted.countApply('failed');
    const out = renderPrometheus(counted, { hostsByState: {}, agentsOnline: 0 });
    expect(out).toContain('kctl_applies_total{result="failed"} 2\n');
    expect(out).toContain('# TYPE kctl_applies_total counter\n');
  });

  it('declares a type once for every metric it writes', () => {
    const names = new Set(
      text
        .split('\n')
        .filter((l) => l !== '' && !l.startsWith('#'))
        .map((l) => (/^[a-z_]+/.exec(l)?.[0] ?? '').replace(/_(bucket|sum|count)$/, '')),
    );
    for (const name of names) expect(text).toContain(`# TYPE ${name} `);
  });
});
