import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { kctl, startProcess, waitFor } from '../integration/harness.js';
import { startLab, type Lab } from '../integration/ha-lab.js';

/**
 * The agent on cp-2 is killed with SIGKILL while its `kubeadm join` runs. The controller keeps the
 * command pending and re-sends it when the restarted agent reconnects; the journal says it was
 * running, so the op runs again, finds the node joined (kubelet.conf) and does not join twice.
 */
describe('agent kill -9 in the middle of a step', () => {
  let lab: Lab;
  beforeAll(async () => {
    lab = await startLab({ slowJoinOn: 'cp-2' });
  }, 120_000);
  afterAll(() => lab.close());

  it('retries the step idempotently and the host converges', { timeout: 240_000 }, async () => {
    const apply = startProcess(['controller/cli/kctl.ts', 'apply', '-f', lab.clusterFile, '-o', 'json'], {
      env: lab.env,
    });
    await waitFor(
      'cp-2 join started',
      () => Promise.resolve(existsSync(join(lab.dir, 'slow-cp-2', 'join-started'))),
      120_000,
      50,
    );
    const cp2 = lab.agents[1]!;
    await cp2.proc.stop('SIGKILL');
    // the orphaned kubeadm finishes on its own (as a real dpkg/kubeadm would under systemd's KillMode=process)
    await new Promise((r) => setTimeout(r, 5000));
    cp2.start();
    await waitFor('cp-2 back online', async () => (await lab.onlineCount()) === 5, 30_000);
    expect(await apply.exited, apply.output().slice(-2000)).toBe(0);
    expect(apply.output()).toMatch(/"type":"apply-done".*"status":"succeeded"/);
    expect(cp2.proc.output()).toMatch(/interrupted by an agent restart|node already joined/);

    const joins = (await lab.calls())
      .filter((c) => c.tool === 'kubeadm' && c.argv[0] === 'join' && c.exitCode === 0)
      .map((c) => c.node);
    expect(joins.filter((n) => n === 'cp-2')).toHaveLength(1);
    expect(joins.sort()).toEqual(['cp-2', 'cp-3', 'w-1', 'w-2']);
    const plan = await kctl(['plan', '-f', lab.clusterFile], { env: lab.env });
    expect(plan.stdout).toContain('cluster ha: no changes.');
  });
});
