import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { kctl, startProcess, waitFor } from '../../integration/harness.js';
import { startLab, type Lab } from '../../integration/ha-lab.js';

/**
 * The controller is killed while a long `kubeadm join` runs on cp-2 (a stand-in join behind a
 * 40 s sleep, as a real join can take a minute) and restarted at once. The resumed apply reaches
 * cp-2 while that join still runs; its new join command must not start a second kubeadm next to
 * the first (they would clash on the host and on their config file): it waits for the first to end,
 * then finds the node joined or joins it, and the apply finishes. (Here the first join fails when
 * it finally runs: the resumed apply minted new join material, which re-uploads the control-plane
 * certificates under a new key; the second join then runs and succeeds.)
 */
const JOIN_SECONDS = 40;

describe('controller restart while a long kubeadm join runs on a host', () => {
  let lab: Lab;
  beforeAll(async () => {
    lab = await startLab({ slowJoinOn: 'cp-2', slowJoinSeconds: JOIN_SECONDS });
  }, 300_000);
  afterAll(() => lab?.close());

  it('does not start a second kubeadm join on the host', { timeout: 400_000 }, async () => {
    const marker = join(lab.dir, 'slow-cp-2', 'join-started');
    const apply = startProcess(['controller/cli/kctl.ts', 'apply', '-f', lab.clusterFile, '-o', 'json'], {
      env: lab.env,
    });
    await waitFor('cp-2 join started', () => Promise.resolve(existsSync(marker)), 180_000, 20);
    const startedAt = Date.now();
    await lab.controller.proc.stop('SIGKILL');
    await apply.exited;
    await lab.controller.start();
    await waitFor('agents back', async () => (await lab.onlineCount()) === 5, 60_000);
    const second = startProcess(['controller/cli/kctl.ts', 'apply', '-f', lab.clusterFile, '-o', 'json'], {
      env: lab.env,
    });
    const resumedAt = Date.now();
    // the test only shows something when the resumed apply reaches cp-2 before the first join ends
    expect(resumedAt - startedAt).toBeLessThan(JOIN_SECONDS * 1000 - 10_000);
    const code = await second.exited;
    expect(code, second.output().slice(-3000)).toBe(0);
    expect(second.output()).toMatch(/"type":"apply-done".*"status":"succeeded"/);

    // never two kubeadm processes at once on cp-2: the agent's runs of the (slow) kubeadm do not overlap
    const runs = lab.agents[1]!.proc.output()
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map(
        (l) =>
          JSON.parse(l) as {
            msg: string;
            time: number;
            durationMs?: number;
            program?: string;
            exitCode?: number;
          },
      )
      .filter((l) => l.msg === 'program run' && l.program?.endsWith('/kubeadm') === true)
      .map((l) => ({ from: l.time - l.durationMs!, to: l.time, exitCode: l.exitCode }))
      .sort((a, b) => a.from - b.from);
    expect((await readFile(marker, 'utf8')).trim().split('\n').length).toBe(runs.length);
    for (let i = 1; i < runs.length; i++) {
      expect(runs[i]!.from, `kubeadm run ${i} started before run ${i - 1} ended`).toBeGreaterThanOrEqual(
        runs[i - 1]!.to - 5, // the log's millisecond clock and durationMs round separately
      );
    }
    // one successful join per joining host, cp-2 included
    const joins = (await lab.calls())
      .filter((c) => c.tool === 'kubeadm' && c.argv[0] === 'join' && c.exitCode === 0)
      .map((c) => c.node)
      .sort();
    expect(joins).toEqual(['cp-2', 'cp-3', 'w-1', 'w-2']);
    const plan = await kctl(['plan', '-f', lab.clusterFile], { env: lab.env });
    expect(plan.stdout).toContain('cluster ha: no changes.');
  });
});
