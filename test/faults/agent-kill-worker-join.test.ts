import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import { mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parse as parseYaml, stringify as toYaml } from 'yaml';
import { cleanup, kctl, startProcess, tempDir, waitFor } from '../integration/harness.js';
import { labHosts, startLab, type Lab } from '../integration/ha-lab.js';

/**
 * The worker path of "a killed agent must not kill its kubeadm" (issue 12, finding 10), on a lab
 * of one control plane and three workers running the kubeadm STAND-IN, in one apply:
 *
 * - w-1: the agent is killed with SIGKILL while its `kubeadm join` runs (the stand-in join behind
 *   a 25 s sleep) and restarted at once. Before, the orphan died of EPIPE at its first write to the
 *   dead agent's pipe, after it had written /etc/kubernetes/pki/ca.crt, and every later join on
 *   the host failed kubeadm's FileAvailable--etc-kubernetes-pki-ca.crt check. Now the orphan runs
 *   detached, finishes the join, and the restarted agent waits for it and finds the node joined.
 * - w-2: the agent is killed by the join itself, the instant it starts (before, the lock file was
 *   written only after the spawn, so a kill this early left none and the restarted agent started a
 *   second join beside the first). Now the lock names the run before the spawn: one join only.
 * - w-3: a join killed midway earlier left ca.crt and bootstrap-kubelet.conf (and no kubelet.conf);
 *   the join op resets the host with `kubeadm reset -f` and joins.
 */
const SLOW_JOIN_SECONDS = 25;

interface RunInterval {
  pid: string;
  from: number;
  to: number;
}

/** "start|end <pid> <ns>" lines of a join wrapper, as intervals in ms (an unfinished run ends at +Infinity). */
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

/**
 * A kubeadm wrapper for one host: a join appends "start/end <pid> <ns>" to <dir>/join-runs, kills
 * the pid in <dir>/agent-pid when <dir>/kill-armed exists (once), sleeps <dir>/sleep seconds, then
 * runs the stand-in; anything else is the stand-in itself.
 */
function joinWrapper(dir: string, bin: string): string {
  return [
    '#!/bin/sh',
    'if [ "$1" = join ]; then',
    `  echo "start $$ $(/bin/date +%s%N)" >> "${dir}/join-runs"`,
    `  if [ -e "${dir}/kill-armed" ]; then /bin/rm -f "${dir}/kill-armed"; kill -9 "$(/bin/cat "${dir}/agent-pid")"; fi`,
    `  /bin/sleep "$(/bin/cat "${dir}/sleep")"`,
    `  "${bin}/kubeadm" "$@"; rc=$?`,
    `  echo "end $$ $(/bin/date +%s%N)" >> "${dir}/join-runs"; exit $rc`,
    'fi',
    `exec "${bin}/kubeadm" "$@"`,
    '',
  ].join('\n');
}

interface CallLine {
  tool: string;
  argv: string[];
  hostRoot: string;
  exitCode: number;
}

