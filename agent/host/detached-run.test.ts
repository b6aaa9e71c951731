import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LocalHost } from './local-host.js';

const REPO = join(import.meta.dirname, '..', '..');
const until = async (what: string, cond: () => Promise<boolean> | boolean, ms = 20_000): Promise<void> => {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
};

describe('detached runs', () => {
  let dir: string;
  let bin: string;
  let runDir: string;
  let host: LocalHost;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kctl-detached-'));
    bin = join(dir, 'bin');
    runDir = join(dir, 'run');
    await mkdir(bin);
    await mkdir(runDir, { mode: 0o700 });
    // sleeps $1 s, then prints $3 lines to stdout and stderr (about 60 bytes each), creates $2, exits $4
    await writeFile(
      join(bin, 'chatty'),
      [
        '#!/bin/sh',
        '/bin/sleep "$1"',
        'i=0',
        'while [ $i -lt "$3" ]; do',
        '  echo "line $i of the output a kubeadm run with -v5 would print here"',
        '  echo "err $i" >&2',
        '  i=$((i+1))',
        'done',
        ': > "$2"',
        'exit "${4:-0}"',
        '',
      ].join('\n'),
      { mode: 0o755 },
    );
    host = new LocalHost({ root: join(dir, 'root'), programPath: [bin, '/usr/bin', '/bin'] });
  });
  afterEach(() => rm(dir, { recursive: true, force: true }));

  it('returns the exit code and both outputs, and leaves no file behind', async () => {
    const pids: number[] = [];
    const onSpawn = (pid: number): Promise<void> => {
      pids.push(pid);
      return Promise.resolve();
    };
    const done = join(dir, 'done');
    const r = await host.runDetached('chatty', ['0', done, '3'], { dir: runDir, id: 'kubeadm-a', onSpawn });
    expect(r.exitCode).toBe(0);
    expect(r.stdout.split('\n').filter((l) => l !== '')).toHaveLength(3);
    expect(r.stderr).toBe('err 0\nerr 1\nerr 2\n');
    expect(pids).toHaveLength(1);
    expect(existsSync(done)).toBe(true);
    expect(await readdir(runDir)).toEqual([]);
  });

  it('fails with the exit code and the scrubbed output tail, or returns it with allowFailure', async () => {
    await writeFile(
      join(bin, 'failing'),
      '#!/bin/sh\necho "error: --token abcdef.0123456789abcdef bad" >&2\nexit 7\n',
      {
        mode: 0o755,
      },
    );
    const failed = host.runDetached('failing', ['--token', 'abcdef.0123456789abcdef'], {
      dir: runDir,
      id: 'x-1',
    });
    await expect(failed).rejects.toMatchObject({ code: 'program_failed', details: { exitCode: 7 } });
    const message = await failed.catch((e: Error) => e.message);
    expect(message).toContain('exited with 7');
    expect(message).not.toContain('0123456789abcdef');
    const allowed = await host.runDetached('failing', [], { dir: runDir, id: 'x-2', allowFailure: true });
    expect(allowed.exitCode).toBe(7);
    expect(await readdir(runDir)).toEqual([]);
  });

  it('kills the whole process group at the timeout', async () => {
    const done = join(dir, 'done');
    const started = Date.now();
    await expect(
      host.runDetached('chatty', ['3', done, '1'], { dir: runDir, id: 'slow', timeoutMs: 300 }),
    ).rejects.toMatchObject({ code: 'timeout', retryable: true });
    expect(Date.now() - started).toBeLessThan(2500);
    await new Promise((r) => setTimeout(r, 3500));
    expect(existsSync(done)).toBe(false); // the sleeping program died with its wrapper
  });

  it('refuses odd ids and relative directories', async () => {
    await expect(host.runDetached('chatty', [], { dir: runDir, id: '../x' })).rejects.toMatchObject({
      code: 'invalid_args',
    });
    await expect(host.runDetached('chatty', [], { dir: 'run', id: 'a' })).rejects.toMatchObject({
      code: 'invalid_args',
    });
  });

  it('reports a run nobody started as absent', async () => {
    expect(await host.findDetachedRun(runDir, 'kubeadm-never')).toEqual({ state: 'absent' });
  });

  /** Starts test/faults/detached-run-child.ts (an "agent") and returns it once the program runs. */
  async function agentWithRun(mode: 'detached' | 'piped', id: string, args: string[]) {
    const agent = spawn(
      process.execPath,
      ['--import', 'tsx', 'test/faults/detached-run-child.ts', mode, bin, runDir, id, 'chatty', ...args],
      { cwd: REPO, stdio: ['ignore', 'pipe', 'inherit'] },
    );
    let out = '';
    agent.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise((r) => agent.once('exit', r));
    await until('the program to start', () => /spawned \d+/.test(out));
    const pid = Number(/spawned (\d+)/.exec(out)![1]);
    return { agent, exited, pid };
  }

  it(
    'outlives a killed agent while it writes lots of output, and a later agent finds how it ended',
    { timeout: 60_000 },
    async () => {
      const done = join(dir, 'done');
      // 20,000 lines (~1.3 MB) on each stream, all written after the agent is dead
      const { agent, exited, pid } = await agentWithRun('detached', 'kubeadm-b', ['1', done, '20000', '0']);
      agent.kill('SIGKILL');
      await exited;
      // a successor knows only the directory and the id
      expect(await host.findDetachedRun(runDir, 'kubeadm-b')).toEqual({ state: 'running', pid });
      let state = await host.findDetachedRun(runDir, 'kubeadm-b');
      await until('the orphan to end', async () => {
        state = await host.findDetachedRun(runDir, 'kubeadm-b');
        return state.state !== 'running';
      });
      expect(state.state).toBe('ended');
      if (state.state !== 'ended') return;
      expect(state.exitCode).toBe(0);
      expect(state.stdout.split('\n').filter((l) => l !== '')).toHaveLength(20_000);
      expect(state.stderr.split('\n').filter((l) => l !== '')).toHaveLength(20_000);
      expect(existsSync(done)).toBe(true);
      expect(await readdir(runDir)).toEqual([]);
    },
  );

  it(
    'a program on the agent’s pipes dies at its first write after the agent (the old way)',
    { timeout: 60_000 },
    async () => {
      const done = join(dir, 'done');
      const { agent, exited, pid } = await agentWithRun('piped', 'unused', ['1', done, '20000', '0']);
      agent.kill('SIGKILL');
      await exited;
      await until('the piped program to end', async () => (await host.processStartTime(pid)) === undefined);
      expect(existsSync(done)).toBe(false);
    },
  );

  it('finds a run whose wrapper had no time to write its PID file (by /proc), and a killed one as ended', async () => {
    const done = join(dir, 'done');
    const { agent, exited, pid } = await agentWithRun('detached', 'kubeadm-c', ['30', done, '1', '0']);
    agent.kill('SIGKILL');
    await exited;
    await until('the PID file', () => existsSync(join(runDir, 'kubeadm-c.pid')));
    await rm(join(runDir, 'kubeadm-c.pid'));
    expect(await host.findDetachedRun(runDir, 'kubeadm-c')).toEqual({ state: 'running', pid });
    process.kill(-pid, 'SIGKILL');
    await until('the killed run to end', async () => (await host.processStartTime(pid)) === undefined);
    const state = await host.findDetachedRun(runDir, 'kubeadm-c');
    expect(state).toMatchObject({ state: 'ended', exitCode: undefined });
    expect(await readdir(runDir)).toEqual([]);
  });
});
