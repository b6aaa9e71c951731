import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startProcess, waitFor } from '../integration/harness.js';
import { kctl } from '../integration/harness.js';
import { startLab, type Lab } from '../integration/ha-lab.js';

/**
 * The controller is killed with SIGKILL in the middle of an apply (after the first control plane
 * initialised, while control planes join). After a restart the agents reconnect, the next apply
 * resumes the journalled apply, and no completed step runs again: one init, one join per node.
 */
describe('controller kill -9 during an apply', () => {
  let lab: Lab;
  beforeAll(async () => {
    lab = await startLab();
  }, 120_000);
  afterAll(() => lab.close());

  it('resumes to done without re-running a completed step', { timeout: 240_000 }, async () => {
    const apply = startProcess(['controller/cli/kctl.ts', 'apply', '-f', lab.clusterFile, '-o', 'json'], {
      env: lab.env,
    });
    await waitFor(
      'the first control plane initialised',
      async () =>
        (await lab.calls()).some(
          (c) => c.tool === 'kubeadm' && c.argv[0] === 'init' && c.argv[1] !== 'phase' && c.exitCode === 0,
        ),
      120_000,
      50,
    );
    await lab.controller.proc.stop('SIGKILL');
    await apply.exited;
    await lab.controller.start();
    await waitFor('agents back', async () => (await lab.onlineCount()) === 5, 30_000);

    const second = await kctl(['apply', '-f', lab.clusterFile, '-o', 'json'], { env: lab.env });
    expect(second.code, second.stdout.slice(-2000)).toBe(0);
    const events = second.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { type: string; resumed?: boolean; taskId?: string });
    expect(events[0]).toMatchObject({ type: 'apply-start', resumed: true });
    const skipped = events.filter((e) => e.type === 'task-skipped').map((e) => e.taskId);
    // init may have finished on the host before the controller recorded it: then its task runs again and finds the node initialised
    expect(skipped.filter((id) => id?.startsWith('prepare/'))).toHaveLength(5);

    const calls = await lab.calls();
    const inits = calls.filter((c) => c.tool === 'kubeadm' && c.argv[0] === 'init' && c.argv[1] !== 'phase');
    expect(inits).toHaveLength(1);
    const joins = calls
      .filter((c) => c.tool === 'kubeadm' && c.argv[0] === 'join' && c.exitCode === 0)
      .map((c) => c.node)
      .sort();
    expect(joins).toEqual(['cp-2', 'cp-3', 'w-1', 'w-2']);
    const plan = await kctl(['plan', '-f', lab.clusterFile], { env: lab.env });
    expect(plan.stdout).toContain('cluster ha: no changes.');
  });
});
