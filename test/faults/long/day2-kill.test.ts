import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { cleanup, kctl, startProcess, waitFor, type Proc } from '../../integration/harness.js';
import { startLab, type Call, type Lab } from '../../integration/ha-lab.js';
import { faultSeed, mulberry32 } from '../fault-kit.js';

/**
 * Day 2 under controller kill -9 (issue 11). A five-host cluster (3 control planes, 2 workers,
 * loopback agents, kubeadm/kubelet/kubectl STAND-INS) is upgraded by editing kubernetesVersion;
 * the controller is killed at a seeded random point of the upgrade, restarted, and `kctl apply`
 * run again, TRIALS times from the same converged snapshot. Each trial: the apply resumes to done;
 * no host is upgraded twice (one `kubeadm upgrade apply`, one `kubeadm upgrade node` per other
 * host, one kubelet restart per host); no node is left cordoned; the next plan is empty.
 * Then `kctl node remove` and `kctl reset`, each killed mid-way, resume to the end, and no host
 * is drained or reset twice.
 */
const TRIALS = Number(process.env.KCTL_FAULT_TRIALS_UPGRADE ?? 5);
const seed = faultSeed();
const FROM = 'v1.31.2';
const TO = 'v1.32.1';

interface Event {
  type: string;
  applyId?: string;
  resumed?: boolean;
  taskId?: string;
  status?: string;
  phases?: { id: string; tasks: number }[];
}

const parseEvents = (stdout: string): Event[] =>
  stdout
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Event)
    .filter((e) => e.type !== 'task-progress');

interface NodeRecord {
  name: string;
  unschedulable?: boolean;
}

