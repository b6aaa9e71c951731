import { describe, expect, it } from 'vitest';
import { ApplyProgress, progressBar } from './progress.js';

describe('apply progress', () => {
  it.each([
    [0, 4, '[....................]'],
    [2, 4, '[##########..........]'],
    [4, 4, '[####################]'],
    [0, 0, '[####################]'],
  ])('draws %i of %i as %s', (done, total, bar) => {
    expect(progressBar(done, total)).toBe(bar);
  });

  it('shows each phase with its bar, the hosts at work, and keeps failures above the bars', () => {
    let out = '';
    const p = new ApplyProgress((t) => (out += t));
    p.handle({
      type: 'apply-start',
      applyId: 'a',
      resumed: false,
      phases: [{ id: 'workers', title: 'Join workers', tasks: 2 }],
    });
    p.handle({
      type: 'task-start',
      phase: 'workers',
      taskId: 'workers/w-1',
      host: 'w-1',
      title: 'kubeadm join',
      attempt: 1,
    });
    expect(out).toMatch(/Join workers\s+\[\.{20}\] 0\/2\s+w-1: kubeadm join/);
    p.handle({ type: 'task-done', phase: 'workers', taskId: 'workers/w-1', host: 'w-1', durationMs: 10 });
    p.handle({
      type: 'task-failed',
      phase: 'workers',
      taskId: 'workers/w-2',
      host: 'w-2',
      willRetry: false,
      error: { code: 'step_failed', message: 'token expired', retryable: false },
    });
    expect(out).toContain('FAILED w-2 (workers): token expired');
    expect(out).toMatch(/1\/2 1 failed/);
    // redraws move the cursor up over the old bars instead of scrolling
    expect(out).toContain('\x1b[1F\x1b[J');
  });
});
