import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { kctl, startProcess, waitFor } from '../integration/harness.js';
import { startLab, type Lab } from '../integration/ha-lab.js';

/**
 * The agent on cp-2 is killed with SIGKILL while its `kubeadm join` runs (a stand-in join behind a
 * 12 s sleep) and restarted at once, while that kubeadm still runs as an orphan (execa cleanup:
 * false, as under systemd's KillMode=process). The controller re-sends the join; the restarted
 * agent must not start a second kubeadm next to the orphan: the lock file the first agent wrote
 * (<state>/run/mutating.lock, run id, then PID + start time) makes it wait until the orphan ends, then the op
 * finds the node joined (or joins it) and the apply finishes.
 */
const JOIN_SECONDS = 12;

interface RunInterval {
  pid: string;
  from: number;
  to: number;
}

/** "start|end <pid> <ns>" lines of the slow stand-in wrapper, as intervals in ms (an unfinished run ends at +Infinity). */
function runIntervals(text: string): RunInterval[] {
  const runs = new Map<string, RunInterval>();
  for (const line of text.split('\n').filter((l) => l !== '')) {
    const [kind, pid, ns] = line.split(' ');
    const ms = Number(BigInt(ns!) / 1_000_000n);
    if (kind === 'start') runs.set(pid!, { pid: pid!, from: ms, to: Number.POSITIVE_INFINITY });
    else runs.get(pid!)!.to = ms;
  }
  return [...runs.values()].sort((a, b) => a.from - b.from);
}

describe('agent kill -9 while kubeadm runs, restarted at once', () => {
  let lab: Lab;
  beforeAll(async () => {
    lab = await startLab({ slowJoinOn: 'cp-2', slowJoinSeconds: JOIN_SECONDS });
  }, 180_000);
  afterAll(() => lab?.close());

  it('waits for the orphaned kubeadm and never runs two at once', { timeout: 300_000 }, async () => {
    const slow = join(lab.dir, 'slow-cp-2');
    const apply = startProcess(['controller/cli/kctl.ts', 'apply', '-f', lab.clusterFile, '-o', 'json'], {
      env: lab.env,
    });
    await waitFor(
      'cp-2 join started',
      () => Promise.resolve(existsSync(join(slow, 'join-started'))),
      180_000,
      20,
    );
    const cp2 = lab.agents[1]!;
    // the first agent recorded the running kubeadm before it dies
    await waitFor(
      'run lock written',
      () => Promise.resolve(existsSync(join(cp2.stateDir, 'state', 'run', 'mutating.lock'))),
      10_000,
      20,
    );
    await cp2.proc.stop('SIGKILL');
    cp2.start();
    await waitFor('cp-2 back online', async () => (await lab.onlineCount()) === 5, 60_000);
    expect(await apply.exited, apply.output().slice(-2000)).toBe(0);
    expect(apply.output()).toMatch(/"type":"apply-done".*"status":"succeeded"/);

    const runs = runIntervals(await readFile(join(slow, 'join-runs'), 'utf8'));
    const orphan = runs[0]!;
    expect(orphan.to).toBeLessThan(Number.POSITIVE_INFINITY);
    // the test only shows something when the re-sent join reached the restarted agent while the orphan ran
    const log = cp2.proc
      .output()
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as { msg: string; time: number; op?: string; pid?: number });
    const resent = log.find((l) => l.msg === 'command started' && l.op === 'kubeadm.join');
    expect(resent, 'the restarted agent ran the re-sent join').toBeDefined();
    expect(resent!.time).toBeLessThan(orphan.to);

    // never two kubeadm joins at once on cp-2
    for (let i = 1; i < runs.length; i++) {
      expect(runs[i]!.from, `kubeadm join ${i} started before join ${i - 1} ended`).toBeGreaterThanOrEqual(
        runs[i - 1]!.to,
      );
    }
    // and it did so because it waited for the orphan
    expect(log.some((l) => l.msg === 'waiting for kubeadm started before the agent restarted')).toBe(true);
    const joins = (await lab.calls())
      .filter((c) => c.tool === 'kubeadm' && c.argv[0] === 'join' && c.exitCode === 0)
      .map((c) => c.node);
    expect(joins.filter((n) => n === 'cp-2')).toHaveLength(1);
    expect(joins.sort()).toEqual(['cp-2', 'cp-3', 'w-1', 'w-2']);
    const plan = await kctl(['plan', '-f', lab.clusterFile], { env: lab.env });
    expect(plan.stdout).toContain('cluster ha: no changes.');
  });
});