describe(`controller kill -9 during day-2 plans (${TRIALS} upgrade trials, seed ${seed})`, () => {
  let lab: Lab;
  const snapshots = new Map<string, string>();
  const reports: Array<Record<string, unknown>> = [];
  let spec = '';

  const setVersion = (v: string): Promise<void> =>
    writeFile(lab.clusterFile, spec.replace(`kubernetesVersion: ${FROM}`, `kubernetesVersion: ${v}`));

  const appliesSince = (since: number): Array<{ id: string; status: string }> => {
    const db = new Database(join(lab.controller.dataDir, 'state.db'), {
      readonly: true,
      fileMustExist: true,
    });
    try {
      return db
        .prepare('SELECT id, status FROM applies WHERE started_at >= ? ORDER BY started_at')
        .all(since) as Array<{ id: string; status: string }>;
    } finally {
      db.close();
    }
  };

  const nodes = async (): Promise<NodeRecord[]> =>
    (JSON.parse(await readFile(join(lab.clusterDir, 'state.json'), 'utf8')) as { nodes: NodeRecord[] }).nodes;

  /** Host roots and the stand-in cluster back to the converged v1.31.2 snapshot. */
  const restore = async (): Promise<void> => {
    for (const [live, copy] of snapshots) {
      for (const e of await readdir(live)) await rm(join(live, e), { recursive: true, force: true });
      await cp(copy, live, { recursive: true });
    }
  };

  /** Starts `args`, kills the controller after `killAfter` events (+ a few ms), restarts it, waits for the agents. */
  const killDuring = async (
    args: string[],
    pickKillPoint: (first: Event) => number,
    extraDelayMs: number,
  ): Promise<{ killAfter: number; total: number; last: string }> => {
    const run: Proc = startProcess(['controller/cli/kctl.ts', ...args, '-o', 'json'], {
      env: lab.env,
    });
    const first = await waitFor(
      `${args[0]}: apply-start`,
      () => Promise.resolve(parseEvents(run.output()).find((e) => e.type === 'apply-start')),
      180_000,
      5,
    );
    const total = 2 + (first.phases ?? []).reduce((n, p) => n + 2 + 2 * p.tasks, 0);
    const killAfter = pickKillPoint(first);
    await waitFor(
      `${args[0]}: ${killAfter} events`,
      () => Promise.resolve(parseEvents(run.output()).length >= killAfter || run.proc.exitCode !== null),
      300_000,
      5,
    );
    await new Promise((r) => setTimeout(r, extraDelayMs));
    await lab.controller.proc.stop('SIGKILL');
    await run.exited;
    const last = parseEvents(run.output()).at(-1);
    await lab.controller.start();
    await waitFor('agents back', async () => (await lab.onlineCount()) === lab.hosts.length, 90_000);
    return { killAfter, total, last: last ? `${last.type} ${last.taskId ?? ''}`.trim() : '(none)' };
  };

  beforeAll(async () => {
    console.log(`day-2 kill: seed ${seed} (replay: KCTL_FAULT_SEED=${seed} scripts/faults.sh)`);
    lab = await startLab();
    spec = await readFile(lab.clusterFile, 'utf8');
    const day1 = await kctl(['apply', '-f', lab.clusterFile], { env: lab.env });
    expect(day1.code, day1.stdout + day1.stderr).toBe(0);
    await lab.startKubelets();
    for (const path of [lab.clusterDir, ...lab.agents.map((a) => a.hostRoot)]) {
      const copy = `${path}.converged`;
      await cp(path, copy, { recursive: true });
      snapshots.set(path, copy);
    }
  }, 600_000);

  afterAll(async () => {
    console.table(reports);
    await lab?.close();
    await cleanup([...snapshots.values()]);
  });

  it('every killed upgrade resumes to done: no host upgraded twice, no node left cordoned, next plan empty', async () => {
    const rng = mulberry32(seed);
    for (let trial = 1; trial <= TRIALS; trial++) {
      const where = `trial ${trial} (seed ${seed})`;
      const started = Date.now();
      await restore();
      for (const a of lab.agents) await writeFile(join(a.hostRoot, 'etc/kctl-standin/version'), `${TO}\n`);
      await setVersion(TO);
      const before = (await lab.calls()).length;
      const u = rng.next();
      const kill = await killDuring(
        ['apply', '-f', lab.clusterFile],
        (first) => {
          const total = 2 + (first.phases ?? []).reduce((n, p) => n + 2 + 2 * p.tasks, 0);
          return 1 + Math.floor(u * (total - 3));
        },
        rng.int(0, 400),
      );
      const killed = appliesSince(started);
      expect(killed, where).toHaveLength(1);

      const again = await kctl(['apply', '-f', lab.clusterFile, '-o', 'json'], { env: lab.env });
      expect(again.code, `${where}: ${again.stderr}${again.stdout.slice(-3000)}`).toBe(0);
      const events = parseEvents(again.stdout);
      if (killed[0]!.status === 'succeeded')
        expect(events, where).toEqual([{ type: 'no-changes', cluster: 'ha' }]);
      else {
        expect(events[0], where).toMatchObject({
          type: 'apply-start',
          resumed: true,
          applyId: killed[0]!.id,
        });
        expect(events.at(-1), where).toMatchObject({ type: 'apply-done', status: 'succeeded' });
      }

      const calls = (await lab.calls()).slice(before);
      const count = (pred: (c: Call) => boolean): Record<string, number> => {
        const out: Record<string, number> = {};
        for (const c of calls.filter(pred)) out[c.node ?? '?'] = (out[c.node ?? '?'] ?? 0) + 1;
        return out;
      };
      expect(
        count((c) => c.tool === 'kubeadm' && c.argv[0] === 'upgrade' && c.argv[1] === 'apply'),
        where,
      ).toEqual({
        'cp-1': 1,
      });
      expect(
        count((c) => c.tool === 'kubeadm' && c.argv[0] === 'upgrade' && c.argv[1] === 'node'),
        where,
      ).toEqual({
        'cp-2': 1,
        'cp-3': 1,
        'w-1': 1,
        'w-2': 1,
      });
      expect(
        count((c) => c.tool === 'systemctl' && c.argv[0] === 'restart'),
        `${where}: one kubelet restart per host`,
      ).toEqual({ 'cp-1': 1, 'cp-2': 1, 'cp-3': 1, 'w-1': 1, 'w-2': 1 });
      expect(
        calls.filter((c) => c.exitCode !== 0),
        where,
      ).toEqual([]);
      expect(
        (await nodes()).filter((n) => n.unschedulable === true).map((n) => n.name),
        `${where}: cordoned`,
      ).toEqual([]);
      const plan = await kctl(['plan', '-f', lab.clusterFile], { env: lab.env });
      expect(plan.stdout, where).toContain('cluster ha: no changes.');
      reports.push({ trial, ...kill, killed: killed[0]!.status, ms: Date.now() - started });
      console.log(`trial ${trial}/${TRIALS}: ${JSON.stringify(reports.at(-1))}`);
    }
  });

  it('a node removal and a reset, each killed mid-way, resume to the end without repeating a drain or a reset', async () => {
    const rng = mulberry32(seed ^ 0x5eed);
    const before = (await lab.calls()).length;
    // remove w-2: kill once its task has started (drain, reset or delete in flight)
    const remove = await killDuring(
      ['node', 'remove', 'w-2', '-f', lab.clusterFile, '--yes'],
      (first) => (first.phases?.length ?? 0) + 3,
      rng.int(0, 300),
    );
    const resumed = await kctl(['node', 'remove', 'w-2', '-f', lab.clusterFile, '--yes', '-o', 'json'], {
      env: lab.env,
    });
    expect(resumed.code, resumed.stdout + resumed.stderr).toBe(0);
    const removeEvents = parseEvents(resumed.stdout);
    expect(removeEvents.at(-1)?.type === 'apply-done' || removeEvents[0]?.type === 'no-changes').toBe(true);
    expect((await nodes()).map((n) => n.name)).not.toContain('w-2');
    const afterRemove = (await lab.calls()).slice(before);
    const on = (node: string, pred: (c: Call) => boolean): number =>
      afterRemove.filter((c) => pred(c) && (c.node === node || c.argv.includes(node))).length;
    expect(
      on('w-2', (c) => c.tool === 'kubeadm' && c.argv[0] === 'reset'),
      'one reset of w-2',
    ).toBe(1);
    expect(
      on('w-2', (c) => c.tool === 'kubectl' && c.argv.includes('drain')),
      'one drain of w-2',
    ).toBe(1);

    // reset everything: kill after the first host's reset finished
    const mark = (await lab.calls()).length;
    const reset = await killDuring(['reset', '-f', lab.clusterFile, '--yes'], () => 4, rng.int(0, 300));
    const again = await kctl(['reset', '-f', lab.clusterFile, '--yes', '-o', 'json'], { env: lab.env });
    expect(again.code, again.stdout + again.stderr).toBe(0);
    const resets = (await lab.calls())
      .slice(mark)
      .filter((c) => c.tool === 'kubeadm' && c.argv[0] === 'reset')
      .map((c) => c.node);
    // w-2 left the cluster already: its reset cleans up only (kubeadm is not run on a non-member)
    expect(resets.sort()).toEqual(['cp-1', 'cp-2', 'cp-3', 'w-1']);
    expect(await nodes()).toEqual([]);
    reports.push({ trial: 'remove', ...remove }, { trial: 'reset', ...reset });
  });
});