describe('agent kill -9 during a worker join', () => {
  let lab: Lab;
  let dir: string;
  const wrapperDir = (host: string): string => join(dir, `join-${host}`);

  beforeAll(async () => {
    dir = await tempDir('worker-join');
    lab = await startLab({ hosts: labHosts(1, 3) });
    // each worker gets a join wrapper first on its PATH (agent.yaml programPath), then restarts
    for (const [i, seconds] of [
      [1, SLOW_JOIN_SECONDS],
      [2, 3],
      [3, 0],
    ] as const) {
      const agent = lab.agents[i]!;
      const d = wrapperDir(agent.name);
      await mkdir(d, { recursive: true });
      await writeFile(join(d, 'sleep'), `${seconds}\n`);
      await writeFile(join(d, 'join-runs'), '');
      const config = parseYaml(await readFile(agent.configFile, 'utf8')) as { programPath: string[] };
      const standins = config.programPath.find((p) => existsSync(join(p, 'kubeadm')))!;
      await writeFile(join(d, 'kubeadm'), joinWrapper(d, standins), { mode: 0o755 });
      config.programPath = [d, ...config.programPath];
      await writeFile(agent.configFile, toYaml(config));
      await agent.proc.stop();
      agent.start();
    }
    await waitFor('agents back online', async () => (await lab.onlineCount()) === 4, 60_000);
    // w-2's join kills its agent as it starts
    const w2 = lab.agents[2]!;
    await writeFile(join(wrapperDir('w-2'), 'agent-pid'), `${w2.proc.proc.pid}\n`);
    await writeFile(join(wrapperDir('w-2'), 'kill-armed'), '');
    // what an earlier join killed midway left on w-3 (the stand-in's worker join writes ca.crt first)
    const w3 = lab.agents[3]!;
    await mkdir(join(w3.hostRoot, 'etc/kubernetes/pki'), { recursive: true });
    await writeFile(join(w3.hostRoot, 'etc/kubernetes/pki/ca.crt'), '-----BEGIN CERTIFICATE-----\nold\n');
    await writeFile(join(w3.hostRoot, 'etc/kubernetes/bootstrap-kubelet.conf'), 'apiVersion: v1\n');
  }, 240_000);
  afterAll(async () => {
    await lab?.close();
    if (dir) await cleanup([dir]);
  });

  it(
    'the orphan finishes its join, no second join starts, leftovers are reset',
    { timeout: 300_000 },
    async () => {
      const [, w1, w2, w3] = lab.agents;
      const apply = startProcess(['controller/cli/kctl.ts', 'apply', '-f', lab.clusterFile, '-o', 'json'], {
        env: lab.env,
      });

      // w-2: killed by its join at the join's start; restarted once it is dead
      const w2Killed = w2!.proc.exited.then(() => w2!.start());

      // w-1: killed while the join sleeps, restarted at once
      const joinStarted = waitFor(
        'w-1 join started',
        async () => (await readFile(join(wrapperDir('w-1'), 'join-runs'), 'utf8')).includes('start'),
        180_000,
        20,
      );
      // an apply that ends before w-1's join starts would leave the wait above to time out mutely
      const early = await Promise.race([
        joinStarted.then(() => undefined),
        apply.exited.then((code) => ({ code })),
      ]);
      expect(
        early,
        [apply.output(), ...lab.agents.map((a) => `${a.name}: ${a.proc.output().slice(-1500)}`)].join('\n'),
      ).toBeUndefined();
      await w1!.proc.stop('SIGKILL');
      w1!.start();
      await w2Killed;
      await waitFor('all agents back online', async () => (await lab.onlineCount()) === 4, 60_000);

      expect(await apply.exited, apply.output().slice(-3000)).toBe(0);
      expect(apply.output()).toMatch(/"type":"apply-done".*"status":"succeeded"/);

      // w-1: the restarted agent got the re-sent join while the orphan ran, and waited for it
      const w1Runs = runIntervals(await readFile(join(wrapperDir('w-1'), 'join-runs'), 'utf8'));
      expect(w1Runs).toHaveLength(1);
      const w1Log = w1!.proc
        .output()
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as { msg: string; time: number; op?: string });
      const resent = w1Log.find((l) => l.msg === 'command started' && l.op === 'kubeadm.join');
      expect(resent, 'the restarted w-1 agent ran the re-sent join').toBeDefined();
      expect(resent!.time).toBeLessThan(w1Runs[0]!.to);
      expect(w1Log.some((l) => l.msg === 'waiting for kubeadm started before the agent restarted')).toBe(
        true,
      );

      // w-2: exactly one join ran, though its agent died at its start
      const w2Runs = runIntervals(await readFile(join(wrapperDir('w-2'), 'join-runs'), 'utf8'));
      expect(w2Runs, 'a second kubeadm join started on w-2').toHaveLength(1);
      expect(w2Runs[0]!.to).toBeLessThan(Number.POSITIVE_INFINITY);

      // every kubeadm the stand-ins ran, by host
      const calls = (await readFile(join(lab.clusterDir, 'calls.jsonl'), 'utf8'))
        .split('\n')
        .filter((l) => l !== '')
        .map((l) => JSON.parse(l) as CallLine)
        .filter((c) => c.tool === 'kubeadm' && (c.argv[0] === 'join' || c.argv[0] === 'reset'));
      const on = (agent: typeof w1): string[] =>
        calls.filter((c) => c.hostRoot === agent!.hostRoot).map((c) => `${c.argv[0]} ${c.exitCode}`);
      // the orphan's join is the only one on w-1 and w-2, and it succeeded
      expect(on(w1)).toEqual(['join 0']);
      expect(on(w2)).toEqual(['join 0']);
      // w-3: reset, then the join
      expect(on(w3)).toEqual(['reset 0', 'join 0']);
      expect(w3!.proc.output()).toContain('half-done join found; kubeadm reset before joining');
      expect(apply.output()).toMatch(
        /an earlier join did not finish \(left \/etc\/kubernetes\/pki\/ca\.crt, /,
      );

      for (const a of [w1, w2, w3]) {
        expect(existsSync(join(a!.hostRoot, 'etc/kubernetes/kubelet.conf')), a!.name).toBe(true);
        // nothing of the detached runs is left in the agent's state dir
        expect(await readdir(join(a!.stateDir, 'state', 'run')), a!.name).toEqual([]);
      }
      const plan = await kctl(['plan', '-f', lab.clusterFile], { env: lab.env });
      expect(plan.stdout).toContain('cluster ha: no changes.');
    },
  );
});
